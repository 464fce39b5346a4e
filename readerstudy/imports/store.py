"""Storing checked readings in one transaction: each a submitted, imported reading (an
existing one superseded and kept), slots rearranged as the file says, assignments finished,
every step audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from accounts.models import User
from accounts.services import audit_event_record
from readerstudy import services
from readerstudy.blinding import blinded_uid
from readerstudy.imports.checks import placement_slots
from readerstudy.imports.results import ImportDraft, ImportResult
from readerstudy.models import (
    ReaderAssignment,
    ReaderStudy,
    Reading,
    ReadingSource,
    ReadingStatus,
    SlotPlacement,
    StudyStatus,
)

REPLACED_BY_IMPORT = "Replaced by a coordinator's import of readings"


def _rearrange_slots(draft: ImportDraft, slots: Mapping[str, str]) -> None:
    """Show in each slot what the reader saw there (the CSV's slots), as a shuffle would."""
    assignment, study_case = draft.assignment, draft.study_case
    placements = list(
        SlotPlacement.objects.select_for_update()
        .filter(assignment=assignment, study_case=study_case)
        .select_related("series")
    )
    pool = [
        (p.arm or p.series.role, p.arm, p.series, p.overlay_series, p.viewport, p.window)
        for p in placements
    ]
    secret = assignment.session.study.blinding_secret
    case_id = str(study_case.pk)
    for placement in placements:
        index = next(i for i, content in enumerate(pool) if content[0] == slots[placement.slot])
        _, arm, series, overlay, viewport, window = pool.pop(index)
        placement.arm, placement.series, placement.overlay_series = arm, series, overlay
        placement.viewport, placement.window = viewport, window
        placement.blinded_overlay_series_uid = (
            blinded_uid(secret, assignment.pk, case_id, placement.slot, "overlay")
            if overlay
            else ""
        )
        placement.save()


def store_readings(
    *,
    actor: User,
    study: ReaderStudy,
    drafts: Sequence[ImportDraft],
    result: ImportResult,
    now: dt.datetime,
) -> None:
    locked = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    ensure_open(locked)
    finished: set[Any] = set()
    for draft in drafts:
        old = (
            Reading.objects.select_for_update()
            .filter(assignment=draft.assignment, study_case=draft.study_case, is_current=True)
            .first()
        )
        if old is not None and not result.replace:
            raise services.ConflictError(
                "A reading was made meanwhile for a row of this file; nothing was imported."
            )
        if (old is None) != (draft.existing is None) or (
            old is not None and draft.existing is not None and old.pk != draft.existing.pk
        ):
            raise services.ConflictError(
                "The readings changed while the file was checked; nothing was imported."
            )
        before_slots = None
        if draft.new_slots is not None:
            before_slots = placement_slots(
                list(
                    SlotPlacement.objects.filter(
                        assignment=draft.assignment, study_case=draft.study_case
                    ).select_related("series")
                )
            )
            _rearrange_slots(draft, draft.new_slots)
        submitted = draft.submitted_at or now
        opened = draft.opened_at or submitted
        reason = ""
        if old is not None:
            old.is_current = False
            old.save(update_fields=["is_current", "updated_at"])
            # Readers see this reason with their reading: the file's name (which may say what
            # the study hides) stays in the coordinators' audit trail.
            reason = REPLACED_BY_IMPORT
            result.replaced += 1
        reading = Reading.objects.create(
            assignment=draft.assignment,
            study_case=draft.study_case,
            answers=draft.answers,
            status=ReadingStatus.SUBMITTED,
            source=ReadingSource.IMPORTED,
            supersedes=old,
            amendment_reason=reason,
            opened_at=opened,
            submitted_at=submitted,
            last_activity_at=submitted,
            active_seconds=draft.active_seconds,
            version=(old.version + 1) if old is not None else 1,
        )
        after: dict[str, Any] = {
            "reading": str(reading.pk),
            "answers": draft.answers,
            "file": result.filename,
            "sha256": result.sha256,
            "line": draft.line,
            "reader": draft.assignment.reader.get_username(),
            "session": draft.assignment.session.order,
            "opened_at": opened.isoformat(),
            "submitted_at": submitted.isoformat(),
        }
        if draft.new_slots is not None:
            after["slots"] = draft.new_slots
        before: dict[str, Any] | None = None
        if old is not None or before_slots is not None:
            before = {}
            if old is not None:
                before.update(reading=str(old.pk), answers=old.answers)
            if before_slots is not None:
                before["slots"] = before_slots
        audit_event_record(
            actor=actor,
            verb="reading.imported",
            obj=reading,
            before=before,
            after=after,
            reason=f"import of {result.filename} (sha256 {result.sha256})",
        )
        finished.add(draft.assignment.pk)
    _finish_assignments(actor=actor, assignment_ids=finished)
    audit_event_record(
        actor=actor,
        verb="study.readings_import",
        obj=study,
        after={
            "file": result.filename,
            "sha256": result.sha256,
            "rows": result.rows,
            "readings": result.readings,
            "replaced": result.replaced,
        },
    )


def _finish_assignments(*, actor: User, assignment_ids: set[Any]) -> None:
    """An assignment whose every case now has a submitted reading is finished (washouts count
    from the last reading's submission, as when read in the platform)."""
    for assignment in ReaderAssignment.objects.select_for_update().filter(pk__in=assignment_ids):
        current = Reading.objects.filter(
            assignment=assignment, is_current=True, status=ReadingStatus.SUBMITTED
        )
        changed = []
        if assignment.started_at is None:
            assignment.started_at = min(current.values_list("opened_at", flat=True))
            changed.append("started_at")
        if assignment.finished_at is None and current.count() == len(assignment.case_order):
            last = max(
                moment for moment in current.values_list("submitted_at", flat=True) if moment
            )
            assignment.finished_at = last
            changed.append("finished_at")
            audit_event_record(
                actor=actor,
                verb="assignment.finish",
                obj=assignment,
                after={"finished_at": last.isoformat(), "by": "import"},
            )
        if changed:
            assignment.save(update_fields=changed)


def ensure_open(study: ReaderStudy) -> None:
    if study.status == StudyStatus.CLOSED:
        raise services.ConflictError(
            "The study is closed: its readings are final. Reopen it to import readings."
        )
