"""Business operations on reader studies, called alike by the API, pages, commands and the demo.

Every change that matters (studies, questions, sessions, cases, assignments, answers,
references) writes an audit event with before and after values in its own transaction.
Services trust that the caller has authorized the actor (through ``selectors``); they enforce
the study's own rules: freezing once readers have started, washout, reading order, optimistic
versions, submitted readings locked, amendments only with a reason.

The operations live in one module per subject (studies and sessions, questions, cases,
members and assignments, readings, references); callers import them from here.
"""

from readerstudy.services.assignments import membership_add, membership_remove, reader_assign
from readerstudy.services.base import (
    AnswerError,
    ConflictError,
    NotAllowedError,
    ReaderStudyError,
    answer_problems,
    answer_problems_text,
)
from readerstudy.services.questionnaire import question_create, question_delete, question_update
from readerstudy.services.readings import (
    ACTIVITY_GAP_SECONDS,
    reading_amend,
    reading_heartbeat,
    reading_open,
    reading_save,
    reading_submit,
)
from readerstudy.services.references import reference_rule_create, reference_set
from readerstudy.services.studies import (
    STUDY_FIELDS,
    session_create,
    session_update,
    study_create_from_template,
    study_status_set,
    study_update,
)
from readerstudy.services.study_cases import CasesAddResult, study_case_remove, study_cases_add

__all__ = [
    "ACTIVITY_GAP_SECONDS",
    "STUDY_FIELDS",
    "AnswerError",
    "CasesAddResult",
    "ConflictError",
    "NotAllowedError",
    "ReaderStudyError",
    "answer_problems",
    "answer_problems_text",
    "membership_add",
    "membership_remove",
    "question_create",
    "question_delete",
    "question_update",
    "reader_assign",
    "reading_amend",
    "reading_heartbeat",
    "reading_open",
    "reading_save",
    "reading_submit",
    "reference_rule_create",
    "reference_set",
    "session_create",
    "session_update",
    "study_case_remove",
    "study_cases_add",
    "study_create_from_template",
    "study_status_set",
    "study_update",
]
