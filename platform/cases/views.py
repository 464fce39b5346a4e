"""Coordinator pages: case list with thumbnails and search, case detail, new case, upload.

Each view: parse, authorize (coordinators only; a case the user may not see is a 404), call a
service, respond. The upload page's script talks to the uploads API.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.permissions import acting_user, can_manage_studies
from cases import errors, selectors, services
from cases.models import Case, Region, SeriesRole

View = Callable[..., HttpResponse]


def coordinator_required(view: View) -> View:
    """Logged in (else the login page) and a coordinator or admin (else 403)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_manage_studies(request.user):
            raise PermissionDenied(_("Only study coordinators manage cases."))
        return view(request, *args, **kwargs)

    return wrapper


class CaseForm(forms.Form):
    label = forms.CharField(label=gettext_lazy("Label"), max_length=100)
    region = forms.ChoiceField(label=gettext_lazy("Region"), choices=Region.choices)
    levels = forms.CharField(
        label=gettext_lazy("Levels"),
        max_length=50,
        required=False,
        help_text=gettext_lazy("e.g. C2-C7 or L4/5"),
    )
    clinical_notes = forms.CharField(
        label=gettext_lazy("Clinical notes"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )


class SeriesRoleForm(forms.Form):
    role = forms.ChoiceField(choices=SeriesRole.choices)


@coordinator_required
def case_list(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "").strip()[:100]
    region = request.GET.get("region", "")
    if region not in Region.values:
        region = ""
    cases = selectors.case_search_for_user(user=request.user, text=text, region=region)
    page = Paginator(cases.order_by("label"), 24).get_page(request.GET.get("page"))
    rows = [(case, selectors.case_thumbnail_path(case=case)) for case in page]
    context = {
        "page": page,
        "rows": rows,
        "q": text,
        "region": region,
        "regions": Region.choices,
        "unassigned": selectors.unassigned_studies_for_user(user=request.user).count(),
    }
    return render(request, "cases/list.html", context)


@coordinator_required
def case_detail(request: HttpRequest, case_id: str) -> HttpResponse:
    case = selectors.get_case_for_user(user=request.user, case_id=case_id)
    series = [
        (item, selectors.series_thumbnail_path(series=item))
        for item in selectors.case_series(case=case)
    ]
    edit_form = CaseForm(initial={field: getattr(case, field) for field in CaseForm.base_fields})
    context = {"case": case, "series": series, "roles": SeriesRole.choices, "form": edit_form}
    return render(request, "cases/detail.html", context)


@coordinator_required
@require_POST
def case_edit(request: HttpRequest, case_id: str) -> HttpResponse:
    case = selectors.get_case_for_user(user=request.user, case_id=case_id)
    form = CaseForm(request.POST)
    if not form.is_valid():
        messages.error(
            request, _("The case was not changed: %(errors)s") % {"errors": form.errors.as_text()}
        )
        return redirect("cases:detail", case_id=case.pk)
    changes = {
        field: value for field, value in form.cleaned_data.items() if getattr(case, field) != value
    }
    if changes:
        try:
            services.case_update(actor=acting_user(request), case=case, changes=changes)
            messages.success(request, _("Case updated."))
        except errors.CaseError as exc:
            messages.error(request, str(exc))
    return redirect("cases:detail", case_id=case.pk)


@coordinator_required
@require_POST
def series_role(request: HttpRequest, case_id: str, series_id: str) -> HttpResponse:
    case = selectors.get_case_for_user(user=request.user, case_id=case_id)
    series = selectors.get_series_by_id_for_user(user=request.user, series_id=series_id)
    if series.study.case_id != case.pk:
        raise PermissionDenied(_("The series is not part of this case."))
    form = SeriesRoleForm(request.POST)
    if form.is_valid():
        role = SeriesRole(form.cleaned_data["role"])
        services.series_role_assign(actor=acting_user(request), series=series, role=role)
        messages.success(
            request,
            _("Series %(number)s is now %(role)s.")
            % {"number": series.series_number or "", "role": role.label},
        )
    else:
        messages.error(request, _("Choose one of the listed roles."))
    return redirect("cases:detail", case_id=case.pk)


@coordinator_required
@require_POST
def case_delete(request: HttpRequest, case_id: str) -> HttpResponse:
    case = selectors.get_case_for_user(user=request.user, case_id=case_id)
    if request.POST.get("confirm_label") != case.label:
        messages.error(request, _("Type the case label to confirm the deletion."))
        return redirect("cases:detail", case_id=case.pk)
    try:
        services.case_delete(actor=acting_user(request), case=case)
    except errors.CaseError as exc:
        messages.error(request, str(exc))
        return redirect("cases:detail", case_id=case.pk)
    messages.success(request, _("Case %(label)s was deleted.") % {"label": case.label})
    return redirect("cases:list")


@coordinator_required
def case_new(request: HttpRequest) -> HttpResponse:
    """Make a case of uploaded studies (all of one patient)."""
    studies = selectors.unassigned_studies_for_user(user=request.user)
    form = CaseForm(request.POST or None)
    chosen = request.POST.getlist("studies") if request.method == "POST" else []
    if request.method == "POST" and form.is_valid():
        selected = list(studies.filter(study_instance_uid__in=chosen))
        if not selected or len(selected) != len(set(chosen)):
            form.add_error(None, _("Choose one or more of the listed studies."))
        else:
            try:
                case: Case = services.case_create(
                    actor=acting_user(request), studies=selected, **form.cleaned_data
                )
            except errors.CaseError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Case %(label)s was created.") % {"label": case.label})
                return redirect("cases:detail", case_id=case.pk)
    context = {"form": form, "studies": studies, "chosen": set(chosen)}
    return render(request, "cases/new.html", context)


@coordinator_required
def upload(request: HttpRequest) -> HttpResponse:
    return render(request, "cases/upload.html", {"max_bytes": settings.SAGITTAL_MAX_UPLOAD_BYTES})
