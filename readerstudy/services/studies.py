"""Studies and their sessions: creation from a protocol template, settings, the
draft -> active -> closed life cycle, and each session's washout and hanging protocol.

The reading design (case order, crossover) is fixed once readers are assigned; hanging
protocols freeze with the first reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import User
from accounts.services import audit_event_record
from readerstudy import protocols, questions, texts
from readerstudy.models import (
    CaseOrderDesign,
    MemberRole,
    Question,
    ReaderAssignment,
    ReaderStudy,
    ReferenceStandard,
    Session,
    SessionStatus,
    StudyMembership,
    StudyStatus,
)
from readerstudy.services.assignments import assignment_create, placements_create
from readerstudy.services.base import (
    ConflictError,
    ReaderStudyError,
    ensure_not_frozen,
    study_changed,
    translations_checked,
)


def _session_data(session: Session) -> dict[str, Any]:
    return {
        "order": session.order,
        "name": session.name,
        "washout_days": session.washout_days,
        "hanging_protocol": session.hanging_protocol,
        "status": session.status,
        "translations": session.translations,
    }


STUDY_FIELDS = (
    "title", "description", "reader_title", "reader_instructions", "status",
    "case_order_design", "crossover", "allow_amendments", "reference_form", "translations",
)  # fmt: skip


def _study_data(study: ReaderStudy) -> dict[str, Any]:
    return {name: getattr(study, name) for name in STUDY_FIELDS}


def _validate_hanging_protocol(protocol: Mapping[str, Any]) -> None:
    problem = questions.first_problem(protocols.hanging_protocol_schema(), protocol)
    if problem is not None:
        raise ReaderStudyError(_("hanging protocol: %(problem)s") % {"problem": problem.text(_)})
    labels = [slot["label"] for slot in protocol["slots"]]
    if len(set(labels)) != len(labels):
        raise ReaderStudyError(_("hanging protocol slot labels must be unique"))


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
            _("unknown protocol %(protocol)r; choose one of %(protocols)s")
            % {"protocol": protocol, "protocols": ", ".join(protocols.TEMPLATES)}
        )
    if washout_days is not None and not 0 <= washout_days <= 3650:
        raise ReaderStudyError(_("washout_days must be between 0 and 3650"))
    study_texts = {
        language: {
            name: texts[name]
            for name in ("title", "description", "reader_title")
            if name in texts
            and not (name == "title" and title)
            and not (name == "description" and description is not None)
        }
        for language, texts in template.translations.items()
    }
    study = ReaderStudy.objects.create(
        title=(title or template.title)[:200],
        description=template.description if description is None else description,
        reader_title=template.reader_title,
        translations=study_texts,
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
            translations={
                language: {"name": texts["sessions"][order]}
                for language, texts in template.translations.items()
                if order in texts.get("sessions", {})
            },
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
            translations={
                language: texts["questions"][item.key]
                for language, texts in template.translations.items()
                if item.key in texts.get("questions", {})
            },
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
    "translations": dict,
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
        raise ConflictError(_("the reading design is fixed once readers are assigned"))
    if "title" in changes and not texts.has_visible_text(str(changes["title"])):
        raise ReaderStudyError(_("the title must not be empty"))
    before = _study_data(study)
    for name, value in changes.items():
        if name == "translations":
            value = translations_checked(value, texts.STUDY_FIELDS)
        setattr(study, name, value)
    study.save()
    study_changed(study.pk)
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
        raise ReaderStudyError(
            _("status must be one of %(statuses)s") % {"statuses": ", ".join(StudyStatus.values)}
        )
    current = StudyStatus(study.status)
    if status not in _TRANSITIONS[current]:
        raise ConflictError(
            _("a study in state %(current)s cannot become %(status)s")
            % {"current": current.label, "status": StudyStatus(status).label}
        )
    if status == StudyStatus.ACTIVE:
        missing = [
            what
            for what, present in (
                (_("sessions"), study.sessions.exists()),
                (_("questions"), study.questions.exists()),
                (_("cases"), study.study_cases.exists()),
            )
            if not present
        ]
        if missing:
            raise ConflictError(
                _("the study needs %(what)s before it can start") % {"what": _(", ").join(missing)}
            )
    before = {"status": study.status}
    study.status = status
    study.save(update_fields=["status", "updated_at"])
    study_changed(study.pk)
    audit_event_record(
        actor=actor, verb="study.status", obj=study, before=before, after={"status": status}
    )
    return study


@transaction.atomic
def session_create(
    *,
    actor: User | None,
    study: ReaderStudy,
    name: str,
    hanging_protocol: Mapping[str, Any],
    washout_days: int = 0,
    translations: Mapping[str, Any] | None = None,
) -> Session:
    ensure_not_frozen(study, gettext_noop("Sessions"))
    clean_translations = translations_checked(translations or {}, texts.SESSION_FIELDS)
    _validate_hanging_protocol(hanging_protocol)
    if not texts.has_visible_text(name):
        raise ReaderStudyError(_("name must not be empty"))
    order = (study.sessions.order_by("-order").values_list("order", flat=True).first() or 0) + 1
    session = Session.objects.create(
        study=study,
        order=order,
        name=name,
        translations=clean_translations,
        washout_days=washout_days,
        hanging_protocol=dict(hanging_protocol),
    )
    for membership in StudyMembership.objects.filter(study=study, role=MemberRole.READER):
        assignment_create(
            actor=actor, session=session, reader=membership.user, membership=membership
        )
    study_changed(session.study_id)
    audit_event_record(
        actor=actor, verb="session.create", obj=session, after=_session_data(session)
    )
    return session


@transaction.atomic
def session_update(*, actor: User | None, session: Session, changes: Mapping[str, Any]) -> Session:
    """Rename, change the washout, open or close; the hanging protocol freezes with readings."""
    allowed = {"name", "washout_days", "hanging_protocol", "status", "translations"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ReaderStudyError(f"cannot change {', '.join(unknown)}")
    if "status" in changes and changes["status"] not in SessionStatus.values:
        raise ReaderStudyError(f"status must be one of {', '.join(SessionStatus.values)}")
    washout = changes.get("washout_days", session.washout_days)
    if isinstance(washout, bool) or not isinstance(washout, int) or not 0 <= washout <= 3650:
        raise ReaderStudyError(_("washout_days must be a whole number of days, 0 to 3650"))
    if "name" in changes and not texts.has_visible_text(str(changes["name"])):
        raise ReaderStudyError(_("name must not be empty"))
    if "hanging_protocol" in changes:
        ensure_not_frozen(session.study, gettext_noop("Hanging protocols"))
        _validate_hanging_protocol(changes["hanging_protocol"])
    before = _session_data(session)
    for name, value in changes.items():
        if name == "translations":
            value = translations_checked(value, texts.SESSION_FIELDS)
        setattr(session, name, value)
    session.save()
    if "hanging_protocol" in changes:
        for assignment in ReaderAssignment.objects.filter(protocol_session=session):
            placements_create(assignment)
    study_changed(session.study_id)
    audit_event_record(
        actor=actor, verb="session.update", obj=session, before=before, after=_session_data(session)
    )
    return session
