"""Business operations on reader studies, called alike by the API, pages, commands and the demo.

Every change that matters (studies, questions, sessions, cases, assignments, answers,
references) writes an audit event with before and after values in its own transaction.
Services trust that the caller has authorized the actor (through ``selectors``); they enforce
the study's own rules: freezing once readers have started, washout, reading order, optimistic
versions, submitted readings locked, amendments only with a reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator

from accounts.models import User
from accounts.services import audit_event_record
from cases.models import Case, Series
from readerstudy import protocols, questions, randomization, selectors
from readerstudy.blinding import blinded_uid
from readerstudy.models import (
    CaseOrderDesign,
    MemberRole,
    Question,
    ReaderAssignment,
    ReaderStudy,
    Reading,
    ReadingStatus,
    ReferenceSource,
    ReferenceStandard,
    Session,
    SessionStatus,
    SlotPlacement,
    StudyCase,
    StudyMembership,
    StudyStatus,
)

# A gap between heartbeats longer than this is time away from the case, not reading time.
ACTIVITY_GAP_SECONDS = 60.0


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


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


def _exports_refresh(study_id: Any) -> None:
    """Have the study's export files rebuilt after this change commits."""
    # Imported here: the exports build on readerstudy.reports, which reads studies through
    # this module.
    from readerstudy.export_files import exports_schedule

    exports_schedule(study_id=study_id)


def question_spec(question: Question) -> questions.QuestionSpec:
    return questions.QuestionSpec(
        key=question.key,
        type=question.type,
        label=question.label,
        options=question.options,
        required=question.required,
        formula=question.formula,
    )


def study_specs(study: ReaderStudy) -> list[questions.QuestionSpec]:
    return [question_spec(item) for item in study.questions.order_by("order", "id")]


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
    }


def _session_data(session: Session) -> dict[str, Any]:
    return {
        "order": session.order,
        "name": session.name,
        "washout_days": session.washout_days,
        "hanging_protocol": session.hanging_protocol,
        "status": session.status,
    }


STUDY_FIELDS = (
    "title", "description", "reader_title", "reader_instructions", "status",
    "case_order_design", "crossover", "allow_amendments", "reference_form",
)  # fmt: skip


def _study_data(study: ReaderStudy) -> dict[str, Any]:
    return {name: getattr(study, name) for name in STUDY_FIELDS}


def _ensure_not_frozen(study: ReaderStudy, what: str) -> None:
    if selectors.study_has_readings(study):
        raise ConflictError(
            f"{what} are frozen: readers have started reading this study. "
            "Create a new study to change them."
        )


def _validate_hanging_protocol(protocol: Mapping[str, Any]) -> None:
    error = next(
        iter(Draft202012Validator(protocols.hanging_protocol_schema()).iter_errors(protocol)),
        None,
    )
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path)
        raise ReaderStudyError(f"hanging protocol {where}: {error.message}")
    labels = [slot["label"] for slot in protocol["slots"]]
    if len(set(labels)) != len(labels):
        raise ReaderStudyError("hanging protocol slot labels must be unique")


# --- Studies ---------------------------------------------------------------------------------


@transaction.atomic
def study_create_from_template(
    *,
    actor: User | None,
    protocol: str,
    title: str = "",
    description: str | None = None,
    washout_days: int | None = None,
) -> ReaderStudy:
    """A study with the template's sessions, questions and reference rules, in draft.

    The actor becomes a coordinator of the study. ``washout_days`` overrides the template's
    washout of every session after the first.
    """
    template = protocols.TEMPLATES.get(protocol)
    if template is None:
        raise ReaderStudyError(
            f"unknown protocol {protocol!r}; choose one of {', '.join(protocols.TEMPLATES)}"
        )
    if washout_days is not None and not 0 <= washout_days <= 3650:
        raise ReaderStudyError("washout_days must be between 0 and 3650")
    study = ReaderStudy.objects.create(
        title=(title or template.title)[:200],
        description=template.description if description is None else description,
        reader_title=template.reader_title,
        protocol=template.key,
        reference_form=template.reference_form,
        created_by=actor,
    )
    if actor is not None:
        StudyMembership.objects.create(study=study, user=actor, role=MemberRole.COORDINATOR)
    sessions = {}
    for order, spec in enumerate(template.sessions, start=1):
        washout = spec.washout_days
        if washout_days is not None and order > 1:
            washout = washout_days
        _validate_hanging_protocol(spec.hanging_protocol)
        sessions[order] = Session.objects.create(
            study=study,
            order=order,
            name=spec.name,
            washout_days=washout,
            hanging_protocol=spec.hanging_protocol,
        )
    for order, item in enumerate(template.questions, start=1):
        questions.validate_options(item)
        Question.objects.create(
            study=study,
            key=item.key,
            order=order,
            type=item.type,
            label=item.label,
            help_text=template.help_texts.get(item.key, ""),
            options=dict(item.options),
            required=item.required,
            formula=item.formula,
        )
    for rule in template.references:
        ReferenceStandard.objects.create(
            study=study,
            session=sessions.get(rule.session) if rule.session else None,
            source=rule.source,
            reference_session=sessions.get(rule.reference_session)
            if rule.reference_session
            else None,
            provenance=rule.provenance,
            entered_by=actor,
        )
    audit_event_record(
        actor=actor,
        verb="study.create",
        obj=study,
        after={
            **_study_data(study),
            "protocol": study.protocol,
            "sessions": [_session_data(s) for s in sessions.values()],
            "questions": [item.key for item in template.questions],
        },
    )
    return study


_EDITABLE_STUDY_FIELDS = {
    "title": str,
    "description": str,
    "reader_title": str,
    "reader_instructions": str,
    "allow_amendments": bool,
    "case_order_design": str,
    "crossover": bool,
}


@transaction.atomic
def study_update(
    *, actor: User | None, study: ReaderStudy, changes: Mapping[str, Any]
) -> ReaderStudy:
    """Change the study's texts and settings; the design is fixed once readers are assigned."""
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    unknown = sorted(set(changes) - set(_EDITABLE_STUDY_FIELDS))
    if unknown:
        raise ReaderStudyError(f"cannot change {', '.join(unknown)}")
    for name, value in changes.items():
        if not isinstance(value, _EDITABLE_STUDY_FIELDS[name]):
            raise ReaderStudyError(f"{name} must be a {_EDITABLE_STUDY_FIELDS[name].__name__}")
    if "case_order_design" in changes and changes["case_order_design"] not in CaseOrderDesign:
        raise ReaderStudyError(
            f"case_order_design must be one of {', '.join(CaseOrderDesign.values)}"
        )
    if {"case_order_design", "crossover"} & set(changes) and ReaderAssignment.objects.filter(
        session__study=study
    ).exists():
        raise ConflictError("the reading design is fixed once readers are assigned")
    if "title" in changes and not str(changes["title"]).strip():
        raise ReaderStudyError("the title must not be empty")
    before = _study_data(study)
    for name, value in changes.items():
        setattr(study, name, value)
    study.save()
    audit_event_record(
        actor=actor, verb="study.update", obj=study, before=before, after=_study_data(study)
    )
    return study


_TRANSITIONS = {
    StudyStatus.DRAFT: {StudyStatus.ACTIVE},
    StudyStatus.ACTIVE: {StudyStatus.CLOSED},
    StudyStatus.CLOSED: {StudyStatus.ACTIVE},
}


@transaction.atomic
def study_status_set(*, actor: User | None, study: ReaderStudy, status: str) -> ReaderStudy:
    """Draft -> active (needs sessions, questions, cases) -> closed (-> active again)."""
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    if status not in StudyStatus.values:
        raise ReaderStudyError(f"status must be one of {', '.join(StudyStatus.values)}")
    current = StudyStatus(study.status)
    if status not in _TRANSITIONS[current]:
        raise ConflictError(f"a {current.label.lower()} study cannot become {status}")
    if status == StudyStatus.ACTIVE:
        missing = [
            what
            for what, present in (
                ("sessions", study.sessions.exists()),
                ("questions", study.questions.exists()),
                ("cases", study.study_cases.exists()),
            )
            if not present
        ]
        if missing:
            raise ConflictError(f"the study needs {' and '.join(missing)} before it can start")
    before = {"status": study.status}
    study.status = status
    study.save(update_fields=["status", "updated_at"])
    audit_event_record(
        actor=actor, verb="study.status", obj=study, before=before, after={"status": status}
    )
    return study


# --- Questions -------------------------------------------------------------------------------

_KEY = re.compile(r"[a-z][a-z0-9_]{0,49}")
_QUESTION_FIELDS = {"label", "help_text", "options", "required", "order", "formula", "type"}
_ALWAYS_EDITABLE = {"label", "help_text"}


def _check_question(question: Question) -> None:
    spec = question_spec(question)
    if question.type not in questions.TYPES:
        raise ReaderStudyError(f"type must be one of {', '.join(questions.TYPES)}")
    questions.validate_options(spec)
    if question.type == questions.COMPUTED:
        others = [s for s in study_specs(question.study) if s.key != question.key]
        questions.check_formula(spec, others)


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
) -> Question:
    _ensure_not_frozen(study, "Questions")
    if not _KEY.fullmatch(key):
        raise ReaderStudyError("key must start with a letter and hold a-z, 0-9 and _ (50 at most)")
    if Question.objects.filter(study=study, key=key).exists():
        raise ConflictError(f"the study already has a question {key!r}")
    if not label.strip():
        raise ReaderStudyError("label must not be empty")
    if order is None:
        order = study.questions.count() + 1
    question = Question(
        study=study,
        key=key,
        type=type,
        label=label,
        options=dict(options or {}),
        required=required,
        help_text=help_text,
        formula=formula,
        order=order,
    )
    _check_question(question)
    question.save()
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
        _ensure_not_frozen(question.study, "Questions")
    before = _question_data(question)
    for name, value in changes.items():
        setattr(question, name, value)
    if not str(question.label).strip():
        raise ReaderStudyError("label must not be empty")
    _check_question(question)
    question.save()
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
    _ensure_not_frozen(question.study, "Questions")
    readers = [
        s.key
        for s in study_specs(question.study)
        if s.type == questions.COMPUTED and question.key in questions.formula_keys(s.formula)
    ]
    if readers:
        raise ConflictError(f"{', '.join(readers)} computes from {question.key!r}")
    audit_event_record(
        actor=actor, verb="question.delete", obj=question, before=_question_data(question)
    )
    question.delete()


# --- Sessions --------------------------------------------------------------------------------


@transaction.atomic
def session_create(
    *,
    actor: User | None,
    study: ReaderStudy,
    name: str,
    hanging_protocol: Mapping[str, Any],
    washout_days: int = 0,
) -> Session:
    _ensure_not_frozen(study, "Sessions")
    _validate_hanging_protocol(hanging_protocol)
    if not name.strip():
        raise ReaderStudyError("name must not be empty")
    order = (study.sessions.order_by("-order").values_list("order", flat=True).first() or 0) + 1
    session = Session.objects.create(
        study=study,
        order=order,
        name=name,
        washout_days=washout_days,
        hanging_protocol=dict(hanging_protocol),
    )
    for membership in StudyMembership.objects.filter(study=study, role=MemberRole.READER):
        _assignment_create(
            actor=actor, session=session, reader=membership.user, membership=membership
        )
    audit_event_record(
        actor=actor, verb="session.create", obj=session, after=_session_data(session)
    )
    return session


@transaction.atomic
def session_update(*, actor: User | None, session: Session, changes: Mapping[str, Any]) -> Session:
    """Rename, change the washout, open or close; the hanging protocol freezes with readings."""
    allowed = {"name", "washout_days", "hanging_protocol", "status"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ReaderStudyError(f"cannot change {', '.join(unknown)}")
    if "status" in changes and changes["status"] not in SessionStatus.values:
        raise ReaderStudyError(f"status must be one of {', '.join(SessionStatus.values)}")
    washout = changes.get("washout_days", session.washout_days)
    if isinstance(washout, bool) or not isinstance(washout, int) or not 0 <= washout <= 3650:
        raise ReaderStudyError("washout_days must be a whole number of days, 0 to 3650")
    if "name" in changes and not str(changes["name"]).strip():
        raise ReaderStudyError("name must not be empty")
    if "hanging_protocol" in changes:
        _ensure_not_frozen(session.study, "Hanging protocols")
        _validate_hanging_protocol(changes["hanging_protocol"])
    before = _session_data(session)
    for name, value in changes.items():
        setattr(session, name, value)
    session.save()
    if "hanging_protocol" in changes:
        for assignment in ReaderAssignment.objects.filter(protocol_session=session):
            _placements_create(assignment)
    audit_event_record(
        actor=actor, verb="session.update", obj=session, before=before, after=_session_data(session)
    )
    return session


# --- Cases -----------------------------------------------------------------------------------


def _case_series(case: Case) -> list[Series]:
    return list(
        Series.objects.filter(study__case=case).order_by("series_number", "series_instance_uid")
    )


def _pick(series: Sequence[Series], roles: Iterable[str]) -> Series | None:
    """The first series in role priority order (then by series number)."""
    for role in roles:
        for item in series:
            if item.role == role:
                return item
    return None


def _missing_roles(case: Case, sessions: Iterable[Session]) -> list[str]:
    series = _case_series(case)
    missing: list[str] = []
    for session in sessions:
        for slot in session.hanging_protocol.get("slots", []):
            if _pick(series, slot["roles"]) is None:
                missing.append(f"{session.name} {slot['label']}: {' or '.join(slot['roles'])}")
            overlay = slot.get("overlay_role")
            if overlay and _pick(series, [overlay]) is None:
                missing.append(f"{session.name} {slot['label']} overlay: {overlay}")
    return missing


@dataclass
class CasesAddResult:
    added: list[StudyCase] = field(default_factory=list)
    # (case label, what it lacks) for each case left out.
    skipped: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def message(self) -> str:
        text = f"{len(self.added)} case(s) added."
        if self.skipped:
            lacking = "; ".join(f"{label} lacks {', '.join(why)}" for label, why in self.skipped)
            text += f" Skipped {len(self.skipped)} case(s) without the images the sessions need: "
            text += lacking + "."
        return text


@transaction.atomic
def study_cases_add(
    *, actor: User | None, study: ReaderStudy, cases: Iterable[Case]
) -> CasesAddResult:
    """Add cases; a case lacking a series role a session's hanging protocol needs is skipped
    (listed in the result) rather than shown to readers with an empty viewport."""
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    _ensure_not_frozen(study, "Cases")
    sessions = list(study.sessions.all())
    present = set(study.study_cases.values_list("case_id", flat=True))
    order = study.study_cases.order_by("-order").values_list("order", flat=True).first() or 0
    result = CasesAddResult()
    for case in cases:
        if case.pk in present:
            continue
        missing = _missing_roles(case, sessions)
        if missing:
            result.skipped.append((case.label, missing))
            continue
        order += 1
        result.added.append(StudyCase.objects.create(study=study, case=case, order=order))
        present.add(case.pk)
    if result.added:
        _assignments_refresh(study, actor=actor)
    audit_event_record(
        actor=actor,
        verb="study.cases_add",
        obj=study,
        after={
            "added": [{"id": str(sc.id), "case": sc.case.label} for sc in result.added],
            "skipped": [{"case": label, "missing": why} for label, why in result.skipped],
        },
    )
    return result


@transaction.atomic
def study_case_remove(*, actor: User | None, study_case: StudyCase) -> None:
    study = study_case.study
    _ensure_not_frozen(study, "Cases")
    audit_event_record(
        actor=actor,
        verb="study.case_remove",
        obj=study,
        before={"id": str(study_case.id), "case": study_case.case.label},
    )
    study_case.delete()
    _assignments_refresh(study, actor=actor)


# --- Members and assignments -----------------------------------------------------------------


@transaction.atomic
def membership_add(
    *, actor: User | None, study: ReaderStudy, user: User, role: str
) -> StudyMembership:
    """Make ``user`` a coordinator, reference editor or reader (with assignments) of the study."""
    if role not in MemberRole.values:
        raise ReaderStudyError(f"role must be one of {', '.join(MemberRole.values)}")
    if not user.is_active:
        raise ReaderStudyError("inactive users cannot join a study")
    if role == MemberRole.READER:
        reader_assign(actor=actor, study=study, reader=user)
        return StudyMembership.objects.get(study=study, user=user, role=role)
    membership, created = StudyMembership.objects.get_or_create(study=study, user=user, role=role)
    if created:
        audit_event_record(
            actor=actor,
            verb="study.member_add",
            obj=study,
            after={"user": user.get_username(), "role": role},
        )
    return membership


@transaction.atomic
def membership_remove(*, actor: User | None, study: ReaderStudy, user: User, role: str) -> None:
    """Remove a member; a reader only before any of their readings exist (never deleted)."""
    membership = StudyMembership.objects.filter(study=study, user=user, role=role).first()
    if membership is None:
        raise ReaderStudyError(f"{user.get_username()} is not a {role} of this study")
    if role == MemberRole.COORDINATOR:
        others = StudyMembership.objects.filter(study=study, role=role).exclude(user=user)
        if not others.exists():
            raise ConflictError("a study keeps at least one coordinator")
    if role == MemberRole.READER:
        if Reading.objects.filter(
            assignment__session__study=study, assignment__reader=user
        ).exists():
            raise ConflictError("this reader has readings, which are kept; close the study instead")
        ReaderAssignment.objects.filter(session__study=study, reader=user).delete()
    audit_event_record(
        actor=actor,
        verb="study.member_remove",
        obj=study,
        before={"user": user.get_username(), "role": role},
    )
    membership.delete()


def _protocol_session(session: Session, reader_index: int) -> tuple[Session, str]:
    """The session whose hanging protocol this reader sees (swapped under crossover)."""
    study = session.study
    if not study.crossover or session.order not in (1, 2):
        return session, ""
    sequence = randomization.crossover_sequence(reader_index)
    if sequence == "AB":
        return session, sequence
    other = Session.objects.filter(study=study, order=3 - session.order).first()
    return (other or session), sequence


def _case_order(assignment: ReaderAssignment, reader_index: int) -> list[str]:
    session = assignment.session
    study = session.study
    ids = [str(pk) for pk in study.study_cases.order_by("order", "id").values_list("pk", flat=True)]
    design = study.case_order_design
    if design == CaseOrderDesign.FIXED:
        return ids
    if design == CaseOrderDesign.WILLIAMS:
        # Each session shifts the row so that a reader's two sessions have different orders.
        return randomization.williams_order(ids, reader_index + session.order - 1)
    return randomization.seeded_order(ids, assignment.seed)


def _assignment_create(
    *, actor: User | None, session: Session, reader: User, membership: StudyMembership
) -> ReaderAssignment:
    reader_index = membership.reader_index or 0
    protocol_session, sequence = _protocol_session(session, reader_index)
    assignment = ReaderAssignment(
        session=session,
        reader=reader,
        seed=randomization.new_seed(),
        protocol_session=protocol_session,
    )
    assignment.design = {
        "case_order": session.study.case_order_design,
        "reader_index": reader_index,
        "crossover": sequence,
        "protocol_session": protocol_session.order,
    }
    assignment.case_order = _case_order(assignment, reader_index)
    assignment.save()
    _placements_create(assignment)
    audit_event_record(
        actor=actor,
        verb="assignment.create",
        obj=assignment,
        after={
            "reader": reader.get_username(),
            "session": session.order,
            "seed": assignment.seed,
            "case_order": assignment.case_order,
            "design": assignment.design,
        },
    )
    return assignment


@transaction.atomic
def reader_assign(
    *, actor: User | None, study: ReaderStudy, reader: User
) -> list[ReaderAssignment]:
    """Make ``reader`` a reader of the study with an assignment (seed, order) per session."""
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    if not reader.is_active:
        raise ReaderStudyError("inactive users cannot read")
    membership = StudyMembership.objects.filter(
        study=study, user=reader, role=MemberRole.READER
    ).first()
    if membership is None:
        index = StudyMembership.objects.filter(study=study, role=MemberRole.READER).count()
        membership = StudyMembership.objects.create(
            study=study, user=reader, role=MemberRole.READER, reader_index=index
        )
        audit_event_record(
            actor=actor,
            verb="study.member_add",
            obj=study,
            after={"user": reader.get_username(), "role": MemberRole.READER, "index": index},
        )
    created = []
    for session in study.sessions.order_by("order"):
        if not ReaderAssignment.objects.filter(session=session, reader=reader).exists():
            created.append(
                _assignment_create(
                    actor=actor, session=session, reader=reader, membership=membership
                )
            )
    return created


def _placements_create(assignment: ReaderAssignment) -> None:
    """(Re)make the blinded slot placements of every case of an assignment."""
    assignment.placements.all().delete()
    study = assignment.session.study
    secret = study.blinding_secret
    protocol = assignment.protocol_session.hanging_protocol
    slots = protocol.get("slots", [])
    cases = {str(sc.pk): sc for sc in study.study_cases.select_related("case")}
    placements = []
    for case_id in assignment.case_order:
        study_case = cases[case_id]
        series = _case_series(study_case.case)
        study_uid = blinded_uid(secret, assignment.pk, case_id, "study")
        order = list(range(len(slots)))
        if protocol.get("shuffle_slots"):
            order = randomization.slot_permutation(len(slots), seed=assignment.seed, key=case_id)
        for index, label_slot in enumerate(slots):
            content = slots[order[index]]
            chosen = _pick(series, content["roles"])
            overlay = (
                _pick(series, [content["overlay_role"]]) if content.get("overlay_role") else None
            )
            if chosen is None:
                raise ConflictError(
                    f"case {study_case.case.label} has no {' or '.join(content['roles'])} series "
                    f"for slot {label_slot['label']}"
                )
            label = label_slot["label"]
            placements.append(
                SlotPlacement(
                    assignment=assignment,
                    study_case=study_case,
                    slot=label,
                    slot_index=index,
                    arm=content.get("arm", ""),
                    viewport=content.get("viewport", "stack"),
                    window=content.get("window", ""),
                    series=chosen,
                    overlay_series=overlay,
                    blinded_study_uid=study_uid,
                    blinded_series_uid=blinded_uid(secret, assignment.pk, case_id, label, "series"),
                    blinded_overlay_series_uid=blinded_uid(
                        secret, assignment.pk, case_id, label, "overlay"
                    )
                    if overlay
                    else "",
                )
            )
    SlotPlacement.objects.bulk_create(placements)


def _assignments_refresh(study: ReaderStudy, *, actor: User | None) -> None:
    """Re-derive every assignment's order (same seed) and placements after the cases changed.

    Only reachable before any reading exists (cases freeze with the first reading).
    """
    indices = dict(
        StudyMembership.objects.filter(study=study, role=MemberRole.READER).values_list(
            "user_id", "reader_index"
        )
    )
    for assignment in ReaderAssignment.objects.filter(session__study=study).select_related(
        "session__study", "protocol_session"
    ):
        before = list(assignment.case_order)
        assignment.case_order = _case_order(assignment, indices.get(assignment.reader_id) or 0)
        assignment.save(update_fields=["case_order"])
        _placements_create(assignment)
        audit_event_record(
            actor=actor,
            verb="assignment.reorder",
            obj=assignment,
            before={"case_order": before},
            after={"case_order": assignment.case_order, "seed": assignment.seed},
        )


# --- Readings --------------------------------------------------------------------------------


def _require_available(assignment: ReaderAssignment, now: dt.datetime) -> selectors.AssignmentState:
    state = selectors.assignment_state(assignment, now=now)
    if state.state != selectors.AVAILABLE:
        raise ConflictError(state.message, state=state.state, unlock_at=state.unlock_at)
    return state


def _touch(reading: Reading, now: dt.datetime) -> None:
    """Count the time since the last sign of activity, unless the reader was away."""
    gap = (now - reading.last_activity_at).total_seconds()
    if 0 < gap <= ACTIVITY_GAP_SECONDS:
        reading.active_seconds += gap
    reading.last_activity_at = max(now, reading.last_activity_at)


@transaction.atomic
def reading_open(
    *,
    actor: User,
    assignment: ReaderAssignment,
    position: int,
    now: dt.datetime | None = None,
) -> tuple[Reading | None, StudyCase]:
    """Open (or resume) the case at ``position``; a finished session opens read-only.

    Readers read in their order: the next unsubmitted case or any case before it.
    """
    now = _now(now)
    assignment = ReaderAssignment.objects.select_for_update().get(pk=assignment.pk)
    study_case = selectors.study_case_at(assignment, position)
    state = selectors.assignment_state(assignment, now=now)
    if state.state == selectors.DONE:
        return selectors.current_reading(assignment, study_case), study_case
    _require_available(assignment, now)
    if position > state.next_position:
        raise ConflictError(
            f"Cases are read in order: case {state.next_position} of {state.total} is next."
        )
    reading = selectors.current_reading(assignment, study_case)
    if reading is None:
        reading = Reading.objects.create(
            assignment=assignment,
            study_case=study_case,
            opened_at=now,
            last_activity_at=now,
        )
        audit_event_record(
            actor=actor,
            verb="reading.open",
            obj=reading,
            after={"assignment": str(assignment.pk), "position": position},
        )
    elif reading.status == ReadingStatus.IN_PROGRESS:
        # Resuming after a break: the time away is not reading time.
        reading.last_activity_at = max(now, reading.last_activity_at)
        reading.save(update_fields=["last_activity_at", "updated_at"])
    if assignment.started_at is None:
        assignment.started_at = now
        assignment.save(update_fields=["started_at"])
    return reading, study_case


def _lock_for_change(reading: Reading, version: int, now: dt.datetime) -> Reading:
    locked = (
        # Lock the reading only, not the study and session rows the join reads.
        Reading.objects.select_for_update(of=("self",))
        .select_related("assignment__session__study", "study_case")
        .get(pk=reading.pk)
    )
    if not locked.is_current:
        raise ConflictError("This reading was amended; reload to see the current one.")
    if locked.version != version:
        raise ConflictError(
            "This case was changed in another tab or window; reload it before saving. "
            "Nothing was saved.",
            current_version=locked.version,
        )
    return locked


def _merge(
    specs: list[questions.QuestionSpec], stored: Mapping[str, Any], changes: Mapping[str, Any]
) -> dict[str, Any]:
    questions.validate_answers(specs, changes)
    merged = {**stored, **changes}
    merged = {key: value for key, value in merged.items() if value is not None}
    computed = questions.with_computed(specs, merged)
    return {key: value for key, value in computed.items() if value is not None}


def _changed(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = sorted(set(before) | set(after))
    changed = [key for key in keys if before.get(key) != after.get(key)]
    return {k: before.get(k) for k in changed}, {k: after.get(k) for k in changed}


def _check_roi_series(
    reading: Reading, specs: list[questions.QuestionSpec], answers: Mapping[str, Any]
) -> None:
    """An ROI must come from a viewport of this case (blinded UIDs), never an original UID."""
    roi_keys = [s.key for s in specs if s.type == questions.ROI and answers.get(s.key)]
    if not roi_keys:
        return
    allowed = set()
    for placement in SlotPlacement.objects.filter(
        assignment=reading.assignment, study_case=reading.study_case
    ):
        allowed.add(placement.blinded_series_uid)
        if placement.blinded_overlay_series_uid:
            allowed.add(placement.blinded_overlay_series_uid)
    errors = {
        key: "the ROI's series is not one of this case's viewports"
        for key in roi_keys
        if answers[key]["series"] not in allowed
    }
    if errors:
        raise AnswerError(errors)


@transaction.atomic
def reading_save(
    *,
    actor: User,
    reading: Reading,
    answers: Mapping[str, Any],
    version: int,
    now: dt.datetime | None = None,
) -> Reading:
    """Autosave part of the answers (``null`` clears one). Stale ``version``: 409, nothing saved."""
    now = _now(now)
    reading = _lock_for_change(reading, version, now)
    if reading.status != ReadingStatus.IN_PROGRESS:
        raise ConflictError("This reading is submitted and locked.")
    _require_available(reading.assignment, now)
    specs = study_specs(reading.assignment.session.study)
    merged = _merge(specs, reading.answers, answers)
    _check_roi_series(reading, specs, answers)
    _touch(reading, now)
    before, after = _changed(reading.answers, merged)
    if before or after:
        reading.answers = merged
        reading.version += 1
        audit_event_record(
            actor=actor, verb="reading.save", obj=reading, before=before, after=after
        )
    reading.save()
    return reading


@transaction.atomic
def reading_heartbeat(*, actor: User, reading: Reading, now: dt.datetime | None = None) -> Reading:
    """The reading page is open and in use: add the time since the last sign of activity."""
    now = _now(now)
    reading = Reading.objects.select_for_update().get(pk=reading.pk)
    if reading.status == ReadingStatus.IN_PROGRESS and reading.is_current:
        _touch(reading, now)
        reading.save(update_fields=["active_seconds", "last_activity_at", "updated_at"])
    return reading


@transaction.atomic
def reading_submit(
    *,
    actor: User,
    reading: Reading,
    version: int,
    answers: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Reading:
    """Submit (and lock) a reading; every required question must be answered (else 400)."""
    now = _now(now)
    reading = _lock_for_change(reading, version, now)
    if reading.status != ReadingStatus.IN_PROGRESS:
        raise ConflictError("This reading is already submitted.")
    _require_available(reading.assignment, now)
    specs = study_specs(reading.assignment.session.study)
    merged = _merge(specs, reading.answers, answers or {})
    _check_roi_series(reading, specs, merged)
    missing = questions.missing_required(specs, merged)
    if missing:
        raise AnswerError({key: "an answer is required before submitting" for key in missing})
    before = {"status": reading.status, "answers": reading.answers}
    _touch(reading, now)
    reading.answers = merged
    reading.status = ReadingStatus.SUBMITTED
    reading.submitted_at = now
    reading.version += 1
    reading.save()
    audit_event_record(
        actor=actor,
        verb="reading.submit",
        obj=reading,
        before=before,
        after={
            "status": reading.status,
            "answers": merged,
            "active_seconds": reading.active_seconds,
        },
    )
    assignment = ReaderAssignment.objects.select_for_update().get(pk=reading.assignment_id)
    if selectors.submitted_count(assignment) == len(assignment.case_order):
        assignment.finished_at = now
        assignment.save(update_fields=["finished_at"])
        audit_event_record(
            actor=actor,
            verb="assignment.finish",
            obj=assignment,
            after={"finished_at": now.isoformat()},
        )
    _exports_refresh(assignment.session.study_id)
    return reading


@transaction.atomic
def reading_amend(
    *,
    actor: User,
    reading: Reading,
    version: int,
    answers: Mapping[str, Any],
    reason: str,
    now: dt.datetime | None = None,
) -> Reading:
    """Correct a submitted reading, when the study allows it: a new reading supersedes the old
    one (kept, with its values), with the reason in both the reading and the audit trail."""
    now = _now(now)
    study = reading.assignment.session.study
    if not study.allow_amendments:
        raise NotAllowedError("Submitted readings cannot be amended in this study.")
    if not reason.strip():
        raise ReaderStudyError("An amendment needs a reason.", field="reason")
    old = _lock_for_change(reading, version, now)
    if old.status != ReadingStatus.SUBMITTED:
        raise ConflictError("Only submitted readings are amended; save this one instead.")
    if study.status != StudyStatus.ACTIVE:
        raise ConflictError("The study is not active.")
    specs = study_specs(study)
    merged = _merge(specs, old.answers, answers)
    _check_roi_series(old, specs, merged)
    missing = questions.missing_required(specs, merged)
    if missing:
        raise AnswerError({key: "an answer is required" for key in missing})
    old.is_current = False
    old.save(update_fields=["is_current", "updated_at"])
    new = Reading.objects.create(
        assignment=old.assignment,
        study_case=old.study_case,
        answers=merged,
        status=ReadingStatus.SUBMITTED,
        supersedes=old,
        amendment_reason=reason.strip(),
        opened_at=now,
        submitted_at=now,
        last_activity_at=now,
        version=old.version + 1,
    )
    before, after = _changed(old.answers, merged)
    audit_event_record(
        actor=actor,
        verb="reading.amend",
        obj=new,
        before={"reading": str(old.pk), **before},
        after={"reading": str(new.pk), **after},
        reason=reason.strip(),
    )
    _exports_refresh(study.pk)
    return new


# --- Reference standards ---------------------------------------------------------------------


def _validate_reference_values(
    study: ReaderStudy, question: Question | None, values: Mapping[str, Any]
) -> None:
    if question is None:
        if study.reference_form != "intraoperative":
            raise ReaderStudyError("this study has no structured reference form; name a question")
        error = next(
            iter(Draft202012Validator(protocols.INTRAOPERATIVE_SCHEMA).iter_errors(values)), None
        )
        if error is not None:
            where = "/".join(str(part) for part in error.absolute_path)
            raise ReaderStudyError(f"intraoperative findings {where}: {error.message}")
        seen = [(item["level"], item["side"]) for item in values["findings"]]
        if len(set(seen)) != len(seen):
            raise ReaderStudyError("each level and side appears once in the findings")
        return
    if set(values) != {"value"}:
        raise ReaderStudyError('a reference for one question is {"value": <answer>}')
    if question.type == questions.COMPUTED:
        raise ReaderStudyError("computed questions take no reference; they are computed")
    try:
        questions.validate_answer(question_spec(question), values["value"])
    except questions.AnswerError as exc:
        raise ReaderStudyError(f"reference value: {exc}") from exc


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
                "Someone changed this reference meanwhile; reload it. Nothing was saved.",
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
    _exports_refresh(study.pk)
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
