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

from readerstudy.models import Question, ReaderStudy, Reading, SlotPlacement

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

# Spreadsheet programs run cells that start with these as formulas (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def readings_rows(*, study: ReaderStudy) -> Iterator[list[str]]:
    """The header and one row per answer (unanswered questions of a reading give empty values)."""
    yield list(COLUMNS)
    question_list = list(Question.objects.filter(study=study).order_by("order", "id"))
    slots: dict[tuple[Any, Any], str] = {}
    for placement in SlotPlacement.objects.filter(assignment__session__study=study).order_by(
        "slot_index"
    ):
        key = (placement.assignment_id, placement.study_case_id)
        entry = f"{placement.slot}={placement.arm or placement.series.role}"
        slots[key] = f"{slots[key]};{entry}" if key in slots else entry
    readings = (
        Reading.objects.filter(assignment__session__study=study)
        .select_related("assignment__reader", "assignment__session", "study_case__case")
        .order_by(
            "assignment__session__order",
            "assignment__reader__username",
            "study_case__order",
            "created_at",
        )
    )
    for reading in readings.iterator():
        assignment = reading.assignment
        position = assignment.case_order.index(str(reading.study_case_id)) + 1
        common = [
            _cell(study.title),
            str(assignment.session.order),
            _cell(assignment.session.name),
            _cell(assignment.reader.get_username()),
            _cell(reading.study_case.case.label),
            str(reading.study_case_id),
            str(position),
            str(reading.pk),
            reading.status,
            _cell(reading.is_current),
            str(reading.supersedes_id or ""),
            _cell(reading.amendment_reason),
        ]
        timing = [
            reading.opened_at.isoformat(),
            reading.submitted_at.isoformat() if reading.submitted_at else "",
            f"{reading.active_seconds:.1f}",
            _cell(slots.get((assignment.pk, reading.study_case_id), "")),
        ]
        for question in question_list:
            value = reading.answers.get(question.key)
            yield [*common, question.key, question.type, _cell(value), *timing]


class _Echo:
    def write(self, value: str) -> str:
        return value


def readings_csv_response(*, study: ReaderStudy) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in readings_rows(study=study)),
        content_type="text/csv; charset=utf-8",
    )
    name = slugify(study.title) or "study"
    response["Content-Disposition"] = f'attachment; filename="{name}-readings.csv"'
    return response


def readings_csv_text(*, study: ReaderStudy) -> str:
    """The same CSV as one string (tests, commands)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows(readings_rows(study=study))
    return out.getvalue()
