"""The coordinators' API of who and what a study reads: its cases, its members (readers,
coordinators, reference editors) and the readers' progress.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import acting_user
from cases import selectors as case_selectors
from readerstudy import selectors, services
from readerstudy.api.base import ReaderStudyApi
from readerstudy.models import ReaderStudy, StudyCase, StudyMembership


def study_case_out(study_case: StudyCase) -> dict[str, Any]:
    return {
        "id": str(study_case.pk),
        "order": study_case.order,
        "case": str(study_case.case_id),
        "label": study_case.case.label,
        "region": study_case.case.region,
    }


class CasesAddIn(serializers.Serializer[Any]):
    cases = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=1000)


class StudyCaseListApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_reference_study_for_user(user=request.user, study_id=study_id)
        cases = study.study_cases.select_related("case").order_by("order")
        return Response({"results": [study_case_out(sc) for sc in cases]})

    @extend_schema(request=CasesAddIn, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        data = CasesAddIn(data=request.data)
        data.is_valid(raise_exception=True)
        cases = [
            case_selectors.get_case_for_user(user=request.user, case_id=case_id)
            for case_id in data.validated_data["cases"]
        ]
        result = services.study_cases_add(actor=acting_user(request), study=study, cases=cases)
        return Response(
            {
                "added": [study_case_out(sc) for sc in result.added],
                "skipped": [{"label": label, "missing": why} for label, why in result.skipped],
                "message": result.message,
            }
        )


class StudyCaseDetailApi(ReaderStudyApi):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, study_id: str, study_case_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        study_case = selectors.get_study_case_for_user(
            user=request.user, study=study, study_case_id=study_case_id
        )
        services.study_case_remove(actor=acting_user(request), study_case=study_case)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberIn(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    # coordinator, reader or reference (checked by the service)
    role = serializers.CharField(max_length=20)


def _members_out(study: ReaderStudy) -> list[dict[str, Any]]:
    memberships = StudyMembership.objects.filter(study=study).select_related("user")
    return [
        {
            "username": m.user.get_username(),
            "name": m.user.get_full_name(),
            "role": m.role,
            "reader_index": m.reader_index,
        }
        for m in memberships.order_by("role", "user__username")
    ]


class MemberListApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        return Response({"results": _members_out(study)})

    @extend_schema(request=MemberIn, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        data = MemberIn(data=request.data)
        data.is_valid(raise_exception=True)
        user = selectors.get_member_user_for_user(
            user=request.user, study=study, username=data.validated_data["username"]
        )
        services.membership_add(
            actor=acting_user(request), study=study, user=user, role=data.validated_data["role"]
        )
        return Response({"results": _members_out(study)}, status=status.HTTP_201_CREATED)


class MemberDetailApi(ReaderStudyApi):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, study_id: str, role: str, username: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        user = selectors.get_member_user_for_user(user=request.user, study=study, username=username)
        services.membership_remove(actor=acting_user(request), study=study, user=user, role=role)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProgressApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        rows = selectors.study_progress(study=study)
        return Response({"results": [dataclasses.asdict(row) for row in rows]})
