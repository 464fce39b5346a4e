"""Raw readings as CSV in long format: one row per answer, every reading (amended ones too).

Long format is what R, pandas and SPSS reshape from: a reader's answer to one question for one
case in one session is a row, with the reading's provenance (status, amendment, time) and the
hidden slot assignment (which arm was A and which was B) that the analysis needs.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.utils.text import slugify

from readerstudy.models import Question, ReaderAssignment, ReaderStudy, Reading, SlotPlacement

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


class _Echo:
    def write(self, value: str) -> str:
        return value


def readings_csv_response(*, study: ReaderStudy) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(guarded(row)) for row in readings_rows(study=study)),
        content_type="text/csv; charset=utf-8",
    )
    name = slugify(study.title) or "study"
    response["Content-Disposition"] = f'attachment; filename="{name}-readings.csv"'
    return response


def readings_csv_text(*, study: ReaderStudy) -> str:
    """The same CSV as one string (tests, commands)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows(guarded(row) for row in readings_rows(study=study))
    return out.getvalue()
