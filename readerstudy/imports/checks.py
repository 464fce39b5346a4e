"""Checking each drafted reading against the study as a whole: required answers, timing,
ROIs on this case's blinded viewports, existing readings (``replace``) and the slots the
reader saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.utils.translation import gettext as _

from readerstudy import questions
from readerstudy.imports.matching import MatchContext
from readerstudy.imports.results import Errors, ImportDraft
from readerstudy.models import SlotPlacement


def placement_slots(placements: Sequence[SlotPlacement]) -> dict[str, str]:
    return {p.slot: p.arm or p.series.role for p in placements}


def check_draft(draft: ImportDraft, ctx: MatchContext, replace: bool, errors: Errors) -> None:
    where = _("%(reader)s, %(session)s, case %(case)s") % {
        "reader": draft.assignment.reader.get_username(),
        "session": draft.assignment.session.name,
        "case": draft.study_case.case.label,
    }
    answers = questions.with_computed(ctx.specs, draft.answers)
    draft.answers = {key: value for key, value in answers.items() if value is not None}
    missing = questions.missing_required(ctx.specs, draft.answers)
    if missing and not draft.broken:
        errors.add(
            draft.line,
            "value",
            _("%(where)s: no answer to %(keys)s (required)")
            % {"where": where, "keys": ", ".join(missing)},
        )
    if draft.opened_at and draft.submitted_at and draft.submitted_at < draft.opened_at:
        errors.add(
            draft.line,
            "submitted_at",
            _("%(where)s: submitted before it was opened") % {"where": where},
        )
    key = (draft.assignment.pk, draft.study_case.pk)
    placements = ctx.placements.get(key, [])
    roi_errors = _roi_errors(draft, ctx, placements)
    for question, message in roi_errors.items():
        line = draft.lines.get(question, draft.line)
        errors.add(line, "value", f"{where}: {question}: {message}")
    draft.existing = ctx.current.get(key)
    if draft.existing is not None and not replace:
        errors.add(
            draft.line,
            "",
            _(
                "%(where)s already has a reading; import with 'replace' to supersede it "
                "(the existing reading is kept)"
            )
            % {"where": where},
        )
    current = placement_slots(placements)
    shuffled = bool(draft.assignment.protocol_session.hanging_protocol.get("shuffle_slots"))
    if draft.slots is None:
        if shuffled and len(current) > 1:
            errors.add(
                draft.line,
                "slots",
                _(
                    "%(where)s: this session places the images at random; the slots column "
                    "must say which image each slot showed (e.g. A=NC-CTM;B=MRM)"
                )
                % {"where": where},
            )
        return
    if draft.slots == current:
        return
    if sorted(draft.slots) != sorted(current) or sorted(draft.slots.values()) != sorted(
        current.values()
    ):
        errors.add(
            draft.line,
            "slots",
            _("%(where)s: the slots %(given)s do not fit this study's %(current)s")
            % {
                "where": where,
                "given": _slots_text(draft.slots),
                "current": _slots_text(current),
            },
        )
    elif key in ctx.read:
        errors.add(
            draft.line,
            "slots",
            _(
                "%(where)s: the slots %(given)s differ from %(current)s, which the existing "
                "reading was made with"
            )
            % {
                "where": where,
                "given": _slots_text(draft.slots),
                "current": _slots_text(current),
            },
        )
    else:
        draft.new_slots = draft.slots


def _slots_text(slots: Mapping[str, str]) -> str:
    return ";".join(f"{slot}={arm}" for slot, arm in slots.items())


def _roi_errors(
    draft: ImportDraft, ctx: MatchContext, placements: Sequence[SlotPlacement]
) -> dict[str, str]:
    """An ROI names a blinded series of this reader's case (as the reading API requires)."""
    allowed = {p.blinded_series_uid for p in placements} | {
        p.blinded_overlay_series_uid for p in placements if p.blinded_overlay_series_uid
    }
    return {
        spec.key: _("the ROI's series is not one of this case's viewports in this study")
        for spec in ctx.specs
        if spec.type == questions.ROI
        and isinstance(draft.answers.get(spec.key), dict)
        and draft.answers[spec.key].get("series") not in allowed
    }
