"""What every reader-study service shares: the errors the API turns into 4xx answers, the
question specs validation works on, the freeze rule and the export refresh after a change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from readerstudy import questions, selectors, tasks, texts
from readerstudy.models import ReaderStudy


class ReaderStudyError(Exception):
    """A request the study's rules refuse; ``status`` is the HTTP status the API answers."""

    status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConflictError(ReaderStudyError):
    """The state does not allow it now: stale version, frozen study, locked session."""

    status = 409


class NotAllowedError(ReaderStudyError):
    status = 403


AnswerError = questions.AnswerError


def translations_checked(
    value: Any, fields: Mapping[str, int], *, values: bool = False
) -> dict[str, Any]:
    """``texts.clean_translations`` with its complaint as a ``ReaderStudyError`` (400)."""
    try:
        return texts.clean_translations(value, fields, values=values)
    except texts.TranslationsError as exc:
        raise ReaderStudyError(str(exc)) from exc


def answer_problems(exc: questions.AnswerError) -> dict[str, str]:
    """The error's messages by question key, in the active language."""
    return {key: problem.text(_) for key, problem in exc.problems.items()}


def answer_problems_text(exc: questions.AnswerError) -> str:
    """The same as one line, e.g. for a page's message."""
    return "; ".join(f"{key}: {message}" for key, message in answer_problems(exc).items())


def moment_or_now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


def exports_refresh(study_id: Any) -> None:
    """Have the study's export files rebuilt after this change commits."""
    tasks.exports_schedule(study_id=study_id)


def study_changed(study_id: Any) -> None:
    """The study's design changed (questions, sessions, cases, members, rules): its exports
    carry a new version, which a worker builds."""
    ReaderStudy.objects.filter(pk=study_id).update(updated_at=timezone.now())
    exports_refresh(study_id)


def ensure_not_frozen(study: ReaderStudy, what: str) -> None:
    """Refuse a design change once readers have started; ``what`` is a msgid (gettext_noop)."""
    if selectors.study_has_readings(study):
        raise ConflictError(
            _(
                "%(what)s are frozen: readers have started reading this study. "
                "Create a new study to change them."
            )
            % {"what": _(what)}
        )
