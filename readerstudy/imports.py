"""Import readings recorded outside the platform from a CSV file: the inverse of ``exports``.

The file is the long format ``readerstudy.exports`` writes (one row per answer), so an export
of one study imports into another study of the same design. Only ``reader``, ``session`` (or
``session_name``), ``case`` (or ``study_case_id`` or ``position``), ``question`` and ``value``
are needed; the other export columns are read when present (``question_type`` must match,
``is_current=false`` and ``reading_status=in_progress`` rows are skipped, ``opened_at`` /
``submitted_at`` / ``active_seconds`` are kept, ``slots`` says which arm each slot showed) and
the rest (``study``, ``reading_id``, ``supersedes``, ...) describe the source and are ignored.

All or nothing: the whole file is checked first (every cell typed and validated with the
question's one JSON Schema from ``readerstudy.questions``) and any error stores nothing.
Computed answers are recomputed, never imported. A reading that already exists for a reader,
session and case is an error unless ``replace``: then the import supersedes it (kept, as an
amendment does). Each imported reading is marked ``source=imported`` and has a
``reading.imported`` audit event naming the file and its sha256.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from accounts.models import User
from accounts.services import audit_event_record
from readerstudy import questions, services
from readerstudy.blinding import blinded_uid
from readerstudy.export_files import exports_schedule
from readerstudy.exports import COLUMNS
from readerstudy.models import (
    MemberRole,
    Question,
    ReaderAssignment,
    ReaderStudy,
    Reading,
    ReadingSource,
    ReadingStatus,
    SlotPlacement,
    StudyCase,
    StudyMembership,
    StudyStatus,
)

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_ERRORS = 100

# The export quotes text starting with these with "'" against spreadsheet formula injection.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")
_LEVEL_RANGE = re.compile(r"([A-Za-z][0-9]{1,2})\s*[-\u2013/]\s*([A-Za-z][0-9]{1,2})")


class ImportTooLargeError(services.ReaderStudyError):
    status = 413


@dataclass(frozen=True)
class ImportIssue:
    """One problem of the file: its line (1 is the header), column and what is wrong."""

    line: int
    column: str
    message: str


@dataclass
class ImportResult:
    filename: str
    sha256: str
    dry_run: bool
    replace: bool
    rows: int = 0
    readings: int = 0
    replaced: int = 0
    skipped_superseded_rows: int = 0
    skipped_in_progress_rows: int = 0
    computed_values_ignored: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    errors: list[ImportIssue] = field(default_factory=list)
    errors_truncated: bool = False
    stored: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def message(self) -> str:
        if self.errors:
            more = " (the first ones shown)" if self.errors_truncated else ""
            return f"The file has errors{more}; nothing was imported."
        verb = "would import" if self.dry_run else "imported"
        text = f"{self.rows} row(s) read: {verb} {self.readings} reading(s)"
        if self.replaced:
            text += f", superseding {self.replaced} existing reading(s)"
        return text + "."

    def as_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "sha256": self.sha256,
            "dry_run": self.dry_run,
            "replace": self.replace,
            "stored": self.stored,
            "rows": self.rows,
            "readings": self.readings,
            "replaced": self.replaced,
            "skipped_superseded_rows": self.skipped_superseded_rows,
            "skipped_in_progress_rows": self.skipped_in_progress_rows,
            "computed_values_ignored": self.computed_values_ignored,
            "ignored_columns": self.ignored_columns,
            "errors": [
                {"line": e.line, "column": e.column, "message": e.message} for e in self.errors
            ],
            "errors_truncated": self.errors_truncated,
            "message": self.message,
        }


class _TooManyErrors(Exception):
    pass


class _Errors:
    def __init__(self, result: ImportResult) -> None:
        self.result = result

    def add(self, line: int, column: str, message: str) -> None:
        if len(self.result.errors) >= MAX_ERRORS:
            self.result.errors_truncated = True
            raise _TooManyErrors
        self.result.errors.append(ImportIssue(line, column, message))


@dataclass
class _Draft:
    """The rows of one reading to import (reader, session, case)."""

    assignment: ReaderAssignment
    study_case: StudyCase
    line: int
    answers: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    opened_at: dt.datetime | None = None
    submitted_at: dt.datetime | None = None
    active_seconds: float = 0.0
    slots: dict[str, str] | None = None
    # Some rows of this reading had errors: a missing answer is then no news.
    broken: bool = False
    timed: bool = False
    existing: Reading | None = None
    new_slots: dict[str, str] | None = None


# --- Cells -----------------------------------------------------------------------------------


def _unquote(text: str) -> str:
    """Undo the export's formula guard ("'=..." -> "=...")."""
    if len(text) > 1 and text[0] == "'" and text[1] in _FORMULA_START:
        return text[1:]
    return text


def _integer(text: str) -> int:
    if _INTEGER.fullmatch(text):
        return int(text)
    number = float(text.replace(",", ".") if _DECIMAL_COMMA.fullmatch(text) else text)
    if not math.isfinite(number) or number != int(number):
        raise ValueError
    return int(number)  # "2.0" from a spreadsheet


def _number(text: str, integer: bool) -> int | float:
    if integer or _INTEGER.fullmatch(text):
        return _integer(text)
    if _DECIMAL_COMMA.fullmatch(text):  # "3,5" from a European spreadsheet
        text = text.replace(",", ".")
    return float(text)


def _by_label(text: str, choices: Sequence[Mapping[str, Any]]) -> Any:
    wanted = text.casefold()
    for choice in choices:
        if str(choice["label"]).casefold() == wanted:
            return choice["value"]
    return None


def _level(text: str) -> str:
    return text.lower() if text.lower() == questions.NO_LEVEL else text.upper()


def cell_value(spec: questions.QuestionSpec, text: str) -> Any:
    """The typed answer a cell's text stands for (``None``: not answered).

    Raises ``ValueError`` when the text cannot be that type; the caller validates the result
    against the question's JSON Schema (ranges, enums, levels).
    """
    text = text.strip()
    if text == "":
        return None
    kind = spec.type
    if kind == questions.YES_NO:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError("expected true/false (or yes/no)")
    if kind in (questions.ORDINAL, questions.LIKERT):
        try:
            return _integer(text)
        except ValueError:
            pass
        if kind == questions.ORDINAL:
            value = _by_label(text, spec.options.get("values", []))
        else:
            labels = spec.options.get("labels") or questions.DEFAULT_LIKERT_LABELS
            value = _by_label(text, [{"value": int(k), "label": v} for k, v in labels.items()])
        if value is None:
            raise ValueError("expected a whole number (or a value's label)")
        return value
    if kind == questions.NUMBER:
        try:
            return _number(text, bool(spec.options.get("integer")))
        except ValueError:
            raise ValueError(
                "expected a whole number" if spec.options.get("integer") else "expected a number"
            ) from None
    if kind == questions.SINGLE_CHOICE:
        choices = spec.options.get("choices", [])
        if any(choice["value"] == text for choice in choices):
            return text
        return _by_label(text, choices) or text
    if kind == questions.COMPARATIVE:
        for value in questions.COMPARATIVE_VALUES:
            if text.casefold() == value.casefold():
                return value
        labels = {**questions.DEFAULT_COMPARATIVE_LABELS, **spec.options.get("labels", {})}
        found = _by_label(text, [{"value": k, "label": v} for k, v in labels.items()])
        return found if found is not None else text
    if kind == questions.VERTEBRAL_LEVEL:
        if text.startswith("{"):
            value = _json(text)
            if isinstance(value, dict):
                return {k: _level(v) if isinstance(v, str) else v for k, v in value.items()}
            return value
        match = _LEVEL_RANGE.fullmatch(text)
        if match:
            return {"from": _level(match.group(1)), "to": _level(match.group(2))}
        return _level(text)
    if kind == questions.ROI:
        return _json(text)
    return text  # text (and computed, which the caller ignores)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"expected JSON ({exc.msg})") from None


def _parse_moment(text: str) -> dt.datetime:
    moment = parse_datetime(text.strip())
    if moment is None:
        raise ValueError("expected an ISO 8601 date and time, e.g. 2025-01-31T14:05:00+00:00")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _parse_slots(text: str) -> dict[str, str]:
    slots: dict[str, str] = {}
    for part in text.split(";"):
        label, sep, arm = part.partition("=")
        if not sep or not label.strip() or not arm.strip() or label.strip() in slots:
            raise ValueError("expected slot=arm pairs separated by ';', e.g. A=NC-CTM;B=MRM")
        slots[label.strip()] = arm.strip()
    return slots


# --- Reading the file ------------------------------------------------------------------------


def _decode(data: bytes, errors: _Errors) -> str | None:
    try:
        return data.decode("utf-8-sig")  # with or without the BOM Excel writes
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        errors.add(
            line,
            "",
            f"the file is not UTF-8 (byte {exc.start + 1}); save it as 'CSV UTF-8' and retry",
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


def _header(row: list[str], result: ImportResult, errors: _Errors) -> dict[str, int] | None:
    names = [name.strip().lower() for name in row]
    columns: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            continue
        if name in columns:
            errors.add(1, name, "this column appears twice in the header")
            return None
        columns[name] = index
    missing = [" or ".join(group) for group in _REQUIRED_ANY if not set(group) & set(columns)]
    if missing:
        errors.add(
            1,
            "",
            "the header (first line) lacks the column(s) "
            + ", ".join(missing)
            + f"; the export's header is: {','.join(COLUMNS)}",
        )
        return None
    result.ignored_columns = sorted(set(columns) - set(COLUMNS))
    return columns


class _Context:
    """The study's readers, sessions, cases and questions, loaded once."""

    def __init__(self, study: ReaderStudy) -> None:
        self.study = study
        self.questions = {q.key: q for q in Question.objects.filter(study=study)}
        self.specs = services.study_specs(study)
        self.spec_by_key = {spec.key: spec for spec in self.specs}
        readers = StudyMembership.objects.filter(
            study=study, role=MemberRole.READER
        ).select_related("user")
        self.readers = {m.user.get_username(): m.user for m in readers}
        self.sessions = {s.order: s for s in study.sessions.all()}
        self.session_by_name = {s.name: s for s in self.sessions.values()}
        self.assignments = {
            (a.reader_id, a.session_id): a
            for a in ReaderAssignment.objects.filter(session__study=study).select_related(
                "reader", "session", "protocol_session"
            )
        }
        cases = list(study.study_cases.select_related("case"))
        self.case_by_label = {sc.case.label: sc for sc in cases}
        self.case_by_id = {str(sc.pk): sc for sc in cases}
        self.placements: dict[tuple[Any, Any], list[SlotPlacement]] = {}
        for placement in (
            SlotPlacement.objects.filter(assignment__session__study=study)
            .select_related("series")
            .order_by("slot_index")
        ):
            key = (placement.assignment_id, placement.study_case_id)
            self.placements.setdefault(key, []).append(placement)
        self.current: dict[tuple[Any, Any], Reading] = {}
        self.read: set[tuple[Any, Any]] = set()
        for reading in Reading.objects.filter(assignment__session__study=study):
            key = (reading.assignment_id, reading.study_case_id)
            self.read.add(key)
            if reading.is_current:
                self.current[key] = reading


def _cell(row: list[str], columns: Mapping[str, int], name: str) -> str:
    index = columns.get(name)
    return _unquote(row[index].strip()) if index is not None else ""


def _locate(
    row: list[str], line: int, columns: Mapping[str, int], ctx: _Context, errors: _Errors
) -> tuple[ReaderAssignment, StudyCase] | None:
    """The reader's assignment and the case a row is about, or ``None`` (errors added)."""
    username = _cell(row, columns, "reader")
    reader = ctx.readers.get(username)
    if reader is None:
        errors.add(line, "reader", f"{username!r} is not a reader of this study")
        return None
    order_text, name = _cell(row, columns, "session"), _cell(row, columns, "session_name")
    session = None
    if order_text:
        if not order_text.isdigit() or int(order_text) not in ctx.sessions:
            errors.add(line, "session", f"this study has no session {order_text!r}")
            return None
        session = ctx.sessions[int(order_text)]
        if name and name != session.name:
            errors.add(
                line, "session_name", f"session {order_text} is called {session.name!r} here"
            )
            return None
    elif name:
        session = ctx.session_by_name.get(name)
        if session is None:
            errors.add(line, "session_name", f"this study has no session {name!r}")
            return None
    else:
        errors.add(line, "session", "the session is empty")
        return None
    assignment = ctx.assignments.get((reader.pk, session.pk))
    if assignment is None:
        errors.add(line, "reader", f"{username!r} has no assignment in {session.name}")
        return None
    label, case_id = _cell(row, columns, "case"), _cell(row, columns, "study_case_id")
    position = _cell(row, columns, "position")
    study_case = None
    if label:
        study_case = ctx.case_by_label.get(label)
        if study_case is None:
            errors.add(line, "case", f"this study has no case {label!r}")
            return None
        # The id of another study's case (an export of another study) is ignored; one of this
        # study that names a different case is a contradiction.
        other = ctx.case_by_id.get(case_id)
        if other is not None and other.pk != study_case.pk:
            errors.add(line, "study_case_id", f"this id is not the case {label!r}")
            return None
    elif case_id:
        study_case = ctx.case_by_id.get(case_id)
        if study_case is None:
            errors.add(line, "study_case_id", f"this study has no case {case_id!r}")
            return None
    elif position:
        if not position.isdigit() or not 1 <= int(position) <= len(assignment.case_order):
            errors.add(
                line,
                "position",
                f"{username} reads {len(assignment.case_order)} cases in {session.name}; "
                f"no position {position!r}",
            )
            return None
        study_case = ctx.case_by_id.get(assignment.case_order[int(position) - 1])
    if study_case is None or str(study_case.pk) not in assignment.case_order:
        errors.add(line, "case", "the case is empty or not in this reader's cases")
        return None
    return assignment, study_case


def _row_value(
    row: list[str], line: int, columns: Mapping[str, int], ctx: _Context, errors: _Errors
) -> tuple[questions.QuestionSpec, Any] | None:
    key = _cell(row, columns, "question")
    spec = ctx.spec_by_key.get(key)
    if spec is None:
        errors.add(line, "question", f"this study has no question {key!r}")
        return None
    given_type = _cell(row, columns, "question_type")
    if given_type and given_type != spec.type:
        errors.add(line, "question_type", f"{key} is a {spec.type} question here, not {given_type}")
        return None
    if spec.type == questions.COMPUTED:
        return spec, None
    try:
        value = cell_value(spec, _cell(row, columns, "value"))
        questions.validate_answer(spec, value)
    except questions.AnswerError as exc:
        message = _clearer(spec, value, exc.errors[key])
        errors.add(line, "value", f"{key} ({spec.type}): {message}")
        return None
    except ValueError as exc:
        errors.add(line, "value", f"{key} ({spec.type}): {exc}")
        return None
    return spec, value


def _clearer(spec: questions.QuestionSpec, value: Any, message: str) -> str:
    """For a given answer, the complaint of the answer's own schema rather than that of its
    "or null" branch ("... is not of type 'null'" says nothing useful about an ROI)."""
    if not message.endswith("is not of type 'null'"):
        return message
    schema = questions.answer_schema(spec)["anyOf"][0]
    error = best_match(Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return message
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


def _row_timing(
    row: list[str], line: int, columns: Mapping[str, int], errors: _Errors
) -> tuple[dt.datetime | None, dt.datetime | None, float, dict[str, str] | None] | None:
    values: list[Any] = []
    for name in ("opened_at", "submitted_at"):
        text = _cell(row, columns, name)
        try:
            values.append(_parse_moment(text) if text else None)
        except ValueError as exc:
            errors.add(line, name, str(exc))
            return None
    text = _cell(row, columns, "active_seconds")
    try:
        seconds = float(text.replace(",", ".")) if text else 0.0
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError
    except ValueError:
        errors.add(line, "active_seconds", "expected a number of seconds, 0 or more")
        return None
    text = _cell(row, columns, "slots")
    try:
        slots = _parse_slots(text) if text else None
    except ValueError as exc:
        errors.add(line, "slots", str(exc))
        return None
    return values[0], values[1], seconds, slots


def _skip(
    row: list[str], line: int, columns: Mapping[str, int], result: ImportResult, errors: _Errors
) -> bool | None:
    """Whether the row is history to skip (superseded or unfinished); ``None``: an error."""
    current = _cell(row, columns, "is_current").lower()
    if current not in ("", "true", "false"):
        errors.add(line, "is_current", "expected true or false")
        return None
    status = _cell(row, columns, "reading_status").lower()
    if status not in ("", ReadingStatus.SUBMITTED, ReadingStatus.IN_PROGRESS):
        errors.add(line, "reading_status", "expected submitted or in_progress")
        return None
    if current == "false":
        result.skipped_superseded_rows += 1
        return True
    if status == ReadingStatus.IN_PROGRESS:
        result.skipped_in_progress_rows += 1
        return True
    return False


def _read_rows(
    text: str, ctx: _Context, result: ImportResult, errors: _Errors
) -> dict[tuple[Any, Any], _Draft]:
    drafts: dict[tuple[Any, Any], _Draft] = {}
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        errors.add(1, "", f"the header cannot be read as CSV: {exc}")
        return drafts
    if header is None or not any(cell.strip() for cell in header):
        errors.add(1, "", f"the file is empty; the first line must be the header: {COLUMNS}")
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
            errors.add(line, "", f"not readable as CSV: {exc}")
            return drafts
        if row is None:
            break
        line = reader.line_num  # a quoted cell may span lines: the row ends here
        if not any(cell.strip() for cell in row):
            continue
        result.rows += 1
        if result.rows > MAX_ROWS:
            errors.add(line, "", f"more than {MAX_ROWS} rows; split the file")
            return drafts
        if len(row) != width:
            errors.add(line, "", f"{len(row)} cells where the header has {width}")
            continue
        skip = _skip(row, line, columns, result, errors)
        if skip is None or skip:
            continue
        located = _locate(row, line, columns, ctx, errors)
        typed = _row_value(row, line, columns, ctx, errors)
        if located is None:
            continue
        assignment, study_case = located
        draft = drafts.get((assignment.pk, study_case.pk))
        timing = _row_timing(row, line, columns, errors)
        if draft is None:
            draft = drafts[(assignment.pk, study_case.pk)] = _Draft(assignment, study_case, line)
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
                f"opened_at, submitted_at, active_seconds or slots differ from line "
                f"{draft.line}, which is the same reader, session and case",
            )
            draft.broken = True
            continue
        if spec.key in draft.lines:
            errors.add(
                line,
                "question",
                f"duplicate: line {draft.lines[spec.key]} already answers {spec.key} for this "
                "reader, session and case",
            )
            draft.broken = True
            continue
        draft.lines[spec.key] = line
        if spec.type == questions.COMPUTED:
            result.computed_values_ignored += 1
        elif value is not None:
            draft.answers[spec.key] = value
    return drafts


# --- Checking readings against the study -----------------------------------------------------


def _placement_slots(placements: Sequence[SlotPlacement]) -> dict[str, str]:
    return {p.slot: p.arm or p.series.role for p in placements}


def _check_draft(draft: _Draft, ctx: _Context, replace: bool, errors: _Errors) -> None:
    where = (
        f"{draft.assignment.reader.get_username()}, {draft.assignment.session.name}, "
        f"case {draft.study_case.case.label}"
    )
    answers = questions.with_computed(ctx.specs, draft.answers)
    draft.answers = {key: value for key, value in answers.items() if value is not None}
    missing = questions.missing_required(ctx.specs, draft.answers)
    if missing and not draft.broken:
        errors.add(draft.line, "value", f"{where}: no answer to {', '.join(missing)} (required)")
    if draft.opened_at and draft.submitted_at and draft.submitted_at < draft.opened_at:
        errors.add(draft.line, "submitted_at", f"{where}: submitted before it was opened")
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
            f"{where} already has a reading; import with 'replace' to supersede it "
            "(the existing reading is kept)",
        )
    current = _placement_slots(placements)
    shuffled = bool(draft.assignment.protocol_session.hanging_protocol.get("shuffle_slots"))
    if draft.slots is None:
        if shuffled and len(current) > 1:
            errors.add(
                draft.line,
                "slots",
                f"{where}: this session places the images at random; the slots column must "
                "say which image each slot showed (e.g. A=NC-CTM;B=MRM)",
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
            f"{where}: the slots {_slots_text(draft.slots)} do not fit this study's "
            f"{_slots_text(current)}",
        )
    elif key in ctx.read:
        errors.add(
            draft.line,
            "slots",
            f"{where}: the slots {_slots_text(draft.slots)} differ from "
            f"{_slots_text(current)}, which the existing reading was made with",
        )
    else:
        draft.new_slots = draft.slots


def _slots_text(slots: Mapping[str, str]) -> str:
    return ";".join(f"{slot}={arm}" for slot, arm in slots.items())


def _roi_errors(
    draft: _Draft, ctx: _Context, placements: Sequence[SlotPlacement]
) -> dict[str, str]:
    """An ROI names a blinded series of this reader's case (as the reading API requires)."""
    allowed = {p.blinded_series_uid for p in placements} | {
        p.blinded_overlay_series_uid for p in placements if p.blinded_overlay_series_uid
    }
    return {
        spec.key: "the ROI's series is not one of this case's viewports in this study"
        for spec in ctx.specs
        if spec.type == questions.ROI
        and isinstance(draft.answers.get(spec.key), dict)
        and draft.answers[spec.key].get("series") not in allowed
    }


# --- Storing ---------------------------------------------------------------------------------


def _rearrange_slots(draft: _Draft, slots: Mapping[str, str]) -> None:
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


def _store(
    *,
    actor: User,
    study: ReaderStudy,
    drafts: Sequence[_Draft],
    result: ImportResult,
    now: dt.datetime,
) -> None:
    locked = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    _ensure_open(locked)
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
            before_slots = _placement_slots(
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
            reason = f"Replaced by the import of {result.filename} (sha256 {result.sha256})"
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
            reason=reason or f"import of {result.filename}",
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


def _ensure_open(study: ReaderStudy) -> None:
    if study.status == StudyStatus.CLOSED:
        raise services.ConflictError(
            "The study is closed: its readings are final. Reopen it to import readings."
        )


def readings_import(
    *,
    actor: User,
    study: ReaderStudy,
    data: bytes,
    filename: str,
    replace: bool = False,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> ImportResult:
    """Check a CSV of readings and, when it has no error and this is not a dry run, store it.

    The caller has authorized ``actor`` as a coordinator of ``study``. Closed studies refuse
    (409), a file over ``MAX_BYTES`` is a 413; anything wrong inside the file comes back in
    ``result.errors`` (line, column, message; the first ``MAX_ERRORS``) with nothing stored.
    """
    _ensure_open(study)
    if len(data) > MAX_BYTES:
        raise ImportTooLargeError(
            f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it."
        )
    result = ImportResult(
        filename=(filename or "upload.csv")[:200],
        sha256=hashlib.sha256(data).hexdigest(),
        dry_run=dry_run,
        replace=replace,
    )
    errors = _Errors(result)
    drafts: list[_Draft] = []
    try:
        text = _decode(data, errors)
        if text is not None:
            ctx = _Context(study)
            found = _read_rows(text, ctx, result, errors)
            if not found and not result.errors:
                errors.add(2, "", "the file has no readings to import")
            for draft in found.values():
                _check_draft(draft, ctx, replace, errors)
            drafts = sorted(found.values(), key=lambda d: d.line)
    except _TooManyErrors:
        pass
    if result.errors:
        result.readings = 0
        return result
    result.readings = len(drafts)
    result.replaced = sum(1 for d in drafts if d.existing is not None)
    if dry_run:
        return result
    result.replaced = 0
    with transaction.atomic():
        _store(actor=actor, study=study, drafts=drafts, result=result, now=now or timezone.now())
        exports_schedule(study_id=study.pk)
    result.stored = True
    return result


def readings_import_upload(
    *, actor: User, study: ReaderStudy, upload: UploadedFile, replace: bool, dry_run: bool
) -> ImportResult:
    """``readings_import`` of an uploaded file, refused above the size cap before it is read."""
    _ensure_open(study)
    if upload.size is not None and upload.size > MAX_BYTES:
        raise ImportTooLargeError(
            f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it."
        )
    return readings_import(
        actor=actor,
        study=study,
        data=upload.read(MAX_BYTES + 1),
        filename=upload.name or "",
        replace=replace,
        dry_run=dry_run,
    )
