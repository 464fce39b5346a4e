"""What an import finds and reports: the counts and the problems (line, column, message) of
a file, capped at ``MAX_ERRORS``, and the draft of each reading it would store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from readerstudy import services
from readerstudy.models import ReaderAssignment, Reading, StudyCase

MAX_ERRORS = 100


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
            if self.errors_truncated:
                return _("The file has errors (the first ones shown); nothing was imported.")
            return _("The file has errors; nothing was imported.")
        counts = {"rows": self.rows, "readings": self.readings, "replaced": self.replaced}
        if self.dry_run:
            text = _("%(rows)s row(s) read: would import %(readings)s reading(s)") % counts
        else:
            text = _("%(rows)s row(s) read: imported %(readings)s reading(s)") % counts
        if self.replaced:
            text += _(", superseding %(replaced)s existing reading(s)") % counts
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


class TooManyErrors(Exception):
    pass


class Errors:
    def __init__(self, result: ImportResult) -> None:
        self.result = result

    def add(self, line: int, column: str, message: str) -> None:
        if len(self.result.errors) >= MAX_ERRORS:
            self.result.errors_truncated = True
            raise TooManyErrors
        self.result.errors.append(ImportIssue(line, column, message))


@dataclass
class ImportDraft:
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
