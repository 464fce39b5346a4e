"""Reader-study pages: the reader's home and workstation, the coordinator's studies and the
reference entry form.

Each view: parse, authorize through a ``selectors`` helper (404 for what the user may not
see), call a service, respond. Coordinator forms post back to their page (post/redirect/get)
with the service's message. The workstation page is a shell: its script talks to the reading
API and mounts the viewer on the blinded DICOMweb prefix.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from accounts.permissions import acting_user, can_manage_studies
from cases import selectors as case_selectors
from readerstudy import imports, protocols, questions, selectors, services, texts
from readerstudy.models import (
    CaseOrderDesign,
    MemberRole,
    Question,
    ReaderStudy,
    ReferenceSource,
    ReferenceStandard,
    SessionStatus,
    StudyMembership,
    StudyStatus,
)
from readerstudy.results import sheets

# --- Reader pages ----------------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The reader's assignments: available, locked until the washout ends, done."""
    groups: dict[str, list[tuple[Any, selectors.AssignmentState]]] = {
        selectors.AVAILABLE: [],
        selectors.LOCKED: [],
        selectors.DONE: [],
        selectors.CLOSED: [],
    }
    for assignment in selectors.assignments_for_user(user=request.user):
        state = selectors.assignment_state(assignment)
        groups[state.state].append((assignment, state))
    context = {
        "available": groups[selectors.AVAILABLE],
        "locked": groups[selectors.LOCKED],
        "done": groups[selectors.DONE],
        "closed": groups[selectors.CLOSED],
        "can_manage": can_manage_studies(request.user),
    }
    return render(request, "readerstudy/home.html", context)


def _viewer_available() -> bool:
    return apps.is_installed("viewer")


@login_required
def workstation(
    request: HttpRequest, assignment_id: Any, position: int | None = None
) -> HttpResponse:
    assignment = selectors.get_assignment_for_user(user=request.user, assignment_id=assignment_id)
    state = selectors.assignment_state(assignment)
    page = reverse("readerstudy:workstation", args=[assignment.pk])
    if state.state in (selectors.LOCKED, selectors.CLOSED):
        return render(
            request,
            "readerstudy/locked.html",
            {"assignment": assignment, "state": state},
            status=409,
        )
    if position is None:
        return redirect(f"{page}cases/{state.next_position}/")
    if not 1 <= position <= state.total:
        return redirect(f"{page}cases/{state.next_position}/")
    config = {
        "assignment": str(assignment.pk),
        "position": position,
        "openUrl": f"/api/v1/reading/assignments/{assignment.pk}/cases/{position}/open/",
        "homeUrl": reverse("readerstudy:home"),
        "heartbeatSeconds": 15,
    }
    context = {
        "assignment": assignment,
        "study_title": texts.localized(assignment.session.study, "reader_title"),
        "session_name": texts.localized(assignment.session, "name"),
        "position": position,
        "total": state.total,
        "config": config,
        "viewer_available": _viewer_available(),
    }
    return render(request, "readerstudy/workstation.html", context)


# --- Coordinator pages -----------------------------------------------------------------------


def _coordinator(request: HttpRequest) -> None:
    if not can_manage_studies(request.user):
        raise PermissionDenied(_("Only study coordinators manage reader studies."))


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    """Studies the user coordinates or enters references for; coordinators create new ones."""
    can_create = can_manage_studies(request.user)
    if request.method == "POST":
        _coordinator(request)
        protocol = request.POST.get("protocol", "")
        washout = request.POST.get("washout_days", "").strip()
        try:
            study = services.study_create_from_template(
                actor=acting_user(request),
                protocol=protocol,
                title=request.POST.get("title", "").strip(),
                washout_days=int(washout) if washout else None,
            )
        except ValueError:
            messages.error(request, _("The washout is a whole number of days."))
        except services.ReaderStudyError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, _("Study “%(title)s” created as a draft.") % {"title": study.title}
            )
            return redirect("readerstudy:study", study_id=study.pk)
        return redirect("readerstudy:studies")
    studies = [
        study
        for study in selectors.studies_for_user(user=request.user)
        if selectors.can_enter_references(user=request.user, study=study)
    ]
    if not studies and not can_create:
        raise PermissionDenied(_("You coordinate no reader study."))
    context = {
        "studies": studies,
        "templates": [
            {
                "key": template.key,
                "title": template.localized("title", get_language() or ""),
                "description": template.localized("description", get_language() or ""),
            }
            for template in protocols.TEMPLATES.values()
        ],
        "can_create": can_create,
    }
    return render(request, "readerstudy/study_list.html", context)


def _study_action(request: HttpRequest, study: ReaderStudy) -> None:
    """Run the coordinator action a form posted; report the outcome as a message."""
    actor = acting_user(request)
    action = request.POST.get("action", "")
    post = request.POST
    if action == "status":
        services.study_status_set(actor=actor, study=study, status=post.get("status", ""))
        messages.success(
            request, _("The study is now %(status)s.") % {"status": study.get_status_display()}
        )
    elif action == "settings":
        services.study_update(
            actor=actor,
            study=study,
            changes={
                "title": post.get("title", "").strip(),
                "reader_title": post.get("reader_title", "").strip() or _("Reader study"),
                "reader_instructions": post.get("reader_instructions", ""),
                "allow_amendments": post.get("allow_amendments") == "on",
                "translations": _posted_translations(
                    post, study.translations, ("title", "reader_title", "reader_instructions")
                ),
            },
        )
        messages.success(request, _("Settings saved."))
    elif action == "design":
        services.study_update(
            actor=actor,
            study=study,
            changes={
                "case_order_design": post.get("case_order_design", ""),
                "crossover": post.get("crossover") == "on",
            },
        )
        messages.success(request, _("Reading design saved."))
    elif action == "session":
        session = selectors.get_session_for_user(
            user=request.user, study=study, order=_int(post.get("order"))
        )
        changes: dict[str, Any] = {}
        if post.get("status") in SessionStatus.values:
            changes["status"] = post["status"]
        if post.get("washout_days", "").strip():
            changes["washout_days"] = _int(post["washout_days"])
        services.session_update(actor=actor, session=session, changes=changes)
        messages.success(request, _("%(name)s saved.") % {"name": session.name})
    elif action == "add_cases":
        cases = [
            case_selectors.get_case_for_user(user=request.user, case_id=case_id)
            for case_id in post.getlist("cases")
        ]
        result = services.study_cases_add(actor=actor, study=study, cases=cases)
        (messages.warning if result.skipped else messages.success)(request, result.message)
    elif action == "remove_case":
        study_case = selectors.get_study_case_for_user(
            user=request.user, study=study, study_case_id=post.get("study_case", "")
        )
        services.study_case_remove(actor=actor, study_case=study_case)
        messages.success(request, _("Case removed."))
    elif action == "member":
        user = selectors.get_member_user_for_user(
            user=request.user, study=study, username=post.get("username", "").strip()
        )
        services.membership_add(actor=actor, study=study, user=user, role=post.get("role", ""))
        posted_role = post.get("role", "")
        role = MemberRole(posted_role).label if posted_role in MemberRole.values else ""
        messages.success(
            request, _("%(user)s added as %(role)s.") % {"user": user.get_username(), "role": role}
        )
    elif action == "remove_member":
        user = selectors.get_member_user_for_user(
            user=request.user, study=study, username=post.get("username", "")
        )
        services.membership_remove(actor=actor, study=study, user=user, role=post.get("role", ""))
        messages.success(request, _("%(user)s removed.") % {"user": user.get_username()})
    elif action == "question_label":
        question = selectors.get_question_for_user(
            user=request.user, study=study, key=post.get("key", "")
        )
        services.question_update(
            actor=actor,
            question=question,
            changes={
                "label": post.get("label", "").strip(),
                "translations": _posted_translations(post, question.translations, ("label",)),
            },
        )
        messages.success(request, _("Question label saved."))
    else:
        messages.error(request, _("Unknown action."))


def other_languages() -> list[tuple[str, str]]:
    """The languages a study's texts may be written in besides its main one (the site's)."""
    main = settings.LANGUAGE_CODE.split("-")[0]
    return [(code, name) for code, name in settings.LANGUAGES if code != main]


def _posted_translations(
    post: Any, current: dict[str, Any], fields: tuple[str, ...]
) -> dict[str, Any]:
    """The object's translations with the form's ``<field>__<language>`` inputs applied (an
    empty input removes that translation; texts the form does not show are kept)."""
    merged = {language: dict(texts) for language, texts in (current or {}).items()}
    for code, _name in other_languages():
        for field in fields:
            name = f"{field}__{code}"
            if name in post:
                merged.setdefault(code, {})[field] = post[name].strip()
    return merged


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise services.ReaderStudyError(_("a whole number is expected")) from exc


@login_required
def study_detail(request: HttpRequest, study_id: Any) -> HttpResponse:
    study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
    if request.method == "POST":
        try:
            _study_action(request, study)
        except questions.AnswerError as exc:
            messages.error(request, services.answer_problems_text(exc))
        except services.ReaderStudyError as exc:
            messages.error(request, exc.message)
        except Http404 as exc:
            # A user, case or session named in the form that the coordinator cannot reach.
            messages.error(request, str(exc) or _("Not found."))
        return redirect("readerstudy:study", study_id=study.pk)
    in_study = set(study.study_cases.values_list("case_id", flat=True))
    candidates = [
        case for case in case_selectors.cases_for_user(user=request.user) if case.pk not in in_study
    ]
    memberships = StudyMembership.objects.filter(study=study).select_related("user")
    references = {
        ref.study_case_id: ref
        for ref in ReferenceStandard.objects.filter(study=study, study_case__isnull=False)
    }
    study_cases = [
        (sc, references.get(sc.pk))
        for sc in study.study_cases.select_related("case").order_by("order")
    ]
    context = {
        "study": study,
        "sessions": study.sessions.order_by("order"),
        "questions": study.questions.order_by("order", "id"),
        "study_cases": study_cases,
        "candidates": candidates,
        "memberships": memberships.order_by("role", "user__username"),
        "progress": selectors.study_progress(study=study),
        "rules": ReferenceStandard.objects.filter(
            study=study, study_case__isnull=True
        ).select_related("session", "reference_session", "reference_reader"),
        "frozen": selectors.study_has_readings(study),
        "statuses": StudyStatus,
        "roles": MemberRole.choices,
        "designs": CaseOrderDesign.choices,
        "export_url": reverse("api-reader-study-export", args=[study.pk]),
        "other_languages": other_languages(),
    }
    return render(request, "readerstudy/study_detail.html", context)


@login_required
def study_import(request: HttpRequest, study_id: Any) -> HttpResponse:
    """Import readings recorded outside the platform from a CSV file (see ``imports``).

    Renders the outcome in place: the error table (400, nothing stored) or the summary.
    """
    study = selectors.get_managed_study_for_user(user=request.user, study_id=study_id)
    context: dict[str, Any] = {
        "study": study,
        "closed": study.status == StudyStatus.CLOSED,
        "max_mb": imports.MAX_BYTES // (1024 * 1024),
        "max_rows": imports.MAX_ROWS,
        "columns": ",".join(sheets.COLUMNS),
        "export_url": reverse("api-reader-study-export", args=[study.pk]),
        "result": None,
        "problem": "",
    }
    code = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise services.ReaderStudyError(_("Choose a CSV file to import."))
            result = imports.readings_import_upload(
                actor=acting_user(request),
                study=study,
                upload=upload,
                replace=request.POST.get("replace") == "on",
                dry_run=request.POST.get("dry_run") == "on",
            )
        except services.ReaderStudyError as exc:
            context["problem"] = exc.message
            code = exc.status
        else:
            context["result"] = result
            code = 200 if result.ok else 400
    return render(request, "readerstudy/import.html", context, status=code)


def _intraoperative_rows(values: dict[str, Any]) -> list[dict[str, Any]]:
    given = {(f["level"], f["side"]): f for f in values.get("findings", [])}
    return [
        {
            "level": level,
            "side": side,
            "side_label": protocols.SIDE_LABELS[side],
            "dural_canal": given.get((level, side), {}).get("dural_canal", ""),
            "nerve_root": given.get((level, side), {}).get("nerve_root", ""),
        }
        for level in protocols.LUMBAR_LEVELS
        for side in protocols.SIDES
    ]


def _intraoperative_values(post: Any) -> dict[str, Any]:
    findings = []
    for level in protocols.LUMBAR_LEVELS:
        for side in protocols.SIDES:
            dural = post.get(f"dc-{level}-{side}", "")
            root = post.get(f"nr-{level}-{side}", "")
            if dural or root:
                findings.append(
                    {"level": level, "side": side, "dural_canal": dural, "nerve_root": root}
                )
    values: dict[str, Any] = {"findings": findings}
    if post.get("notes", "").strip():
        values["notes"] = post["notes"].strip()
    return values


def _consensus_value(question: Question, raw: str) -> Any:
    """A form field's text as the question's answer type (validated by the service)."""
    if raw == "":
        return None
    if question.type == questions.YES_NO:
        return {"yes": True, "no": False}.get(raw, raw)
    if question.type in (questions.ORDINAL, questions.LIKERT):
        return _int(raw)
    if question.type == questions.NUMBER:
        try:
            return float(raw)
        except ValueError as exc:
            raise services.ReaderStudyError(
                _("%(question)s: a number is expected") % {"question": question.label}
            ) from exc
    if question.type == questions.VERTEBRAL_LEVEL and "-" in raw:
        start, _dash, end = raw.partition("-")
        return {"from": start, "to": end}
    return raw


@login_required
def reference_entry(request: HttpRequest, study_id: Any, study_case_id: Any) -> HttpResponse:
    """The reference of one case: the intraoperative findings form, or consensus answers."""
    study = selectors.get_reference_study_for_user(user=request.user, study_id=study_id)
    study_case = selectors.get_study_case_for_user(
        user=request.user, study=study, study_case_id=study_case_id
    )
    enterable = [
        q
        for q in study.questions.order_by("order", "id")
        if q.type not in (questions.COMPUTED, questions.ROI)
    ]
    if request.method == "POST":
        try:
            if study.reference_form == "intraoperative":
                services.reference_set(
                    actor=acting_user(request),
                    study_case=study_case,
                    source=ReferenceSource.INTRAOPERATIVE,
                    values=_intraoperative_values(request.POST),
                    provenance=request.POST.get("provenance", "").strip(),
                )
            else:
                for question in enterable:
                    value = _consensus_value(question, request.POST.get(f"q-{question.key}", ""))
                    if value is None:
                        continue
                    services.reference_set(
                        actor=acting_user(request),
                        study_case=study_case,
                        source=ReferenceSource.CONSENSUS,
                        question=question,
                        values={"value": value},
                        provenance=request.POST.get("provenance", "").strip(),
                    )
        except services.ReaderStudyError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, _("Reference of %(case)s saved.") % {"case": study_case.case.label}
            )
            return redirect("readerstudy:reference", study_id=study.pk, study_case_id=study_case.pk)
    existing = ReferenceStandard.objects.filter(study_case=study_case)
    form_ref = existing.filter(question__isnull=True).first()
    values_by_key = {
        ref.question.key: ref.values.get("value")
        for ref in existing.filter(question__isnull=False).select_related("question")
        if ref.question is not None
    }
    context = {
        "study": study,
        "study_case": study_case,
        "form": study.reference_form,
        "rows": _intraoperative_rows(form_ref.values if form_ref else {}),
        "severities": [(value, protocols.SEVERITY_LABELS[value]) for value in protocols.SEVERITIES],
        "form_ref": form_ref,
        "questions": [(q, values_by_key.get(q.key)) for q in enterable],
        "can_manage": selectors.can_manage_study(user=request.user, study=study),
    }
    return render(request, "readerstudy/reference.html", context)
