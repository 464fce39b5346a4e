"""Reading the file: decoding, the delimiter and header, and each row into the draft of its
reading (rows of superseded or unfinished readings skipped, at most ``MAX_ROWS``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Mapping
from typing import Any

import charset_normalizer
from django.utils.translation import gettext as _

from readerstudy import questions
from readerstudy.imports.cells import parse_moment, parse_slots, row_cell
from readerstudy.imports.matching import MatchContext, locate, row_value
from readerstudy.imports.results import Errors, ImportDraft, ImportResult
from readerstudy.models import ReadingStatus
from readerstudy.results.sheets import COLUMNS

MAX_ROWS = 100_000


#: Shift_JIS as Excel writes it on a Japanese Windows ("CSV (comma delimited)"): code page 932.
_SHIFT_JIS_FAMILY = {"cp932", "shift_jis", "shift_jis_2004", "shift_jisx0213"}


def decode_upload(data: bytes, errors: Errors) -> str | None:
    """The text of an uploaded CSV: UTF-8 (with or without Excel's BOM) or Shift_JIS/CP932.

    Bytes that are not UTF-8 are read as CP932 only when they decode strictly and the detector
    (charset-normalizer) finds them Shift_JIS too, or finds nothing better: Latin-1 or Korean
    text can decode as CP932 by accident and would be imported as nonsense.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        not_utf8 = exc
    guess = charset_normalizer.from_bytes(data).best()
    guessed = guess.encoding if guess is not None else None
    if guessed is None or guessed in _SHIFT_JIS_FAMILY or guessed.startswith("utf"):
        try:
            return data.decode("cp932")
        except UnicodeDecodeError:
            pass
    line = data[: not_utf8.start].count(b"\n") + 1
    errors.add(
        line,
        "",
        _(
            "the file is neither UTF-8 nor Shift_JIS (byte %(byte)s%(guess)s); "
            "save it as 'CSV UTF-8' and retry"
        )
        % {
            "byte": not_utf8.start + 1,
            "guess": _(", it looks like %(encoding)s") % {"encoding": guessed} if guessed else "",
        },
    )
    return None


def _delimiter(header_line: str) -> str:
    """',' or ';' (European Excel): whichever separates the header's names."""
    return ";" if header_line.count(";") > header_line.count(",") else ","


_REQUIRED_ANY = (
    ("reader",),
    ("question",),
    ("value",),
    ("session", "session_name"),
    ("case", "study_case_id", "position"),
)


def _header(row: list[str], result: ImportResult, errors: Errors) -> dict[str, int] | None:
    names = [name.strip().lower() for name in row]
    columns: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            continue
        if name in columns:
            errors.add(1, name, _("this column appears twice in the header"))
            return None
        columns[name] = index
    missing = [" or ".join(group) for group in _REQUIRED_ANY if not set(group) & set(columns)]
    if missing:
        errors.add(
            1,
            "",
            _(
                "the header (first line) lacks the column(s) %(missing)s; "
                "the export's header is: %(header)s"
            )
            % {"missing": ", ".join(missing), "header": ",".join(COLUMNS)},
        )
        return None
    result.ignored_columns = sorted(set(columns) - set(COLUMNS))
    return columns


def _row_timing(
    row: list[str], line: int, columns: Mapping[str, int], errors: Errors
) -> tuple[dt.datetime | None, dt.datetime | None, float, dict[str, str] | None] | None:
    values: list[Any] = []
    for name in ("opened_at", "submitted_at"):
        text = row_cell(row, columns, name)
        try:
            values.append(parse_moment(text) if text else None)
        except ValueError as exc:
            errors.add(line, name, str(exc))
            return None
    text = row_cell(row, columns, "active_seconds")
    try:
        seconds = float(text.replace(",", ".")) if text else 0.0
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError
    except ValueError:
        errors.add(line, "active_seconds", _("expected a number of seconds, 0 or more"))
        return None
    text = row_cell(row, columns, "slots")
    try:
        slots = parse_slots(text) if text else None
    except ValueError as exc:
        errors.add(line, "slots", str(exc))
        return None
    return values[0], values[1], seconds, slots


def _skip(
    row: list[str], line: int, columns: Mapping[str, int], result: ImportResult, errors: Errors
) -> bool | None:
    """Whether the row is history to skip (superseded or unfinished); ``None``: an error."""
    current = row_cell(row, columns, "is_current").lower()
    if current not in ("", "true", "false"):
        errors.add(line, "is_current", _("expected true or false"))
        return None
    status = row_cell(row, columns, "reading_status").lower()
    if status not in ("", ReadingStatus.SUBMITTED, ReadingStatus.IN_PROGRESS):
        errors.add(line, "reading_status", _("expected submitted or in_progress"))
        return None
    if current == "false":
        result.skipped_superseded_rows += 1
        return True
    if status == ReadingStatus.IN_PROGRESS:
        result.skipped_in_progress_rows += 1
        return True
    return False


def read_rows(
    text: str, ctx: MatchContext, result: ImportResult, errors: Errors
) -> dict[tuple[Any, Any], ImportDraft]:
    drafts: dict[tuple[Any, Any], ImportDraft] = {}
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        errors.add(1, "", _("the header cannot be read as CSV: %(error)s") % {"error": exc})
        return drafts
    if header is None or not any(cell.strip() for cell in header):
        errors.add(
            1,
            "",
            _("the file is empty; the first line must be the header: %(header)s")
            % {"header": ",".join(COLUMNS)},
        )
        return drafts
    columns = _header(header, result, errors)
    if columns is None:
        return drafts
    width = len(header)
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as exc:
            errors.add(line, "", _("not readable as CSV: %(error)s") % {"error": exc})
            return drafts
        if row is None:
            break
        line = reader.line_num  # a quoted cell may span lines: the row ends here
        if not any(cell.strip() for cell in row):
            continue
        result.rows += 1
        if result.rows > MAX_ROWS:
            errors.add(line, "", _("more than %(rows)s rows; split the file") % {"rows": MAX_ROWS})
            return drafts
        if len(row) != width:
            errors.add(
                line,
                "",
                _("%(cells)s cells where the header has %(width)s")
                % {"cells": len(row), "width": width},
            )
            continue
        skip = _skip(row, line, columns, result, errors)
        if skip is None or skip:
            continue
        located = locate(row, line, columns, ctx, errors)
        typed = row_value(row, line, columns, ctx, errors)
        if located is None:
            continue
        assignment, study_case = located
        draft = drafts.get((assignment.pk, study_case.pk))
        timing = _row_timing(row, line, columns, errors)
        if draft is None:
            draft = drafts[(assignment.pk, study_case.pk)] = ImportDraft(
                assignment, study_case, line
            )
        if typed is None or timing is None:
            draft.broken = True
            continue
        spec, value = typed
        if not draft.timed:
            draft.opened_at, draft.submitted_at, draft.active_seconds, draft.slots = timing
            draft.timed = True
        elif timing != (draft.opened_at, draft.submitted_at, draft.active_seconds, draft.slots):
            errors.add(
                line,
                "",
                _(
                    "opened_at, submitted_at, active_seconds or slots differ from line "
                    "%(line)s, which is the same reader, session and case"
                )
                % {"line": draft.line},
            )
            draft.broken = True
            continue
        if spec.key in draft.lines:
            errors.add(
                line,
                "question",
                _(
                    "duplicate: line %(line)s already answers %(key)s for this reader, session "
                    "and case"
                )
                % {"line": draft.lines[spec.key], "key": spec.key},
            )
            draft.broken = True
            continue
        draft.lines[spec.key] = line
        if spec.type == questions.COMPUTED:
            result.computed_values_ignored += 1
        elif value is not None:
            draft.answers[spec.key] = value
    return drafts
