"""Reference standards: per-case values (a question's answer or the structured
intraoperative form) entered by reference editors, and rules that point at readings (another
session of the same reader, or a named reference reader).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit_event_record
from readerstudy import protocols, questions
from readerstudy.models import (
    Question,
    ReaderStudy,
    ReferenceSource,
    ReferenceStandard,
    Session,
    StudyCase,
)
from readerstudy.selectors import question_spec
from readerstudy.services.base import (
    ConflictError,
    ReaderStudyError,
    answer_problems_text,
    exports_refresh,
    study_changed,
)


def _validate_reference_values(
    study: ReaderStudy, question: Question | None, values: Mapping[str, Any]
) -> None:
    if question is None:
        if study.reference_form != "intraoperative":
            raise ReaderStudyError(
                _("this study has no structured reference form; name a question")
            )
        problem = questions.first_problem(protocols.INTRAOPERATIVE_SCHEMA, values)
        if problem is not None:
            raise ReaderStudyError(
                _("intraoperative findings: %(problem)s") % {"problem": problem.text(_)}
            )
        if questions.contains_nul(values):
            raise ReaderStudyError(_("intraoperative findings must not contain NUL characters"))
        seen = [(item["level"], item["side"]) for item in values["findings"]]
        if len(set(seen)) != len(seen):
            raise ReaderStudyError(_("each level and side appears once in the findings"))
        return
    if set(values) != {"value"}:
        raise ReaderStudyError('a reference for one question is {"value": <answer>}')
    if question.type == questions.COMPUTED:
        raise ReaderStudyError(_("computed questions take no reference; they are computed"))
    try:
        questions.validate_answer(question_spec(question), values["value"])
    except questions.AnswerError as exc:
        raise ReaderStudyError(
            _("reference value: %(error)s") % {"error": answer_problems_text(exc)}
        ) from exc


def _reference_data(reference: ReferenceStandard) -> dict[str, Any]:
    return {
        "source": reference.source,
        "study_case": str(reference.study_case_id) if reference.study_case_id else None,
        "question": reference.question.key if reference.question else None,
        "values": reference.values,
        "provenance": reference.provenance,
        "version": reference.version,
    }


@transaction.atomic
def reference_set(
    *,
    actor: User | None,
    study_case: StudyCase,
    source: str,
    values: Mapping[str, Any],
    question: Question | None = None,
    provenance: str = "",
    version: int | None = None,
) -> ReferenceStandard:
    """Enter or correct the reference of one case (a question's value, or the structured form).

    ``version`` guards against overwriting a colleague's entry made meanwhile (409).
    """
    study = study_case.study
    if source not in (ReferenceSource.INTRAOPERATIVE, ReferenceSource.CONSENSUS):
        raise ReaderStudyError("only intraoperative or consensus references are entered per case")
    if question is not None and question.study_id != study.pk:
        raise ReaderStudyError("the question belongs to another study")
    _validate_reference_values(study, question, values)
    reference = (
        ReferenceStandard.objects.select_for_update()
        .filter(study_case=study_case, source=source, question=question)
        .first()
    )
    if reference is None:
        reference = ReferenceStandard(
            study=study, study_case=study_case, source=source, question=question, version=0
        )
        before = None
    else:
        if version is not None and version != reference.version:
            raise ConflictError(
                _("Someone changed this reference meanwhile; reload it. Nothing was saved."),
                current_version=reference.version,
            )
        before = _reference_data(reference)
    reference.values = dict(values)
    reference.provenance = provenance
    reference.entered_by = actor
    reference.version += 1
    reference.save()
    audit_event_record(
        actor=actor,
        verb="reference.set",
        obj=reference,
        before=before,
        after=_reference_data(reference),
        reason=provenance,
    )
    exports_refresh(study.pk)
    return reference


@transaction.atomic
def reference_rule_create(
    *,
    actor: User | None,
    study: ReaderStudy,
    source: str,
    session: Session | None = None,
    reference_session: Session | None = None,
    reference_reader: User | None = None,
    provenance: str = "",
) -> ReferenceStandard:
    """A reference that points at readings: another session of the same reader, or a named
    reference reader's readings of the same case."""
    if source == ReferenceSource.SESSION_OF_SAME_READER:
        if session is None or reference_session is None or session == reference_session:
            raise ReaderStudyError("name the judged session and a different reference session")
    elif source == ReferenceSource.NAMED_READER:
        if reference_reader is None:
            raise ReaderStudyError("name the reference reader")
    else:
        raise ReaderStudyError("only same-reader-session and named-reader references are rules")
    for item in (session, reference_session):
        if item is not None and item.study_id != study.pk:
            raise ReaderStudyError("the session belongs to another study")
    rule = ReferenceStandard.objects.create(
        study=study,
        session=session,
        source=source,
        reference_session=reference_session,
        reference_reader=reference_reader,
        provenance=provenance,
        entered_by=actor,
    )
    study_changed(study.pk)
    audit_event_record(
        actor=actor,
        verb="reference.rule_create",
        obj=rule,
        after={
            "source": source,
            "session": session.order if session else None,
            "reference_session": reference_session.order if reference_session else None,
            "reference_reader": reference_reader.get_username() if reference_reader else None,
            "provenance": provenance,
        },
    )
    return rule
