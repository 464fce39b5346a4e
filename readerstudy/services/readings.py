"""A reader's readings: open in the reader's order, autosave with optimistic versions, the
heartbeat that counts active reading time, submit (locked) and amend (a new reading that
supersedes the old one, with a reason).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit_event_record
from readerstudy import questions, selectors, texts
from readerstudy.models import (
    ReaderAssignment,
    Reading,
    ReadingStatus,
    SlotPlacement,
    StudyCase,
    StudyStatus,
)
from readerstudy.selectors import study_specs
from readerstudy.services.base import (
    AnswerError,
    ConflictError,
    NotAllowedError,
    ReaderStudyError,
    exports_refresh,
    moment_or_now,
)

# A gap between heartbeats longer than this is time away from the case, not reading time.
ACTIVITY_GAP_SECONDS = 60.0


def _require_available(assignment: ReaderAssignment, now: dt.datetime) -> selectors.AssignmentState:
    state = selectors.assignment_state(assignment, now=now)
    if state.state != selectors.AVAILABLE:
        raise ConflictError(state.message, state=state.state, unlock_at=state.unlock_at)
    return state


def _touch(reading: Reading, now: dt.datetime) -> None:
    """Count the time since the last sign of activity, unless the reader was away."""
    gap = (now - reading.last_activity_at).total_seconds()
    if 0 < gap <= ACTIVITY_GAP_SECONDS:
        reading.active_seconds += gap
    reading.last_activity_at = max(now, reading.last_activity_at)


@transaction.atomic
def reading_open(
    *,
    actor: User,
    assignment: ReaderAssignment,
    position: int,
    now: dt.datetime | None = None,
) -> tuple[Reading | None, StudyCase]:
    """Open (or resume) the case at ``position``; a finished session opens read-only.

    Readers read in their order: the next unsubmitted case or any case before it.
    """
    now = moment_or_now(now)
    assignment = ReaderAssignment.objects.select_for_update().get(pk=assignment.pk)
    study_case = selectors.study_case_at(assignment, position)
    state = selectors.assignment_state(assignment, now=now)
    if state.state == selectors.DONE:
        return selectors.current_reading(assignment, study_case), study_case
    _require_available(assignment, now)
    if position > state.next_position:
        raise ConflictError(
            _("Cases are read in order: case %(next)s of %(total)s is next.")
            % {"next": state.next_position, "total": state.total}
        )
    reading = selectors.current_reading(assignment, study_case)
    if reading is None:
        reading = Reading.objects.create(
            assignment=assignment,
            study_case=study_case,
            opened_at=now,
            last_activity_at=now,
        )
        audit_event_record(
            actor=actor,
            verb="reading.open",
            obj=reading,
            after={"assignment": str(assignment.pk), "position": position},
        )
    elif reading.status == ReadingStatus.IN_PROGRESS:
        # Resuming after a break: the time away is not reading time.
        reading.last_activity_at = max(now, reading.last_activity_at)
        reading.save(update_fields=["last_activity_at", "updated_at"])
    if assignment.started_at is None:
        assignment.started_at = now
        assignment.save(update_fields=["started_at"])
    return reading, study_case


def _lock_for_change(reading: Reading, version: int, now: dt.datetime) -> Reading:
    locked = (
        # Lock the reading only, not the study and session rows the join reads.
        Reading.objects.select_for_update(of=("self",))
        .select_related("assignment__session__study", "study_case")
        .get(pk=reading.pk)
    )
    if not locked.is_current:
        raise ConflictError(_("This reading was amended; reload to see the current one."))
    if locked.version != version:
        raise ConflictError(
            _(
                "This case was changed in another tab or window; reload it before saving. "
                "Nothing was saved."
            ),
            current_version=locked.version,
        )
    return locked


def _merge(
    specs: list[questions.QuestionSpec], stored: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, Any]:
    questions.validate_answers(specs, changes)
    merged = {**stored, **changes}
    merged = {key: value for key, value in merged.items() if value is not None}
    computed = questions.with_computed(specs, merged)
    return {key: value for key, value in computed.items() if value is not None}


def _changed(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = sorted(set(before) | set(after))
    changed = [key for key in keys if before.get(key) != after.get(key)]
    return {k: before.get(k) for k in changed}, {k: after.get(k) for k in changed}


def _check_roi_series(
    reading: Reading, specs: list[questions.QuestionSpec], answers: Mapping[str, Any]
) -> None:
    """An ROI must come from a viewport of this case (blinded UIDs), never an original UID."""
    roi_keys = [s.key for s in specs if s.type == questions.ROI and answers.get(s.key)]
    if not roi_keys:
        return
    allowed = set()
    for placement in SlotPlacement.objects.filter(
        assignment=reading.assignment, study_case=reading.study_case
    ):
        allowed.add(placement.blinded_series_uid)
        if placement.blinded_overlay_series_uid:
            allowed.add(placement.blinded_overlay_series_uid)
    errors = {
        key: _("the ROI's series is not one of this case's viewports")
        for key in roi_keys
        if answers[key]["series"] not in allowed
    }
    if errors:
        raise AnswerError(errors)


@transaction.atomic
def reading_save(
    *,
    actor: User,
    reading: Reading,
    answers: Mapping[str, Any],
    version: int,
    now: dt.datetime | None = None,
) -> Reading:
    """Autosave part of the answers (``null`` clears one). Stale ``version``: 409, nothing saved."""
    now = moment_or_now(now)
    reading = _lock_for_change(reading, version, now)
    if reading.status != ReadingStatus.IN_PROGRESS:
        raise ConflictError(_("This reading is submitted and locked."))
    _require_available(reading.assignment, now)
    specs = study_specs(reading.assignment.session.study)
    merged = _merge(specs, reading.answers, answers)
    _check_roi_series(reading, specs, answers)
    _touch(reading, now)
    before, after = _changed(reading.answers, merged)
    if before or after:
        reading.answers = merged
        reading.version += 1
        audit_event_record(
            actor=actor, verb="reading.save", obj=reading, before=before, after=after
        )
    reading.save()
    return reading


@transaction.atomic
def reading_heartbeat(*, actor: User, reading: Reading, now: dt.datetime | None = None) -> Reading:
    """The reading page is open and in use: add the time since the last sign of activity."""
    now = moment_or_now(now)
    reading = Reading.objects.select_for_update().get(pk=reading.pk)
    if reading.status == ReadingStatus.IN_PROGRESS and reading.is_current:
        _touch(reading, now)
        reading.save(update_fields=["active_seconds", "last_activity_at", "updated_at"])
    return reading


@transaction.atomic
def reading_submit(
    *,
    actor: User,
    reading: Reading,
    version: int,
    answers: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Reading:
    """Submit (and lock) a reading; every required question must be answered (else 400)."""
    now = moment_or_now(now)
    reading = _lock_for_change(reading, version, now)
    if reading.status != ReadingStatus.IN_PROGRESS:
        raise ConflictError(_("This reading is already submitted."))
    _require_available(reading.assignment, now)
    specs = study_specs(reading.assignment.session.study)
    merged = _merge(specs, reading.answers, answers or {})
    _check_roi_series(reading, specs, merged)
    missing = questions.missing_required(specs, merged)
    if missing:
        raise AnswerError({key: _("an answer is required before submitting") for key in missing})
    before = {"status": reading.status, "answers": reading.answers}
    _touch(reading, now)
    reading.answers = merged
    reading.status = ReadingStatus.SUBMITTED
    reading.submitted_at = now
    reading.version += 1
    reading.save()
    audit_event_record(
        actor=actor,
        verb="reading.submit",
        obj=reading,
        before=before,
        after={
            "status": reading.status,
            "answers": merged,
            "active_seconds": reading.active_seconds,
        },
    )
    assignment = ReaderAssignment.objects.select_for_update().get(pk=reading.assignment_id)
    if selectors.submitted_count(assignment) == len(assignment.case_order):
        assignment.finished_at = now
        assignment.save(update_fields=["finished_at"])
        audit_event_record(
            actor=actor,
            verb="assignment.finish",
            obj=assignment,
            after={"finished_at": now.isoformat()},
        )
    exports_refresh(assignment.session.study_id)
    return reading


@transaction.atomic
def reading_amend(
    *,
    actor: User,
    reading: Reading,
    version: int,
    answers: Mapping[str, Any],
    reason: str,
    now: dt.datetime | None = None,
) -> Reading:
    """Correct a submitted reading, when the study allows it: a new reading supersedes the old
    one (kept, with its values), with the reason in both the reading and the audit trail."""
    now = moment_or_now(now)
    study = reading.assignment.session.study
    if not study.allow_amendments:
        raise NotAllowedError(_("Submitted readings cannot be amended in this study."))
    if not texts.has_visible_text(reason):
        raise ReaderStudyError(_("An amendment needs a reason."), field="reason")
    old = _lock_for_change(reading, version, now)
    if old.status != ReadingStatus.SUBMITTED:
        raise ConflictError(_("Only submitted readings are amended; save this one instead."))
    if study.status != StudyStatus.ACTIVE:
        raise ConflictError(_("The study is not active."))
    specs = study_specs(study)
    merged = _merge(specs, old.answers, answers)
    _check_roi_series(old, specs, merged)
    missing = questions.missing_required(specs, merged)
    if missing:
        raise AnswerError({key: _("an answer is required") for key in missing})
    old.is_current = False
    old.save(update_fields=["is_current", "updated_at"])
    new = Reading.objects.create(
        assignment=old.assignment,
        study_case=old.study_case,
        answers=merged,
        status=ReadingStatus.SUBMITTED,
        supersedes=old,
        amendment_reason=reason.strip(),
        opened_at=now,
        submitted_at=now,
        last_activity_at=now,
        version=old.version + 1,
    )
    before, after = _changed(old.answers, merged)
    audit_event_record(
        actor=actor,
        verb="reading.amend",
        obj=new,
        before={"reading": str(old.pk), **before},
        after={"reading": str(new.pk), **after},
        reason=reason.strip(),
    )
    exports_refresh(study.pk)
    return new
