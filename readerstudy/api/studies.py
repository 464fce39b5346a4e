"""The coordinators' API of a study's design (``/api/v1/reader-studies/``): protocol
templates, studies and their status, questions and sessions.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import acting_user, can_manage_studies
from readerstudy import protocols, questions, selectors, services
from readerstudy.api.base import ReaderStudyApi, iso_or_none
from readerstudy.api.reading import question_out
from readerstudy.models import Question, ReaderStudy, Session


def study_out(study: ReaderStudy) -> dict[str, Any]:
    return {
        "id": str(study.pk),
        "title": study.title,
        "description": study.description,
        "reader_title": study.reader_title,
        "reader_instructions": study.reader_instructions,
        "protocol": study.protocol,
        "status": study.status,
        "case_order_design": study.case_order_design,
        "crossover": study.crossover,
        "allow_amendments": study.allow_amendments,
        "reference_form": study.reference_form,
        "translations": study.translations,
        "created_at": iso_or_none(study.created_at),
        "frozen": selectors.study_has_readings(study),
        "url": reverse("readerstudy:study", args=[study.pk]),
    }


def session_out(session: Session) -> dict[str, Any]:
    return {
        "order": session.order,
        "name": session.name,
        "washout_days": session.washout_days,
        "hanging_protocol": session.hanging_protocol,
        "status": session.status,
        "translations": session.translations,
    }


def _coordinator_question_out(question: Question) -> dict[str, Any]:
    """The question as written (main texts and their translations), not in one language."""
    return {
        **question_out(question),
        "label": question.label,
        "help_text": question.help_text,
        "options": question.options,
        "translations": question.translations,
        "order": question.order,
        "formula": question.formula,
    }


class ProtocolsApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        if not can_manage_studies(request.user):
            raise PermissionDenied("Only coordinators create studies.")
        return Response(
            {
                "results": [
                    {
                        "key": t.key,
                        "title": t.title,
                        "description": t.description,
                        "sessions": [s.name for s in t.sessions],
                        "questions": [q.key for q in t.questions],
                    }
                    for t in protocols.TEMPLATES.values()
                ]
            }
        )


class StudyCreateIn(serializers.Serializer[Any]):
    protocol = serializers.ChoiceField(choices=list(protocols.TEMPLATES))
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    washout_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)


class StudyListApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="reader_studies_list")
    def get(self, request: Request) -> Response:
        # Reader memberships are left out: a study's title may name what readers must not know.
        studies = [
            study
            for study in selectors.studies_for_user(user=request.user)
            if selectors.can_enter_references(user=request.user, study=study)
        ]
        return Response({"results": [study_out(study) for study in studies]})

    @extend_schema(request=StudyCreateIn, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        if not can_manage_studies(request.user):
            raise PermissionDenied("Only coordinators create studies.")
        data = StudyCreateIn(data=request.data)
        data.is_valid(raise_exception=True)
        study = services.study_create_from_template(
            actor=acting_user(request),
            protocol=data.validated_data["protocol"],
            title=data.validated_data["title"],
            washout_days=data.validated_data.get("washout_days"),
        )
        return Response(study_out(study), status=status.HTTP_201_CREATED)


class StudyUpdateIn(serializers.Serializer[Any]):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    reader_title = serializers.CharField(max_length=200, required=False)
    reader_instructions = serializers.CharField(required=False, allow_blank=True)
    allow_amendments = serializers.BooleanField(required=False)
    case_order_design = serializers.CharField(required=False)
    crossover = serializers.BooleanField(required=False)
    translations = serializers.DictField(
        required=False,
        help_text='Reader-facing texts in other languages, e.g. {"ja": {"label": "..."}}',
    )


class StudyDetailApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        return Response(
            {
                **study_out(study),
                "sessions": [session_out(s) for s in study.sessions.order_by("order")],
                "questions": [
                    _coordinator_question_out(q) for q in study.questions.order_by("order", "id")
                ],
            }
        )

    @extend_schema(request=StudyUpdateIn, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        data = StudyUpdateIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        study = services.study_update(
            actor=acting_user(request), study=study, changes=dict(data.validated_data)
        )
        return Response(study_out(study))


class StatusIn(serializers.Serializer[Any]):
    status = serializers.CharField()


class StudyStatusApi(ReaderStudyApi):
    @extend_schema(request=StatusIn, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        data = StatusIn(data=request.data)
        data.is_valid(raise_exception=True)
        study = services.study_status_set(
            actor=acting_user(request), study=study, status=data.validated_data["status"]
        )
        return Response(study_out(study))


# Field names follow the API (label, help_text, required, source); DRF's Field base class has
# attributes of those names, which mypy sees as a clash.
class QuestionIn(serializers.Serializer[Any]):
    key = serializers.CharField(max_length=50)
    type = serializers.ChoiceField(choices=list(questions.TYPES))
    label = serializers.CharField(max_length=300)  # type: ignore[assignment]
    help_text = serializers.CharField(required=False, allow_blank=True, default="")  # type: ignore[assignment]
    options = serializers.DictField(required=False, default=dict)
    required = serializers.BooleanField(required=False, default=True)  # type: ignore[assignment]
    formula = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    order = serializers.IntegerField(min_value=0, required=False)
    translations = serializers.DictField(
        required=False,
        help_text='Reader-facing texts in other languages, e.g. {"ja": {"label": "..."}}',
    )


class QuestionUpdateIn(serializers.Serializer[Any]):
    label = serializers.CharField(max_length=300, required=False)  # type: ignore[assignment]
    help_text = serializers.CharField(required=False, allow_blank=True)  # type: ignore[assignment]
    options = serializers.DictField(required=False)
    required = serializers.BooleanField(required=False)  # type: ignore[assignment]
    formula = serializers.CharField(max_length=300, required=False, allow_blank=True)
    order = serializers.IntegerField(min_value=0, required=False)
    translations = serializers.DictField(
        required=False,
        help_text='Reader-facing texts in other languages, e.g. {"ja": {"label": "..."}}',
    )


class QuestionListApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        specs = selectors.study_specs(study)
        return Response(
            {
                "results": [
                    _coordinator_question_out(q) for q in study.questions.order_by("order", "id")
                ],
                "schema": questions.questionnaire_schema(specs),
            }
        )

    @extend_schema(request=QuestionIn, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        data = QuestionIn(data=request.data)
        data.is_valid(raise_exception=True)
        question = services.question_create(
            actor=acting_user(request), study=study, **data.validated_data
        )
        return Response(_coordinator_question_out(question), status=status.HTTP_201_CREATED)


class QuestionDetailApi(ReaderStudyApi):
    @extend_schema(request=QuestionUpdateIn, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, study_id: str, key: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        question = selectors.get_question_for_user(user=request.user, study=study, key=key)
        data = QuestionUpdateIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        question = services.question_update(
            actor=acting_user(request), question=question, changes=dict(data.validated_data)
        )
        return Response(_coordinator_question_out(question))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, study_id: str, key: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        question = selectors.get_question_for_user(user=request.user, study=study, key=key)
        services.question_delete(actor=acting_user(request), question=question)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    washout_days = serializers.IntegerField(min_value=0, max_value=3650, default=0)
    hanging_protocol = serializers.DictField()
    translations = serializers.DictField(
        required=False,
        help_text='Reader-facing texts in other languages, e.g. {"ja": {"name": "..."}}',
    )


class SessionUpdateIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100, required=False)
    washout_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    hanging_protocol = serializers.DictField(required=False)
    status = serializers.CharField(required=False)
    translations = serializers.DictField(
        required=False,
        help_text='Reader-facing texts in other languages, e.g. {"ja": {"name": "..."}}',
    )


class SessionListApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        return Response({"results": [session_out(s) for s in study.sessions.order_by("order")]})

    @extend_schema(request=SessionIn, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        data = SessionIn(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_create(
            actor=acting_user(request), study=study, **data.validated_data
        )
        return Response(session_out(session), status=status.HTTP_201_CREATED)


class SessionDetailApi(ReaderStudyApi):
    @extend_schema(request=SessionUpdateIn, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, study_id: str, order: int) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        session = selectors.get_session_for_user(user=request.user, study=study, order=order)
        data = SessionUpdateIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        session = services.session_update(
            actor=acting_user(request), session=session, changes=dict(data.validated_data)
        )
        return Response(session_out(session))
