"""The questions of a study: create, change and delete, each checked against the question
types of ``readerstudy.questions`` and against the study's other questions (a computed
score's formula, an ROI's CNR background). Questions freeze with the first reading, except
their label and help text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from accounts.models import User
from accounts.services import audit_event_record
from readerstudy import questions, texts
from readerstudy.models import Question, ReaderStudy
from readerstudy.selectors import question_spec, study_specs
from readerstudy.services.base import (
    AnswerError,
    ConflictError,
    ReaderStudyError,
    ensure_not_frozen,
    study_changed,
    translations_checked,
)


def _question_data(question: Question) -> dict[str, Any]:
    return {
        "key": question.key,
        "order": question.order,
        "type": question.type,
        "label": question.label,
        "help_text": question.help_text,
        "options": question.options,
        "required": question.required,
        "formula": question.formula,
        "translations": question.translations,
    }


_KEY = re.compile(r"[a-z][a-z0-9_]{0,49}")
_QUESTION_FIELDS = {
    "label",
    "help_text",
    "options",
    "required",
    "order",
    "formula",
    "type",
    "translations",
}
# Texts may change while readers read (a typo, a language added); what answers mean may not.
_ALWAYS_EDITABLE = {"label", "help_text", "translations"}


def _check_question(question: Question) -> None:
    spec = question_spec(question)
    if question.type not in questions.TYPES:
        raise ReaderStudyError(
            _("type must be one of %(types)s") % {"types": ", ".join(questions.TYPES)}
        )
    questions.validate_options(spec)
    others = [s for s in study_specs(question.study) if s.key != question.key]
    if question.type == questions.COMPUTED:
        questions.check_formula(spec, others)
    _check_cnr_backgrounds(spec, others)


def _check_cnr_backgrounds(
    spec: questions.QuestionSpec, others: list[questions.QuestionSpec]
) -> None:
    """An ROI's CNR is measured against other ROI questions of the study: refuse a background
    key that is not one, and a change that takes away the ROI another question's CNR needs."""
    rois = {s.key for s in others if s.type == questions.ROI}
    unknown = [key for key in questions.cnr_backgrounds(spec) if key not in rois]
    if unknown:
        raise AnswerError(
            {
                spec.key: ngettext(
                    "options: cnr_background names %(keys)s, which is not another ROI question "
                    "of this study",
                    "options: cnr_background names %(keys)s, which are not other ROI questions "
                    "of this study",
                    len(unknown),
                )
                % {"keys": ", ".join(unknown)}
            }
        )
    if spec.type != questions.ROI:
        targets = _cnr_targets(spec.key, others)
        if targets:
            raise AnswerError(
                {
                    spec.key: _("%(keys)s measures its CNR against this ROI question")
                    % {"keys": ", ".join(targets)}
                }
            )


def _cnr_targets(key: str, specs: list[questions.QuestionSpec]) -> list[str]:
    """The ROI questions that name ``key`` as their CNR background."""
    return [s.key for s in specs if key in questions.cnr_backgrounds(s)]


@transaction.atomic
def question_create(
    *,
    actor: User | None,
    study: ReaderStudy,
    key: str,
    type: str,
    label: str,
    options: Mapping[str, Any] | None = None,
    required: bool = True,
    help_text: str = "",
    formula: str = "",
    order: int | None = None,
    translations: Mapping[str, Any] | None = None,
) -> Question:
    ensure_not_frozen(study, gettext_noop("Questions"))
    clean_translations = translations_checked(
        translations or {}, texts.QUESTION_FIELDS, values=True
    )
    if not _KEY.fullmatch(key):
        raise ReaderStudyError(
            _("key must start with a letter and hold a-z, 0-9 and _ (50 at most)")
        )
    if Question.objects.filter(study=study, key=key).exists():
        raise ConflictError(_("the study already has a question %(key)r") % {"key": key})
    if not texts.has_visible_text(label):
        raise ReaderStudyError(_("label must not be empty"))
    if order is None:
        order = study.questions.count() + 1
    question = Question(
        study=study,
        key=key,
        type=type,
        translations=clean_translations,
        label=label,
        options=dict(options or {}),
        required=required,
        help_text=help_text,
        formula=formula,
        order=order,
    )
    _check_question(question)
    question.save()
    study_changed(question.study_id)
    audit_event_record(
        actor=actor, verb="question.create", obj=question, after=_question_data(question)
    )
    return question


@transaction.atomic
def question_update(
    *, actor: User | None, question: Question, changes: Mapping[str, Any]
) -> Question:
    """Change a question; once readers have started only its label and help text may change."""
    unknown = sorted(set(changes) - _QUESTION_FIELDS)
    if unknown:
        raise ReaderStudyError(f"cannot change {', '.join(unknown)}")
    if set(changes) - _ALWAYS_EDITABLE:
        ensure_not_frozen(question.study, gettext_noop("Questions"))
    before = _question_data(question)
    for name, value in changes.items():
        if name == "translations":
            value = translations_checked(value, texts.QUESTION_FIELDS, values=True)
        setattr(question, name, value)
    if not texts.has_visible_text(str(question.label)):
        raise ReaderStudyError(_("label must not be empty"))
    _check_question(question)
    question.save()
    study_changed(question.study_id)
    audit_event_record(
        actor=actor,
        verb="question.update",
        obj=question,
        before=before,
        after=_question_data(question),
    )
    return question


@transaction.atomic
def question_delete(*, actor: User | None, question: Question) -> None:
    ensure_not_frozen(question.study, gettext_noop("Questions"))
    readers = [
        s.key
        for s in study_specs(question.study)
        if s.type == questions.COMPUTED and question.key in questions.formula_keys(s.formula)
    ]
    if readers:
        raise ConflictError(
            _("%(keys)s computes from %(key)r") % {"keys": ", ".join(readers), "key": question.key}
        )
    targets = _cnr_targets(question.key, study_specs(question.study))
    if targets:
        raise ConflictError(
            _("%(keys)s measures its CNR against %(key)r")
            % {"keys": ", ".join(targets), "key": question.key}
        )
    study_changed(question.study_id)
    audit_event_record(
        actor=actor, verb="question.delete", obj=question, before=_question_data(question)
    )
    question.delete()
