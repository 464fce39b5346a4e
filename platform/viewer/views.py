"""Viewer pages: the coordinator's case viewer (all series of a case, any layout)."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from cases.api import CaseDetailOut
from cases.selectors import get_case_for_user


def dicomweb_root() -> str:
    """The path of the platform's DICOMweb root (the viewer adds studies/... to it)."""
    return reverse("qido-studies").removesuffix("/studies")


@login_required
def case_viewer(request: HttpRequest, case_id: uuid.UUID) -> HttpResponse:
    # Coordinators and admins only: everyone else gets the same 404 as for a missing case.
    case = get_case_for_user(user=request.user, case_id=case_id)
    data = {**CaseDetailOut(case).data, "dicomweb_root": dicomweb_root()}
    return render(request, "viewer/case.html", {"case": case, "case_data": data})
