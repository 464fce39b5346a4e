"""Matching a row to the study: the reader's assignment, the session and the case it is
about, and the question its value answers (typed and validated).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from readerstudy import questions, selectors
from readerstudy.imports.cells import cell_value, row_cell
from readerstudy.imports.results import Errors
from readerstudy.models import (
    MemberRole,
    Question,
    ReaderAssignment,
    ReaderStudy,
    Reading,
    SlotPlacement,
    StudyCase,
    StudyMembership,
)
from readerstudy.services.base import answer_problems


class MatchContext:
    """The study's readers, sessions, cases and questions, loaded once."""

    def __init__(self, study: ReaderStudy) -> None:
        self.study = study
        self.questions = {q.key: q for q in Question.objects.filter(study=study)}
        self.specs = selectors.study_specs(study)
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


def _ascii_digits(text: str) -> bool:
    # str.isdigit() admits "²", which int() refuses.
    return text.isascii() and text.isdigit()


def locate(
    row: list[str], line: int, columns: Mapping[str, int], ctx: MatchContext, errors: Errors
) -> tuple[ReaderAssignment, StudyCase] | None:
    """The reader's assignment and the case a row is about, or ``None`` (errors added)."""
    username = row_cell(row, columns, "reader")
    reader = ctx.readers.get(username)
    if reader is None:
        errors.add(line, "reader", _("%(user)r is not a reader of this study") % {"user": username})
        return None
    order_text, name = row_cell(row, columns, "session"), row_cell(row, columns, "session_name")
    session = None
    if order_text:
        if not _ascii_digits(order_text) or int(order_text) not in ctx.sessions:
            errors.add(
                line,
                "session",
                _("this study has no session %(session)r") % {"session": order_text},
            )
            return None
        session = ctx.sessions[int(order_text)]
        if name and name != session.name:
            errors.add(
                line,
                "session_name",
                _("session %(order)s is called %(name)r here")
                % {"order": order_text, "name": session.name},
            )
            return None
    elif name:
        session = ctx.session_by_name.get(name)
        if session is None:
            errors.add(
                line, "session_name", _("this study has no session %(session)r") % {"session": name}
            )
            return None
    else:
        errors.add(line, "session", _("the session is empty"))
        return None
    assignment = ctx.assignments.get((reader.pk, session.pk))
    if assignment is None:
        errors.add(
            line,
            "reader",
            _("%(user)r has no assignment in %(session)s")
            % {"user": username, "session": session.name},
        )
        return None
    label, case_id = row_cell(row, columns, "case"), row_cell(row, columns, "study_case_id")
    position = row_cell(row, columns, "position")
    study_case = None
    if label:
        study_case = ctx.case_by_label.get(label)
        if study_case is None:
            errors.add(line, "case", _("this study has no case %(case)r") % {"case": label})
            return None
        # The id of another study's case (an export of another study) is ignored; one of this
        # study that names a different case is a contradiction.
        other = ctx.case_by_id.get(case_id)
        if other is not None and other.pk != study_case.pk:
            errors.add(
                line, "study_case_id", _("this id is not the case %(case)r") % {"case": label}
            )
            return None
    elif case_id:
        study_case = ctx.case_by_id.get(case_id)
        if study_case is None:
            errors.add(
                line, "study_case_id", _("this study has no case %(case)r") % {"case": case_id}
            )
            return None
    elif position:
        if not _ascii_digits(position) or not 1 <= int(position) <= len(assignment.case_order):
            errors.add(
                line,
                "position",
                _("%(user)s reads %(count)s cases in %(session)s; no position %(position)r")
                % {
                    "user": username,
                    "count": len(assignment.case_order),
                    "session": session.name,
                    "position": position,
                },
            )
            return None
        study_case = ctx.case_by_id.get(assignment.case_order[int(position) - 1])
    if study_case is None or str(study_case.pk) not in assignment.case_order:
        errors.add(line, "case", _("the case is empty or not in this reader's cases"))
        return None
    return assignment, study_case


def row_value(
    row: list[str], line: int, columns: Mapping[str, int], ctx: MatchContext, errors: Errors
) -> tuple[questions.QuestionSpec, Any] | None:
    key = row_cell(row, columns, "question")
    spec = ctx.spec_by_key.get(key)
    if spec is None:
        errors.add(line, "question", _("this study has no question %(key)r") % {"key": key})
        return None
    given_type = row_cell(row, columns, "question_type")
    if given_type and given_type != spec.type:
        errors.add(
            line,
            "question_type",
            _("%(key)s is a %(type)s question here, not %(given)s")
            % {"key": key, "type": spec.type, "given": given_type},
        )
        return None
    if spec.type == questions.COMPUTED:
        return spec, None
    try:
        value = cell_value(spec, row_cell(row, columns, "value"))
        questions.validate_answer(spec, value)
    except questions.AnswerError as exc:
        errors.add(line, "value", f"{key} ({spec.type}): {answer_problems(exc)[key]}")
        return None
    except ValueError as exc:
        errors.add(line, "value", f"{key} ({spec.type}): {exc}")
        return None
    return spec, value
