"""The reference-standard API: reference rules (coordinators) and each case's reference
values (coordinators and reference editors).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import acting_user
from readerstudy import protocols, selectors, services
from readerstudy.api.base import ReaderStudyApi, iso_or_none
from readerstudy.api.enrolment import study_case_out
from readerstudy.models import Question, ReferenceStandard, Session


def reference_out(reference: ReferenceStandard) -> dict[str, Any]:
    return {
        "id": str(reference.pk),
        "source": reference.source,
        "session": reference.session.order if reference.session else None,
        "study_case": str(reference.study_case_id) if reference.study_case_id else None,
        "question": reference.question.key if reference.question else None,
        "reference_session": reference.reference_session.order
        if reference.reference_session
        else None,
        "reference_reader": reference.reference_reader.get_username()
        if reference.reference_reader
        else None,
        "values": reference.values,
        "provenance": reference.provenance,
        "entered_by": reference.entered_by.get_username() if reference.entered_by else None,
        "version": reference.version,
        "updated_at": iso_or_none(reference.updated_at),
    }


class ReferenceRuleIn(serializers.Serializer[Any]):
    source = serializers.CharField()  # type: ignore[assignment]
    session = serializers.IntegerField(required=False, allow_null=True)
    reference_session = serializers.IntegerField(required=False, allow_null=True)
    reference_reader = serializers.CharField(required=False, allow_blank=True)
    provenance = serializers.CharField(required=False, allow_blank=True, default="")


class ReferenceListApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_reference_study_for_user(user=request.user, study_id=study_id)
        references = ReferenceStandard.objects.filter(study=study).select_related(
            "session", "question", "reference_session", "reference_reader", "entered_by"
        )
        return Response(
            {
                "results": [reference_out(r) for r in references],
                "intraoperative_schema": protocols.INTRAOPERATIVE_SCHEMA
                if study.reference_form == "intraoperative"
                else None,
            }
        )

    @extend_schema(request=ReferenceRuleIn, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        data = ReferenceRuleIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data

        def session_of(order: int | None) -> Session | None:
            if order is None:
                return None
            return selectors.get_session_for_user(user=request.user, study=study, order=order)

        reader = None
        if values.get("reference_reader"):
            reader = selectors.get_member_user_for_user(
                user=request.user, study=study, username=values["reference_reader"]
            )
        rule = services.reference_rule_create(
            actor=acting_user(request),
            study=study,
            source=values["source"],
            session=session_of(values.get("session")),
            reference_session=session_of(values.get("reference_session")),
            reference_reader=reader,
            provenance=values["provenance"],
        )
        return Response(reference_out(rule), status=status.HTTP_201_CREATED)


class ReferenceIn(serializers.Serializer[Any]):
    source = serializers.CharField()  # type: ignore[assignment]
    question = serializers.CharField(required=False, allow_blank=True, default="")
    values = serializers.DictField()
    provenance = serializers.CharField(required=False, allow_blank=True, default="")
    version = serializers.IntegerField(required=False, min_value=1)


class CaseReferenceApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str, study_case_id: str) -> Response:
        study = selectors.get_reference_study_for_user(user=request.user, study_id=study_id)
        study_case = selectors.get_study_case_for_user(
            user=request.user, study=study, study_case_id=study_case_id
        )
        references = ReferenceStandard.objects.filter(study_case=study_case)
        return Response(
            {"case": study_case_out(study_case), "results": [reference_out(r) for r in references]}
        )

    @extend_schema(request=ReferenceIn, responses=OpenApiTypes.OBJECT)
    def put(self, request: Request, study_id: str, study_case_id: str) -> Response:
        study = selectors.get_reference_study_for_user(user=request.user, study_id=study_id)
        study_case = selectors.get_study_case_for_user(
            user=request.user, study=study, study_case_id=study_case_id
        )
        data = ReferenceIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        question = None
        if values["question"]:
            question = Question.objects.filter(study=study, key=values["question"]).first()
            if question is None:
                raise services.ReaderStudyError(f"no question {values['question']!r} in the study")
        reference = services.reference_set(
            actor=acting_user(request),
            study_case=study_case,
            source=values["source"],
            values=values["values"],
            question=question,
            provenance=values["provenance"],
            version=values.get("version"),
        )
        return Response(reference_out(reference))
