"""Step 3 of a study's results: its sheets (statistics, per reader, comparatives, readings,
design, CNR images) and their files' bytes: an XLSX workbook (rust_xlsxwriter) and a ZIP of CSVs.

The readings sheet is the long format: one row per answer, every reading (amended ones too),
with the reading's provenance (status, amendment, time) and the hidden slot assignment (which
arm was A and which was B) that the analysis needs; R, pandas and SPSS reshape from it, and the
CSV import (``readerstudy.imports``) reads it back. Text a spreadsheet would run as a formula is
guarded in every CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from rustpy_xlsxwriter import FastExcel

from readerstudy.models import (
    Question,
    ReaderAssignment,
    ReaderStudy,
    Reading,
    SlotPlacement,
)
from readerstudy.results import records
from readerstudy.results.load import Results

COLUMNS = (
    "study",
    "session",
    "session_name",
    "reader",
    "case",
    "study_case_id",
    "position",
    "reading_id",
    "reading_status",
    "is_current",
    "supersedes",
    "amendment_reason",
    "question",
    "question_type",
    "value",
    "opened_at",
    "submitted_at",
    "active_seconds",
    "slots",
)


# Spreadsheet programs run cells that start with these as formulas (CSV injection). Such text
# is written with a leading "'"; so is text that starts with "'" itself, so that the import
# (``readerstudy.imports.cells._unquote``) can undo the guard exactly.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_GUARDED_START = (*_FORMULA_START, "'")


def guard_text(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula, with a leading "'"; other values as is."""
    if isinstance(value, str) and value.startswith(_GUARDED_START):
        return "'" + value
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def guarded(row: list[str]) -> list[str]:
    """A row for a CSV file: every text a spreadsheet would run as a formula guarded."""
    return [guard_text(value) for value in row]


def readings_rows(*, study: ReaderStudy) -> Iterator[list[str]]:
    """The header and one row per answer (unanswered questions of a reading give empty values).

    The cells are the values as text, unguarded: a CSV writer guards them (``guarded``), an
    XLSX sheet needs no guard (its text cells are never formulas).

    Read as value tuples, not model instances: a large study has tens of thousands of readings
    and this feeds the XLSX export, whose first build is timed (bench/statistics.py).
    """
    yield list(COLUMNS)
    question_keys = list(
        Question.objects.filter(study=study).order_by("order", "id").values_list("key", "type")
    )
    slots: dict[tuple[Any, Any], str] = {}
    placements = (
        SlotPlacement.objects.filter(assignment__session__study=study)
        .order_by("slot_index")
        .values_list("assignment_id", "study_case_id", "slot", "arm", "series__role")
    )
    for assignment_id, study_case_id, slot, arm, role in placements:
        key = (assignment_id, study_case_id)
        entry = f"{slot}={arm or role}"
        slots[key] = f"{slots[key]};{entry}" if key in slots else entry
    positions: dict[Any, dict[str, int]] = {}
    for assignment_id, case_order in ReaderAssignment.objects.filter(
        session__study=study
    ).values_list("id", "case_order"):
        positions[assignment_id] = {case: index for index, case in enumerate(case_order, 1)}
    readings = (
        Reading.objects.filter(assignment__session__study=study)
        .order_by(
            "assignment__session__order",
            "assignment__reader__username",
            "study_case__order",
            "created_at",
        )
        .values_list(
            "assignment_id",
            "assignment__session__order",
            "assignment__session__name",
            "assignment__reader__username",
            "study_case__case__label",
            "study_case_id",
            "id",
            "status",
            "is_current",
            "supersedes_id",
            "amendment_reason",
            "answers",
            "opened_at",
            "submitted_at",
            "active_seconds",
        )
    )
    title = _cell(study.title)
    for (
        assignment_id,
        session_order,
        session_name,
        reader,
        case_label,
        study_case_id,
        reading_id,
        status,
        is_current,
        supersedes_id,
        amendment_reason,
        answers,
        opened_at,
        submitted_at,
        active_seconds,
    ) in readings.iterator(chunk_size=5000):
        common = [
            title,
            str(session_order),
            _cell(session_name),
            _cell(reader),
            _cell(case_label),
            str(study_case_id),
            str(positions[assignment_id][str(study_case_id)]),
            str(reading_id),
            status,
            _cell(is_current),
            str(supersedes_id or ""),
            _cell(amendment_reason),
        ]
        timing = [
            opened_at.isoformat(),
            submitted_at.isoformat() if submitted_at else "",
            f"{active_seconds:.1f}",
            _cell(slots.get((assignment_id, study_case_id), "")),
        ]
        for question_key, question_type in question_keys:
            yield [*common, question_key, question_type, _cell(answers.get(question_key)), *timing]


#: Written first in every CSV: Excel reads a CSV without it in the system's code page
#: (CP932 in Japan) and shows UTF-8 text as mojibake.
UTF8_BOM = "\ufeff"


def readings_csv_text(*, study: ReaderStudy) -> str:
    """The same CSV as one string (tests, commands)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows(guarded(row) for row in readings_rows(study=study))
    return out.getvalue()


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


def _number(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def stat_table(rows: Iterable[records.StatRow]) -> list[list[Any]]:
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
        "Readings": list(readings_rows(study=results.study)),
        "Design": _design_table(results.study),
    }
    if results.analysis.cnr_images:
        sheets["CNR images"] = _cnr_table(results.analysis.cnr_images)
    return sheets


def _cnr_table(images: Sequence[records.CnrImage]) -> list[list[Any]]:
    """One row per (reader, case, reconstruction) image with its ROI values and CNR."""
    columns = [field.name for field in dataclasses.fields(records.CnrImage)]
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
            text = io.StringIO(UTF8_BOM)
            text.seek(len(UTF8_BOM))
            csv.writer(text).writerows(guarded(row) for row in rows)
            archive.writestr(f"{title.lower().replace(' ', '_')}.csv", text.getvalue())
    return buffer.getvalue()
