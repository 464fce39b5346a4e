"""The cases of a study: added only when they hold every series role the sessions' hanging
protocols need (a reader never sees an empty viewport), removed only before the first reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext_noop

from accounts.models import User
from accounts.services import audit_event_record
from cases.models import Case
from readerstudy.models import ReaderStudy, Session, StudyCase
from readerstudy.services.assignments import assignments_refresh, case_series, series_pick
from readerstudy.services.base import ensure_not_frozen, study_changed


def _missing_roles(case: Case, sessions: Iterable[Session]) -> list[str]:
    series = case_series(case)
    missing: list[str] = []
    for session in sessions:
        for slot in session.hanging_protocol.get("slots", []):
            if series_pick(series, slot["roles"]) is None:
                missing.append(f"{session.name} {slot['label']}: {' or '.join(slot['roles'])}")
            overlay = slot.get("overlay_role")
            if overlay and series_pick(series, [overlay]) is None:
                missing.append(f"{session.name} {slot['label']} overlay: {overlay}")
    return missing


@dataclass
class CasesAddResult:
    added: list[StudyCase] = field(default_factory=list)
    # (case label, what it lacks) for each case left out.
    skipped: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def message(self) -> str:
        text = f"{len(self.added)} case(s) added."
        if self.skipped:
            lacking = "; ".join(f"{label} lacks {', '.join(why)}" for label, why in self.skipped)
            text += f" Skipped {len(self.skipped)} case(s) without the images the sessions need: "
            text += lacking + "."
        return text


@transaction.atomic
def study_cases_add(
    *, actor: User | None, study: ReaderStudy, cases: Iterable[Case]
) -> CasesAddResult:
    """Add cases; a case lacking a series role a session's hanging protocol needs is skipped
    (listed in the result) rather than shown to readers with an empty viewport."""
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    ensure_not_frozen(study, gettext_noop("Cases"))
    sessions = list(study.sessions.all())
    present = set(study.study_cases.values_list("case_id", flat=True))
    order = study.study_cases.order_by("-order").values_list("order", flat=True).first() or 0
    result = CasesAddResult()
    for case in cases:
        if case.pk in present:
            continue
        missing = _missing_roles(case, sessions)
        if missing:
            result.skipped.append((case.label, missing))
            continue
        order += 1
        result.added.append(StudyCase.objects.create(study=study, case=case, order=order))
        present.add(case.pk)
    if result.added:
        assignments_refresh(study, actor=actor)
    study_changed(study.pk)
    audit_event_record(
        actor=actor,
        verb="study.cases_add",
        obj=study,
        after={
            "added": [{"id": str(sc.id), "case": sc.case.label} for sc in result.added],
            "skipped": [{"case": label, "missing": why} for label, why in result.skipped],
        },
    )
    return result


@transaction.atomic
def study_case_remove(*, actor: User | None, study_case: StudyCase) -> None:
    study = study_case.study
    ensure_not_frozen(study, gettext_noop("Cases"))
    study_changed(study_case.study_id)
    audit_event_record(
        actor=actor,
        verb="study.case_remove",
        obj=study,
        before={"id": str(study_case.id), "case": study_case.case.label},
    )
    study_case.delete()
    assignments_refresh(study, actor=actor)
