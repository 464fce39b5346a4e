"""Permission-scoped reads of reader studies.

Deny by default. Admins see every study; anyone else sees the studies they are a member of,
and manages only those where they are a coordinator (a global coordinator is not a coordinator
of another coordinator's study). Readers reach their own assignments and readings and nothing
else: no other reader's readings, no references, no case labels. What a user may not see is
a 404; what a member may see but not do is a 403.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from accounts.permissions import AnyUser, is_admin
from readerstudy import questions, texts
from readerstudy.models import (
    MemberRole,
    Question,
    ReaderAssignment,
    ReaderStudy,
    Reading,
    ReadingStatus,
    Session,
    SessionStatus,
    StudyCase,
    StudyMembership,
    StudyStatus,
)

M = TypeVar("M", bound=Model)


def _uuid(value: Any) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError as exc:
        raise Http404("Not found.") from exc


def _member_study_ids(user: User, *roles: MemberRole) -> QuerySet[StudyMembership]:
    memberships = StudyMembership.objects.filter(user=user)
    if roles:
        memberships = memberships.filter(role__in=roles)
    return memberships


def studies_for_user(*, user: AnyUser) -> QuerySet[ReaderStudy]:
    """Studies ``user`` is a member of (any role); every study for admins."""
    if not isinstance(user, User) or not user.is_active:
        return ReaderStudy.objects.none()
    if is_admin(user):
        return ReaderStudy.objects.all()
    ids = _member_study_ids(user).values("study_id")
    return ReaderStudy.objects.filter(pk__in=ids)


def managed_studies_for_user(*, user: AnyUser) -> QuerySet[ReaderStudy]:
    """Studies ``user`` coordinates; every study for admins."""
    if not isinstance(user, User) or not user.is_active:
        return ReaderStudy.objects.none()
    if is_admin(user):
        return ReaderStudy.objects.all()
    ids = _member_study_ids(user, MemberRole.COORDINATOR).values("study_id")
    return ReaderStudy.objects.filter(pk__in=ids)


def has_study_role(*, user: AnyUser, study: ReaderStudy, role: MemberRole) -> bool:
    if not isinstance(user, User) or not user.is_active:
        return False
    return StudyMembership.objects.filter(study=study, user=user, role=role).exists()


def can_manage_study(*, user: AnyUser, study: ReaderStudy) -> bool:
    return is_admin(user) or has_study_role(user=user, study=study, role=MemberRole.COORDINATOR)


def can_enter_references(*, user: AnyUser, study: ReaderStudy) -> bool:
    return can_manage_study(user=user, study=study) or has_study_role(
        user=user, study=study, role=MemberRole.REFERENCE
    )


def get_study_for_user(*, user: AnyUser, study_id: Any) -> ReaderStudy:
    study = studies_for_user(user=user).filter(pk=_uuid(study_id)).first()
    if study is None:
        raise Http404("No such study.")
    return study


def get_managed_study_for_user(*, user: AnyUser, study_id: Any) -> ReaderStudy:
    """The study, for its coordinators and admins: 404 for non-members, 403 for other members."""
    study = get_study_for_user(user=user, study_id=study_id)
    if not can_manage_study(user=user, study=study):
        raise PermissionDenied("Only coordinators of this study may do this.")
    return study


def get_reference_study_for_user(*, user: AnyUser, study_id: Any) -> ReaderStudy:
    """The study, for those who enter its reference standards (coordinators, editors)."""
    study = get_study_for_user(user=user, study_id=study_id)
    if not can_enter_references(user=user, study=study):
        raise PermissionDenied("Only coordinators and reference editors of this study may.")
    return study


def get_study_case_for_user(*, user: AnyUser, study: ReaderStudy, study_case_id: Any) -> StudyCase:
    """A case of a study the caller has already authorized for (manage or references)."""
    cases = StudyCase.objects.filter(study=study, pk=_uuid(study_case_id)).select_related("case")
    return _first_or_404(can_enter_references(user=user, study=study), cases, "case")


def _first_or_404(allowed: bool, queryset: QuerySet[M], what: str) -> M:
    """The first row, or 404 alike for "not allowed" and "not there" (nothing to probe)."""
    found = queryset.first() if allowed else None
    if found is None:
        raise Http404(f"No such {what}.")
    return found


def get_question_for_user(*, user: AnyUser, study: ReaderStudy, key: str) -> Question:
    allowed = can_manage_study(user=user, study=study)
    return _first_or_404(allowed, Question.objects.filter(study=study, key=key), "question")


def get_session_for_user(*, user: AnyUser, study: ReaderStudy, order: int) -> Session:
    allowed = can_manage_study(user=user, study=study)
    return _first_or_404(allowed, Session.objects.filter(study=study, order=order), "session")


def get_member_user_for_user(*, user: AnyUser, study: ReaderStudy, username: str) -> User:
    """A user to add to a study (coordinators only): any active account by username."""
    if not can_manage_study(user=user, study=study):
        raise Http404("No such user.")
    found = User.objects.filter(username=username, is_active=True).first()
    if found is None:
        raise Http404(f"No active user {username!r}.")
    return found


# --- Readers ---------------------------------------------------------------------------------


def assignments_for_user(*, user: AnyUser) -> QuerySet[ReaderAssignment]:
    """The user's own assignments in studies that are not drafts."""
    if not isinstance(user, User) or not user.is_active:
        return ReaderAssignment.objects.none()
    return (
        ReaderAssignment.objects.filter(reader=user)
        .exclude(session__study__status=StudyStatus.DRAFT)
        .select_related("session__study", "protocol_session")
        .order_by("session__study__created_at", "session__order")
    )


def get_assignment_for_user(*, user: AnyUser, assignment_id: Any) -> ReaderAssignment:
    """The user's own assignment; anyone else's (also a coordinator's view of it) is a 404."""
    found = assignments_for_user(user=user).filter(pk=_uuid(assignment_id)).first()
    if found is None:
        raise Http404("No such assignment.")
    return found


def get_reading_for_user(*, user: AnyUser, reading_id: Any) -> Reading:
    """The user's own current reading."""
    found = (
        Reading.objects.filter(
            pk=_uuid(reading_id),
            is_current=True,
            assignment__in=assignments_for_user(user=user),
        )
        .select_related("assignment__session__study", "study_case")
        .first()
    )
    if found is None:
        raise Http404("No such reading.")
    return found


AVAILABLE = "available"
LOCKED = "locked"
DONE = "done"
CLOSED = "closed"


@dataclass(frozen=True)
class AssignmentState:
    """Where a reader stands in one session: what the home page and the gates show."""

    state: str
    message: str
    unlock_at: dt.datetime | None
    total: int
    submitted: int

    @property
    def next_position(self) -> int:
        """The 1-based position of the next case to read (``total`` when all are done)."""
        return min(self.submitted + 1, self.total) if self.total else 0


def _fmt(moment: dt.datetime) -> str:
    """A time in the user's zone and language (the middleware activates both)."""
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def submitted_count(assignment: ReaderAssignment) -> int:
    return Reading.objects.filter(
        assignment=assignment, is_current=True, status=ReadingStatus.SUBMITTED
    ).count()


def assignment_state(
    assignment: ReaderAssignment, *, now: dt.datetime | None = None
) -> AssignmentState:
    """Available, locked (with the unlock date), done or closed, and the progress."""
    now = now or timezone.now()
    session = assignment.session
    study = session.study
    total = len(assignment.case_order)
    submitted = submitted_count(assignment)

    def state(kind: str, message: str, unlock_at: dt.datetime | None = None) -> AssignmentState:
        return AssignmentState(kind, message, unlock_at, total, submitted)

    if assignment.finished_at is not None:
        return state(DONE, _("Finished on %(when)s.") % {"when": _fmt(assignment.finished_at)})
    name = texts.localized(session, "name")
    if study.status != StudyStatus.ACTIVE or session.status != SessionStatus.OPEN:
        return state(CLOSED, _("%(session)s is not open for reading.") % {"session": name})
    if total == 0:
        return state(CLOSED, _("%(session)s has no cases yet.") % {"session": name})
    previous = (
        ReaderAssignment.objects.filter(
            reader_id=assignment.reader_id, session__study=study, session__order__lt=session.order
        )
        .select_related("session")
        .order_by("-session__order")
        .first()
    )
    if previous is not None:
        previous_name = texts.localized(previous.session, "name")
        if previous.finished_at is None:
            return state(
                LOCKED,
                _("Available after you finish %(session)s.") % {"session": previous_name},
            )
        unlock_at = previous.finished_at + dt.timedelta(days=session.washout_days)
        if now < unlock_at:
            message = ngettext(
                "Locked until %(until)s: a washout of %(days)s day after you finished "
                "%(session)s on %(finished)s.",
                "Locked until %(until)s: a washout of %(days)s days after you finished "
                "%(session)s on %(finished)s.",
                session.washout_days,
            ) % {
                "until": _fmt(unlock_at),
                "days": session.washout_days,
                "session": previous_name,
                "finished": _fmt(previous.finished_at),
            }
            return state(LOCKED, message, unlock_at)
    return state(
        AVAILABLE,
        _("%(submitted)s of %(total)s cases read.") % {"submitted": submitted, "total": total},
    )


def get_viewable_assignment_for_user(
    *, user: AnyUser, assignment_id: Any, now: dt.datetime | None = None
) -> tuple[ReaderAssignment, list[str]]:
    """The user's assignment and the cases whose images the user may load now.

    Images follow the reading rules: only while the study and session are open and the
    washout has passed, and only cases up to the next one in the reader's order (a reader
    cannot look ahead). Anything else is a 404, like an assignment that is not theirs.
    """
    assignment = get_assignment_for_user(user=user, assignment_id=assignment_id)
    session = assignment.session
    if session.study.status != StudyStatus.ACTIVE or session.status != SessionStatus.OPEN:
        raise Http404("No such study.")
    state = assignment_state(assignment, now=now)
    if state.state == DONE:
        return assignment, list(assignment.case_order)
    if state.state != AVAILABLE:
        raise Http404("No such study.")
    return assignment, list(assignment.case_order[: state.next_position])


def study_case_at(assignment: ReaderAssignment, position: int) -> StudyCase:
    """The case at 1-based ``position`` of the reader's order; 404 outside it."""
    if not 1 <= position <= len(assignment.case_order):
        raise Http404("No such case in this assignment.")
    found = StudyCase.objects.filter(
        pk=assignment.case_order[position - 1], study=assignment.session.study
    ).first()
    if found is None:
        raise Http404("No such case in this assignment.")
    return found


def position_of(assignment: ReaderAssignment, study_case_id: Any) -> int:
    return assignment.case_order.index(str(study_case_id)) + 1


def current_reading(assignment: ReaderAssignment, study_case: StudyCase) -> Reading | None:
    return Reading.objects.filter(
        assignment=assignment, study_case=study_case, is_current=True
    ).first()


def study_has_readings(study: ReaderStudy) -> bool:
    return Reading.objects.filter(assignment__session__study=study).exists()


# --- Coordinators ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressRow:
    reader: str
    session: str
    session_order: int
    state: str
    message: str
    total: int
    submitted: int
    in_progress: int
    active_seconds: float


def study_progress(*, study: ReaderStudy, now: dt.datetime | None = None) -> list[ProgressRow]:
    """Per reader and session: state, cases submitted, in progress, reading time."""
    rows = []
    assignments = (
        ReaderAssignment.objects.filter(session__study=study)
        .select_related("reader", "session__study")
        .order_by("reader__username", "session__order")
    )
    for assignment in assignments:
        readings = Reading.objects.filter(assignment=assignment, is_current=True)
        status = assignment_state(assignment, now=now)
        rows.append(
            ProgressRow(
                reader=assignment.reader.get_username(),
                session=texts.localized(assignment.session, "name"),
                session_order=assignment.session.order,
                state=status.state,
                message=status.message,
                total=status.total,
                submitted=status.submitted,
                in_progress=readings.filter(status=ReadingStatus.IN_PROGRESS).count(),
                active_seconds=sum(readings.values_list("active_seconds", flat=True)),
            )
        )
    return rows


# --- Question specs: what validation and the analysis work on ------------------------------------


def question_spec(question: Question) -> questions.QuestionSpec:
    return questions.QuestionSpec(
        key=question.key,
        type=question.type,
        label=question.label,
        options=question.options,
        required=question.required,
        formula=question.formula,
    )


def study_specs(study: ReaderStudy) -> list[questions.QuestionSpec]:
    return [question_spec(item) for item in study.questions.order_by("order", "id")]
