"""A study's results for coordinators: the analysis loaded from the database, exports (XLSX,
CSV files in a ZIP, JSON) and plots (SVG, matplotlib). Every export carries the study version
(the time of its last change) and the time it was made.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import math
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Max
from django.utils import timezone
from rustpy_xlsxwriter import FastExcel

from readerstudy import analysis, exports
from readerstudy.analysis import StatRow
from readerstudy.models import (
    MemberRole,
    ReaderAssignment,
    ReaderStudy,
    Reading,
    ReadingStatus,
    ReferenceSource,
    ReferenceStandard,
    SlotPlacement,
)
from readerstudy.services import study_specs

#: An export's sheets by title, each its rows (the header row first).
Sheets = dict[str, list[list[Any]]]

STAT_COLUMNS = (
    "comparison",
    "question",
    "question_label",
    "reader",
    "sessions",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "p",
    "n",
    "successes",
    "display",
    "note",
)


def load_study_data(*, study: ReaderStudy) -> analysis.StudyData:
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
        analysis.ReadingRow(
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
        analysis.SameReaderRule(ref.session.order, ref.reference_session.order, ref.provenance)
        for ref in references
        if ref.source == ReferenceSource.SESSION_OF_SAME_READER
        and ref.session is not None
        and ref.reference_session is not None
    ]
    named = [
        analysis.NamedReaderRule(
            ref.reference_reader.get_username(),
            ref.session.order if ref.session else None,
            ref.provenance,
        )
        for ref in references
        if ref.source == ReferenceSource.NAMED_READER and ref.reference_reader is not None
    ]
    entered = [
        analysis.EnteredReference(
            str(ref.study_case_id), ref.question.key, ref.values.get("value"), ref.source
        )
        for ref in references
        if ref.question is not None and ref.study_case_id is not None
    ]
    return analysis.StudyData(
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


def involves(item: StatRow | analysis.Confusion, *, reader: str = "", session: str = "") -> bool:
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
    data: analysis.StudyData
    analysis: analysis.StudyAnalysis

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
        analysis=analysis.analyse(data),
    )


def _number(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def stat_table(rows: Iterable[analysis.StatRow]) -> list[list[Any]]:
    return [
        [
            row.comparison,
            row.question,
            row.question_label,
            row.reader,
            row.sessions,
            row.statistic,
            _number(row.value),
            _number(row.ci_low),
            _number(row.ci_high),
            _number(row.p),
            row.n,
            row.successes,
            row.display,
            row.note,
        ]
        for row in rows
    ]


def _design_table(study: ReaderStudy) -> list[list[Any]]:
    rows: list[list[Any]] = [["section", "item", "value"]]
    for session in study.sessions.order_by("order"):
        rows.append(
            ["session", session.name, f"order {session.order}, washout {session.washout_days} days"]
        )
        rows.append(["hanging protocol", session.name, str(session.hanging_protocol)])
    assignments = ReaderAssignment.objects.filter(session__study=study).select_related(
        "session", "reader"
    )
    for item in assignments.order_by("session__order", "reader__username"):
        rows.append(
            [
                "assignment",
                f"{item.reader.get_username()} / {item.session.name}",
                f"seed {item.seed}; order {','.join(item.case_order)}; "
                f"finished {item.finished_at.isoformat() if item.finished_at else '-'}",
            ]
        )
    for ref in study.references.order_by("created_at"):
        rows.append(["reference", ref.get_source_display(), ref.provenance or "-"])
    return rows


def export_sheets(results: Results) -> Sheets:
    """Every sheet of the exports, by title: the header row first, then the body."""
    about = [
        ["item", "value"],
        ["study", results.study.title],
        ["version", results.version],
        ["made at", results.made_at],
    ]
    comparatives: list[list[Any]] = [
        ["question", "reader", "session", "counts", "n", "sign test p", "note"]
    ]
    for summary in results.analysis.comparatives:
        counts = ", ".join(f"{key}: {value}" for key, value in sorted(summary.counts.items()))
        comparatives.append(
            [
                summary.question,
                summary.reader,
                summary.session,
                counts,
                summary.n,
                _number(summary.sign_test_p),
                summary.note,
            ]
        )
    per_reader = [["reader", "question", "sessions", "statistic", "display"]]
    for row in sorted(results.analysis.rows, key=lambda r: (r.reader, r.question, r.statistic)):
        if row.comparison == "reference":
            per_reader.append([row.reader, row.question, row.sessions, row.statistic, row.display])
    sheets = {
        "About": about + [["warning", warning] for warning in results.analysis.warnings],
        "Statistics": [list(STAT_COLUMNS), *stat_table(results.analysis.rows)],
        "Per reader": per_reader,
        "Comparative": comparatives,
        "Readings": list(exports.readings_rows(study=results.study)),
        "Design": _design_table(results.study),
    }
    if results.analysis.cnr_images:
        sheets["CNR images"] = _cnr_table(results.analysis.cnr_images)
    return sheets


def _cnr_table(images: Sequence[analysis.CnrImage]) -> list[list[Any]]:
    """One row per (reader, case, reconstruction) image with its ROI values and CNR."""
    columns = [field.name for field in dataclasses.fields(analysis.CnrImage)]
    return [columns] + [[_number(getattr(image, column)) for column in columns] for image in images]


def _records(rows: Sequence[Sequence[Any]]) -> Iterator[dict[str, Any]]:
    """A sheet's body as the records the XLSX writer takes: keyed by the header row (which the
    writer writes from the keys), padded to the header's width.

    Numbers stay numbers; NaN becomes an empty cell. A text cell is never a formula in XLSX.
    """
    header, body = rows[0], rows[1:]
    keys = [str(name) for name in header]
    if len(set(keys)) != len(keys):
        raise ValueError(f"sheet header has repeated names: {keys}")
    for row in body:
        yield dict(zip(keys, [*row, *[None] * (len(keys) - len(row))], strict=True))


def workbook_bytes(sheets: Sheets) -> bytes:
    """One XLSX workbook: about, statistics, per-reader tables, comparatives, readings, design.

    Written by rust_xlsxwriter (through rustpy-xlsxwriter): the long-format readings sheet of a
    large study has millions of cells, which openpyxl writes at about 12 microseconds each
    (docs/performance.md).
    """
    buffer = io.BytesIO()
    workbook = FastExcel(buffer)
    for title, rows in sheets.items():
        workbook.sheet(title, _records(rows))
    workbook.save()
    return buffer.getvalue()


def csv_zip_bytes(sheets: Sheets) -> bytes:
    """The workbook's sheets as CSV files in one ZIP.

    Text a spreadsheet would run as a formula is guarded as in the readings CSV.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for title, rows in sheets.items():
            text = io.StringIO()
            csv.writer(text).writerows(exports.guarded(row) for row in rows)
            archive.writestr(f"{title.lower().replace(' ', '_')}.csv", text.getvalue())
    return buffer.getvalue()


# --- Plots ---------------------------------------------------------------------------------


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: without the XML prolog and doctype


def accuracy_plot(rows: Sequence[analysis.StatRow]) -> str:
    """Bars of accuracy with their Wilson intervals, one group per question, one bar per reader."""
    from matplotlib.figure import Figure

    chosen = [row for row in rows if row.statistic == "accuracy" and not math.isnan(row.value)]
    if not chosen:
        return ""
    questions = list(dict.fromkeys(row.question_label for row in chosen))
    readers = list(dict.fromkeys(row.reader for row in chosen))
    figure = Figure(figsize=(max(6, 1.2 * len(questions)), 3.2))
    axes = figure.add_subplot()
    width = 0.8 / len(readers)
    for index, reader in enumerate(readers):
        mine = {row.question_label: row for row in chosen if row.reader == reader}
        xs = [q_index + index * width for q_index, q in enumerate(questions) if q in mine]
        values = [100 * mine[q].value for q in questions if q in mine]
        low = [100 * (mine[q].value - mine[q].ci_low) for q in questions if q in mine]
        high = [100 * (mine[q].ci_high - mine[q].value) for q in questions if q in mine]
        axes.bar(xs, values, width, yerr=[low, high], capsize=3, label=reader)
    axes.set_xticks(
        [i + 0.4 - width / 2 for i in range(len(questions))], questions, rotation=20, ha="right"
    )
    axes.set_ylabel("Accuracy (%) with 95% CI")
    axes.set_ylim(0, 105)
    axes.legend(fontsize="small")
    return _svg(figure)


def confusion_plot(confusion: analysis.Confusion) -> str:
    from matplotlib.figure import Figure

    size = max(2.4, 0.45 * len(confusion.categories) + 1.5)
    figure = Figure(figsize=(size, size))
    axes = figure.add_subplot()
    axes.imshow(confusion.matrix, cmap="Blues")
    ticks = range(len(confusion.categories))
    axes.set_xticks(ticks, confusion.categories, rotation=45, ha="right")
    axes.set_yticks(ticks, confusion.categories)
    axes.set_xlabel("reference")
    axes.set_ylabel("answer")
    for i, row in enumerate(confusion.matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center")
    axes.set_title(f"{confusion.question}\n{confusion.reader}", fontsize="small")
    return _svg(figure)
