"""Step 1 of a study's results: load it from the database (``load_study_data``: the plain
``StudyData`` of the current, submitted readings and the reference standards), label it with
its version (the time of the study's last change) and analyse it (``study_results``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Max
from django.utils import timezone

from readerstudy.models import (
    MemberRole,
    ReaderStudy,
    Reading,
    ReadingStatus,
    ReferenceSource,
    ReferenceStandard,
    SlotPlacement,
)
from readerstudy.results import analyse, records
from readerstudy.results.records import StatRow
from readerstudy.selectors import study_specs


def load_study_data(*, study: ReaderStudy) -> records.StudyData:
    """The plain data the analysis needs: current, submitted readings with their slot arms."""
    readings = list(
        Reading.objects.filter(
            assignment__session__study=study, is_current=True, status=ReadingStatus.SUBMITTED
        ).values_list(
            "assignment_id",
            "assignment__session__order",
            "assignment__reader__username",
            "study_case_id",
            "answers",
        )
    )
    arms: dict[tuple[Any, Any], dict[str, str]] = {}
    placements = SlotPlacement.objects.filter(assignment__session__study=study).values_list(
        "assignment_id", "study_case_id", "slot", "arm"
    )
    for assignment_id, study_case_id, slot, arm in placements:
        arms.setdefault((assignment_id, study_case_id), {})[slot] = arm or slot
    rows = [
        records.ReadingRow(
            session=session,
            reader=reader,
            case=str(study_case_id),
            answers=answers,
            arms=arms.get((assignment_id, study_case_id), {}),
        )
        for assignment_id, session, reader, study_case_id, answers in readings
    ]
    readers = list(
        study.memberships.filter(role=MemberRole.READER)
        .order_by("reader_index", "user__username")
        .values_list("user__username", flat=True)
    )
    readers += sorted({row.reader for row in rows} - set(readers))
    references = list(
        ReferenceStandard.objects.filter(study=study).select_related(
            "session", "reference_session", "reference_reader", "question"
        )
    )
    same = [
        records.SameReaderRule(ref.session.order, ref.reference_session.order, ref.provenance)
        for ref in references
        if ref.source == ReferenceSource.SESSION_OF_SAME_READER
        and ref.session is not None
        and ref.reference_session is not None
    ]
    named = [
        records.NamedReaderRule(
            ref.reference_reader.get_username(),
            ref.session.order if ref.session else None,
            ref.provenance,
        )
        for ref in references
        if ref.source == ReferenceSource.NAMED_READER and ref.reference_reader is not None
    ]
    entered = [
        records.EnteredReference(
            str(ref.study_case_id), ref.question.key, ref.values.get("value"), ref.source
        )
        for ref in references
        if ref.question is not None and ref.study_case_id is not None
    ]
    return records.StudyData(
        questions=study_specs(study),
        sessions=dict(study.sessions.values_list("order", "name")),
        readers=readers,
        readings=rows,
        same_reader_rules=same,
        named_reader_rules=named,
        entered=entered,
    )


def study_version(*, study: ReaderStudy) -> str:
    """When the study, its readings or references last changed (ISO 8601, UTC)."""
    moments = [
        study.updated_at,
        Reading.objects.filter(assignment__session__study=study).aggregate(m=Max("updated_at"))[
            "m"
        ],
        study.references.aggregate(m=Max("updated_at"))["m"],
    ]
    latest = max(moment for moment in moments if moment is not None)
    # To the microsecond: readings come in bursts, and a second holds many changes.
    return latest.astimezone(dt.UTC).isoformat(timespec="microseconds")


def involves(item: StatRow | records.Confusion, *, reader: str = "", session: str = "") -> bool:
    """Whether a row or confusion matrix concerns the reader and the session ("" for any).

    Comparisons name both sides ("reader-a vs reader-b", "Session 1 vs Session 2"), so a name
    matches either side exactly: "reader-1" is not "reader-10".
    """
    return (not reader or reader in item.reader.split(" vs ")) and (
        not session or session in item.sessions.split(" vs ")
    )


@dataclass(frozen=True)
class Results:
    study: ReaderStudy
    version: str
    made_at: str
    data: records.StudyData
    analysis: records.StudyAnalysis

    def filtered(self, *, reader: str = "", session: str = "") -> list[StatRow]:
        """The rows that involve the reader and the session (either side of "x vs y")."""
        return [row for row in self.analysis.rows if involves(row, reader=reader, session=session)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "study": str(self.study.pk),
            "title": self.study.title,
            "version": self.version,
            "made_at": self.made_at,
            **self.analysis.as_dict(),
        }


def study_results(*, study: ReaderStudy) -> Results:
    # The version is read before the data: a change landing in between makes the data newer
    # than its label (the next export sees the newer version and rebuilds), never older.
    version = study_version(study=study)
    data = load_study_data(study=study)
    return Results(
        study=study,
        version=version,
        made_at=timezone.now().astimezone(dt.UTC).isoformat(timespec="seconds"),
        data=data,
        analysis=analyse.analyse(data),
    )
