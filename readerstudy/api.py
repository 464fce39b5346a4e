"""REST API of reader studies: coordinators (``/api/v1/reader-studies/``) and readers
(``/api/v1/reading/``).

Each view parses input with an input serializer, loads what it acts on through a ``selectors``
helper (404 for what the user may not see), calls one service and answers with plain data
built here. Reader responses are built field by field from what blinding allows: position in
the reader's own order, the questionnaire, the reader's own answers and blinded viewports;
never a case label, a patient, a series description, an original UID, a reference or another
reader's reading.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.permissions import can_manage_studies
from cases import selectors as case_selectors
from readerstudy import exports, imports, protocols, questions, selectors, services
from readerstudy.models import (
    Question,
    ReaderAssignment,
    ReaderStudy,
    Reading,
    ReadingStatus,
    ReferenceStandard,
    Session,
    SlotPlacement,
    StudyCase,
    StudyMembership,
)


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


class ReaderStudyApi(APIView):
    """Turns the study's rule errors into 400/403/409 answers with the service's message."""

    permission_classes = [IsAuthenticated]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, questions.AnswerError):
            return Response(
                {"detail": "Some answers are not valid; nothing was saved.", "errors": exc.errors},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if isinstance(exc, services.ReaderStudyError):
            body = {"detail": exc.message}
            body.update({key: _json_safe(value) for key, value in exc.details.items()})
            return Response(body, status=exc.status)
        return super().handle_exception(exc)


def _actor(request: Request) -> User:
    assert isinstance(request.user, User)  # IsAuthenticated admits only real users
    return request.user


# --- Reader side -----------------------------------------------------------------------------


def _question_out(question: Question) -> dict[str, Any]:
    spec = services.question_spec(question)
    return {
        "key": question.key,
        "type": question.type,
        "label": question.label,
        "help_text": question.help_text,
        "options": question.options,
        "required": question.required,
        "computed": question.type == questions.COMPUTED,
        "schema": questions.answer_schema(spec),
    }


def _reading_out(reading: Reading | None) -> dict[str, Any] | None:
    if reading is None:
        return None
    return {
        "id": str(reading.pk),
        "answers": reading.answers,
        "version": reading.version,
        "status": reading.status,
        "opened_at": _iso(reading.opened_at),
        "submitted_at": _iso(reading.submitted_at),
        "amendment_reason": reading.amendment_reason,
        "amends_earlier_reading": reading.supersedes_id is not None,
    }


def _state_out(assignment: ReaderAssignment, state: selectors.AssignmentState) -> dict[str, Any]:
    return {
        "id": str(assignment.pk),
        "study": assignment.session.study.reader_title,
        "session": assignment.session.name,
        "state": state.state,
        "message": state.message,
        "unlock_at": _iso(state.unlock_at),
        "total": state.total,
        "submitted": state.submitted,
        "next_position": state.next_position,
        "url": reverse("readerstudy:workstation", args=[assignment.pk]),
    }


def dicomweb_root(assignment: ReaderAssignment) -> str:
    return f"/reading/dicomweb/{assignment.pk}"


def viewer_config(assignment: ReaderAssignment, study_case: StudyCase) -> dict[str, Any]:
    """The viewer's mount options for one case: blinded UIDs and slot labels only."""
    protocol = assignment.protocol_session.hanging_protocol
    placements = SlotPlacement.objects.filter(assignment=assignment, study_case=study_case)
    viewports = [
        {
            "id": f"viewport-{placement.slot_index + 1}",
            "label": placement.slot,
            "studyUid": placement.blinded_study_uid,
            "seriesUid": placement.blinded_series_uid,
            "type": placement.viewport,
            "overlay": {
                "studyUid": placement.blinded_study_uid,
                "seriesUid": placement.blinded_overlay_series_uid,
            }
            if placement.blinded_overlay_series_uid
            else None,
            "windowPreset": placement.window,
        }
        for placement in placements.order_by("slot_index")
    ]
    return {
        "dicomwebRoot": dicomweb_root(assignment),
        "layout": protocol.get("layout", f"1x{len(viewports)}"),
        "syncSlices": bool(protocol.get("sync_slices", False)),
        "viewports": viewports,
    }


def case_payload(
    *,
    assignment: ReaderAssignment,
    study_case: StudyCase,
    reading: Reading | None,
    state: selectors.AssignmentState,
) -> dict[str, Any]:
    """Everything the workstation needs for one case, and nothing blinding hides."""
    study = assignment.session.study
    position = selectors.position_of(assignment, study_case.pk)
    total = len(assignment.case_order)
    editable = (
        reading is not None
        and reading.status == ReadingStatus.IN_PROGRESS
        and state.state == selectors.AVAILABLE
    )
    amendable = (
        reading is not None
        and reading.status == ReadingStatus.SUBMITTED
        and study.allow_amendments
        and study.status == "active"
    )
    page = reverse("readerstudy:workstation", args=[assignment.pk])
    urls: dict[str, str] = {"page": f"{page}cases/{position}/"}
    if reading is not None:
        base = f"/api/v1/reading/readings/{reading.pk}/"
        urls.update(save=base, submit=f"{base}submit/", heartbeat=f"{base}heartbeat/")
        if amendable:
            urls["amend"] = f"{base}amend/"
    return {
        "assignment": str(assignment.pk),
        "study": study.reader_title,
        "instructions": study.reader_instructions,
        "session": assignment.session.name,
        "position": position,
        "total": total,
        "title": f"Case {position} of {total}",
        "state": state.state,
        "editable": editable,
        "amendable": amendable,
        "reading": _reading_out(reading),
        "questions": [_question_out(q) for q in study.questions.order_by("order", "id")],
        "viewer": viewer_config(assignment, study_case),
        "previous": f"{page}cases/{position - 1}/" if position > 1 else None,
        "next": f"{page}cases/{position + 1}/"
        if position < total and position < state.next_position
        else None,
        "urls": urls,
    }


class MyAssignmentsApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT, operation_id="reading_assignments_list")
    def get(self, request: Request) -> Response:
        rows = []
        for assignment in selectors.assignments_for_user(user=request.user):
            rows.append(_state_out(assignment, selectors.assignment_state(assignment)))
        return Response({"results": rows})


class MyAssignmentApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, assignment_id: str) -> Response:
        assignment = selectors.get_assignment_for_user(
            user=request.user, assignment_id=assignment_id
        )
        state = selectors.assignment_state(assignment)
        statuses = dict(
            Reading.objects.filter(assignment=assignment, is_current=True).values_list(
                "study_case_id", "status"
            )
        )
        cases = [
            {"position": index, "status": statuses.get(uuid.UUID(case_id), "not_started")}
            for index, case_id in enumerate(assignment.case_order, start=1)
        ]
        return Response({**_state_out(assignment, state), "cases": cases})


class CaseOpenApi(ReaderStudyApi):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, assignment_id: str, position: int) -> Response:
        assignment = selectors.get_assignment_for_user(
            user=request.user, assignment_id=assignment_id
        )
        reading, study_case = services.reading_open(
            actor=_actor(request), assignment=assignment, position=position
        )
        assignment.refresh_from_db()
        state = selectors.assignment_state(assignment)
        return Response(
            case_payload(assignment=assignment, study_case=study_case, reading=reading, state=state)
        )


class AnswersIn(serializers.Serializer[Any]):
    answers = serializers.DictField(required=False, default=dict)
    version = serializers.IntegerField(min_value=1)


class AmendIn(AnswersIn):
    reason = serializers.CharField(max_length=2000, allow_blank=True)


def _reading_response(reading: Reading, code: int = status.HTTP_200_OK) -> Response:
    return Response(_reading_out(reading), status=code)


class ReadingApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, reading_id: str) -> Response:
        reading = selectors.get_reading_for_user(user=request.user, reading_id=reading_id)
        return _reading_response(reading)

    @extend_schema(request=AnswersIn, responses=OpenApiTypes.OBJECT)
    def put(self, request: Request, reading_id: str) -> Response:
        reading = selectors.get_reading_for_user(user=request.user, reading_id=reading_id)
        data = AnswersIn(data=request.data)
        data.is_valid(raise_exception=True)
        reading = services.reading_save(
            actor=_actor(request),
            reading=reading,
            answers=data.validated_data["answers"],
            version=data.validated_data["version"],
        )
        return _reading_response(reading)


class ReadingSubmitApi(ReaderStudyApi):
    @extend_schema(request=AnswersIn, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, reading_id: str) -> Response:
        reading = selectors.get_reading_for_user(user=request.user, reading_id=reading_id)
        data = AnswersIn(data=request.data)
        data.is_valid(raise_exception=True)
        reading = services.reading_submit(
            actor=_actor(request),
            reading=reading,
            answers=data.validated_data["answers"],
            version=data.validated_data["version"],
        )
        assignment = ReaderAssignment.objects.get(pk=reading.assignment_id)
        state = selectors.assignment_state(assignment)
        page = reverse("readerstudy:workstation", args=[assignment.pk])
        following = None
        if state.submitted < state.total:
            following = f"{page}cases/{state.next_position}/"
        return Response(
            {
                "reading": _reading_out(reading),
                "finished": assignment.finished_at is not None,
                "next": following,
                "home": reverse("readerstudy:home"),
            }
        )


class ReadingHeartbeatApi(ReaderStudyApi):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, reading_id: str) -> Response:
        reading = selectors.get_reading_for_user(user=request.user, reading_id=reading_id)
        services.reading_heartbeat(actor=_actor(request), reading=reading)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReadingAmendApi(ReaderStudyApi):
    @extend_schema(request=AmendIn, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, reading_id: str) -> Response:
        reading = selectors.get_reading_for_user(user=request.user, reading_id=reading_id)
        data = AmendIn(data=request.data)
        data.is_valid(raise_exception=True)
        amended = services.reading_amend(
            actor=_actor(request),
            reading=reading,
            answers=data.validated_data["answers"],
            version=data.validated_data["version"],
            reason=data.validated_data["reason"],
        )
        return _reading_response(amended, status.HTTP_201_CREATED)


# --- Coordinator side ------------------------------------------------------------------------


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
        "created_at": _iso(study.created_at),
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
    }


def _coordinator_question_out(question: Question) -> dict[str, Any]:
    return {**_question_out(question), "order": question.order, "formula": question.formula}


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
            actor=_actor(request),
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
            actor=_actor(request), study=study, changes=dict(data.validated_data)
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
            actor=_actor(request), study=study, status=data.validated_data["status"]
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


class QuestionUpdateIn(serializers.Serializer[Any]):
    label = serializers.CharField(max_length=300, required=False)  # type: ignore[assignment]
    help_text = serializers.CharField(required=False, allow_blank=True)  # type: ignore[assignment]
    options = serializers.DictField(required=False)
    required = serializers.BooleanField(required=False)  # type: ignore[assignment]
    formula = serializers.CharField(max_length=300, required=False, allow_blank=True)
    order = serializers.IntegerField(min_value=0, required=False)


class QuestionListApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        specs = services.study_specs(study)
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
            actor=_actor(request), study=study, **data.validated_data
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
            actor=_actor(request), question=question, changes=dict(data.validated_data)
        )
        return Response(_coordinator_question_out(question))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, study_id: str, key: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        question = selectors.get_question_for_user(user=request.user, study=study, key=key)
        services.question_delete(actor=_actor(request), question=question)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100)
    washout_days = serializers.IntegerField(min_value=0, max_value=3650, default=0)
    hanging_protocol = serializers.DictField()


class SessionUpdateIn(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=100, required=False)
    washout_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    hanging_protocol = serializers.DictField(required=False)
    status = serializers.CharField(required=False)


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
        session = services.session_create(actor=_actor(request), study=study, **data.validated_data)
        return Response(session_out(session), status=status.HTTP_201_CREATED)


class SessionDetailApi(ReaderStudyApi):
    @extend_schema(request=SessionUpdateIn, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, study_id: str, order: int) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        session = selectors.get_session_for_user(user=request.user, study=study, order=order)
        data = SessionUpdateIn(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        session = services.session_update(
            actor=_actor(request), session=session, changes=dict(data.validated_data)
        )
        return Response(session_out(session))


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
        result = services.study_cases_add(actor=_actor(request), study=study, cases=cases)
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
        services.study_case_remove(actor=_actor(request), study_case=study_case)
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
            actor=_actor(request), study=study, user=user, role=data.validated_data["role"]
        )
        return Response({"results": _members_out(study)}, status=status.HTTP_201_CREATED)


class MemberDetailApi(ReaderStudyApi):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, study_id: str, role: str, username: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        user = selectors.get_member_user_for_user(user=request.user, study=study, username=username)
        services.membership_remove(actor=_actor(request), study=study, user=user, role=role)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProgressApi(ReaderStudyApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        rows = selectors.study_progress(study=study)
        return Response({"results": [dataclasses.asdict(row) for row in rows]})


class StudyReadingsApi(ReaderStudyApi):
    """Every reading of the study (current and superseded), for coordinators and analysis."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        readings = (
            Reading.objects.filter(assignment__session__study=study)
            .select_related("assignment__reader", "assignment__session", "study_case__case")
            .order_by("assignment__session__order", "assignment__reader__username", "created_at")
        )
        placements: dict[tuple[Any, Any], dict[str, str]] = {}
        for p in SlotPlacement.objects.filter(assignment__session__study=study):
            placements.setdefault((p.assignment_id, p.study_case_id), {})[p.slot] = p.arm
        return Response(
            {
                "results": [
                    {
                        **(_reading_out(r) or {}),
                        "reader": r.assignment.reader.get_username(),
                        "session": r.assignment.session.order,
                        "case": r.study_case.case.label,
                        "study_case": str(r.study_case_id),
                        "position": selectors.position_of(r.assignment, r.study_case_id),
                        "is_current": r.is_current,
                        "supersedes": str(r.supersedes_id) if r.supersedes_id else None,
                        "active_seconds": r.active_seconds,
                        "slots": placements.get((r.assignment_id, r.study_case_id), {}),
                    }
                    for r in readings
                ]
            }
        )


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
        "updated_at": _iso(reference.updated_at),
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
            actor=_actor(request),
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
            actor=_actor(request),
            study_case=study_case,
            source=values["source"],
            values=values["values"],
            question=question,
            provenance=values["provenance"],
            version=values.get("version"),
        )
        return Response(reference_out(reference))


class ExportReadingsApi(ReaderStudyApi):
    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, study_id: str) -> StreamingHttpResponse:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        return exports.readings_csv_response(study=study)


class ReadingsImportIn(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="CSV in the long format of the readings export")
    dry_run = serializers.BooleanField(default=False, help_text="check only; store nothing")
    replace = serializers.BooleanField(
        default=False, help_text="supersede existing readings (kept) instead of refusing"
    )


class ImportReadingsApi(ReaderStudyApi):
    """Readings recorded outside the platform, as CSV (see ``readerstudy.imports``).

    200 with the counts (``stored`` false for a dry run); 400 with ``errors`` (line, column,
    message) and nothing stored when any row is wrong; 409 for a closed study; 413 above
    the size cap.
    """

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ReadingsImportIn},
        responses={
            200: OpenApiTypes.OBJECT,
            400: OpenApiTypes.OBJECT,
            409: OpenApiTypes.OBJECT,
            413: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request: Request, study_id: str) -> Response:
        study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
        data = ReadingsImportIn(data=request.data)
        data.is_valid(raise_exception=True)
        result = imports.readings_import_upload(
            actor=_actor(request),
            study=study,
            upload=data.validated_data["file"],
            replace=data.validated_data["replace"],
            dry_run=data.validated_data["dry_run"],
        )
        code = status.HTTP_200_OK if result.ok else status.HTTP_400_BAD_REQUEST
        return Response(result.as_dict(), status=code)
