"""The reading API (``/api/v1/reading/``): a reader's assignments, opening a case, and
saving, submitting, amending and keeping alive a reading.

Responses are built field by field from what blinding allows: position in the reader's own
order, the questionnaire, the reader's own answers and blinded viewports; never a case
label, a patient, a series description, an original UID, a reference or another reader's
reading.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import acting_user
from readerstudy import questions, selectors, services, texts
from readerstudy.api.base import ReaderStudyApi, iso_or_none
from readerstudy.models import (
    Question,
    ReaderAssignment,
    Reading,
    ReadingStatus,
    SlotPlacement,
    StudyCase,
)


def question_out(question: Question) -> dict[str, Any]:
    spec = selectors.question_spec(question)
    return {
        "key": question.key,
        "type": question.type,
        "label": texts.localized(question, "label"),
        "help_text": texts.localized(question, "help_text"),
        "options": texts.localized_options(question),
        "required": question.required,
        "computed": question.type == questions.COMPUTED,
        "schema": questions.answer_schema(spec),
    }


def reading_out(reading: Reading | None) -> dict[str, Any] | None:
    if reading is None:
        return None
    return {
        "id": str(reading.pk),
        "answers": reading.answers,
        "version": reading.version,
        "status": reading.status,
        "opened_at": iso_or_none(reading.opened_at),
        "submitted_at": iso_or_none(reading.submitted_at),
        "amendment_reason": reading.amendment_reason,
        "amends_earlier_reading": reading.supersedes_id is not None,
    }


def _state_out(assignment: ReaderAssignment, state: selectors.AssignmentState) -> dict[str, Any]:
    return {
        "id": str(assignment.pk),
        "study": texts.localized(assignment.session.study, "reader_title"),
        "session": texts.localized(assignment.session, "name"),
        "state": state.state,
        "message": state.message,
        "unlock_at": iso_or_none(state.unlock_at),
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
        "study": texts.localized(study, "reader_title"),
        "instructions": texts.localized(study, "reader_instructions"),
        "session": texts.localized(assignment.session, "name"),
        "position": position,
        "total": total,
        "title": _("Case %(position)s of %(total)s") % {"position": position, "total": total},
        "state": state.state,
        "editable": editable,
        "amendable": amendable,
        "reading": reading_out(reading),
        "questions": [question_out(q) for q in study.questions.order_by("order", "id")],
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
            actor=acting_user(request), assignment=assignment, position=position
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
    return Response(reading_out(reading), status=code)


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
            actor=acting_user(request),
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
            actor=acting_user(request),
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
                "reading": reading_out(reading),
                "finished": assignment.finished_at is not None,
                "next": following,
                "home": reverse("readerstudy:home"),
            }
        )


class ReadingHeartbeatApi(ReaderStudyApi):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, reading_id: str) -> Response:
        reading = selectors.get_reading_for_user(user=request.user, reading_id=reading_id)
        services.reading_heartbeat(actor=acting_user(request), reading=reading)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReadingAmendApi(ReaderStudyApi):
    @extend_schema(request=AmendIn, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, reading_id: str) -> Response:
        reading = selectors.get_reading_for_user(user=request.user, reading_id=reading_id)
        data = AmendIn(data=request.data)
        data.is_valid(raise_exception=True)
        amended = services.reading_amend(
            actor=acting_user(request),
            reading=reading,
            answers=data.validated_data["answers"],
            version=data.validated_data["version"],
            reason=data.validated_data["reason"],
        )
        return _reading_response(amended, status.HTTP_201_CREATED)
