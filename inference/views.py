"""Pages: a case's inference panel (start, watch, cancel jobs), the model registry and cards.

Each view parses, authorizes through the permission-scoped selectors (404 for what the user may
not see), calls one service and responds. The panel's progress bars poll the REST API.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import can_manage_studies
from cases.models import Case
from inference import jobs, registry, selectors
from inference.errors import InferenceError
from inference.models import ModelTask


class JobStartForm(forms.Form):
    series = forms.UUIDField(label=gettext_lazy("CT series"))
    model_version = forms.UUIDField(label=gettext_lazy("Model"))
    steps = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=jobs.MAX_SAMPLING_STEPS,
        label=gettext_lazy("DDIM steps"),
    )
    seed = forms.IntegerField(
        label=gettext_lazy("Seed"), required=False, min_value=0, max_value=2**31 - 1
    )


def _panel_url(case: Case, job_id: uuid.UUID | None = None) -> str:
    url = reverse("inference:case-panel", kwargs={"case_id": case.pk})
    return f"{url}#job-{job_id}" if job_id else url


def _panel(request: HttpRequest, case: Case, form: JobStartForm, status: int = 200) -> HttpResponse:
    user = request.user
    models = list(selectors.model_versions_for_user(user=user))
    active = selectors.active_model_versions()
    job_rows = selectors.jobs_for_user(user=user).filter(case=case)
    context: dict[str, Any] = {
        "case": case,
        "form": form,
        "input_series": selectors.case_input_series(case=case),
        "output_series": selectors.case_output_series(case=case),
        "models": models,
        "missing_tasks": [task for task in ModelTask if task.value not in active],
        "jobs": job_rows,
        "default_model": next(
            (m for m in models if m.is_active and m.task == ModelTask.PSEUDO_MRI),
            next((m for m in models if m.is_active), None),
        ),
    }
    return render(request, "inference/case_panel.html", context, status=status)


@login_required
@require_GET
def case_panel(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    """The inference panel of a case: its CT series, jobs with live progress, outputs."""
    case = selectors.get_case_for_user(user=request.user, case_id=case_id)
    return _panel(request, case, JobStartForm())


#: Jobs listed on the jobs page (newest first).
JOB_LIST_LIMIT = 200


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    """The newest jobs of every case the user manages, with live progress (the demo's too)."""
    if not can_manage_studies(request.user):
        raise Http404(_("No such page."))
    rows = selectors.jobs_for_user(user=request.user).order_by("-created_at")[:JOB_LIST_LIMIT]
    return render(request, "inference/job_list.html", {"jobs": list(rows)})


@login_required
@require_POST
def job_start(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    case = selectors.get_case_for_user(user=request.user, case_id=case_id)
    form = JobStartForm(request.POST)
    if not form.is_valid():
        return _panel(request, case, form, status=400)
    values = form.cleaned_data
    series = selectors.get_case_series(case=case, series_id=values["series"])
    model = selectors.get_model_version_for_user(
        user=request.user, model_version_id=values["model_version"]
    )
    parameters = {k: values[k] for k in ("steps", "seed") if values.get(k) is not None}
    if model.task != ModelTask.PSEUDO_MRI:
        parameters = {}  # the form shows sampling options for every model; only diffusion uses them
    try:
        job = jobs.job_create(
            actor=request.user,  # type: ignore[arg-type]
            case=case,
            source_series=series,
            model_version=model,
            parameters=parameters,
        )
    except InferenceError as exc:
        form.add_error(None, str(exc))
        return _panel(request, case, form, status=400)
    messages.success(
        request,
        _("Started %(task)s on series %(series)s.")
        % {"task": model.get_task_display(), "series": series},
    )
    return HttpResponseRedirect(_panel_url(case, job.pk))


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    job = selectors.get_job_for_user(user=request.user, job_id=job_id)
    try:
        jobs.job_cancel(actor=request.user, job=job)  # type: ignore[arg-type]
    except InferenceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The job was cancelled."))
    return HttpResponseRedirect(_panel_url(job.case, job.pk))


@login_required
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    """The model registry: every registered version per task, the active one marked."""
    if not can_manage_studies(request.user):
        raise Http404(_("No such page."))
    models = selectors.model_versions_for_user(user=request.user)
    return render(
        request,
        "inference/model_list.html",
        {"models": models, "tasks": ModelTask.choices},
    )


@login_required
@require_GET
def model_card(request: HttpRequest, model_id: uuid.UUID) -> HttpResponse:
    """A model card: what the model is, what it was trained on and how well it does."""
    model = selectors.get_model_version_for_user(user=request.user, model_version_id=model_id)
    return render(
        request,
        "inference/model_card.html",
        {
            "model": model,
            "metrics_json": json.dumps(model.metrics, indent=2, sort_keys=True),
            "training_json": json.dumps(model.training_data, indent=2, sort_keys=True),
            "config_json": json.dumps(model.config, indent=2, sort_keys=True),
            "jobs": selectors.jobs_for_user(user=request.user).filter(model_version=model)[:20],
        },
    )


@login_required
@require_POST
def model_activate(request: HttpRequest, model_id: uuid.UUID) -> HttpResponse:
    model = selectors.get_model_version_for_user(user=request.user, model_version_id=model_id)
    try:
        registry.model_version_activate(actor=request.user, model_version=model)  # type: ignore[arg-type]
    except InferenceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("%(model)s is now the active %(task)s model.")
            % {"model": model, "task": model.get_task_display()},
        )
    return HttpResponseRedirect(reverse("inference:model-card", kwargs={"model_id": model.pk}))
