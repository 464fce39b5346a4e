"""Deny by default, checked on every route: each URL pattern of the platform is requested (GET)
as anonymous, an outsider, reader A, reader B, a coordinator of another study, the study's
coordinator and an admin, and the status each gets is asserted against the table below.

The routes come from the URL configuration itself, so a new endpoint without an entry here
fails the test until someone decides who may reach it. Object ids in the URLs are real ones
(reader A's assignment, the study's case, its CT series), so a 200 means the object was served.
Writes are covered by each app's tests; GET shows who can see what.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import User
from cases.models import Instance, Series, SeriesRole
from readerstudy.blinding import instance_uid
from readerstudy.models import ReaderAssignment, ReaderStudy, SlotPlacement
from readerstudy.services import reading_open
from tests.inference.helpers import unregistered_job
from tests.readerstudy.conftest import (  # noqa: F401 (fixtures used by name)
    cervical_dicom,
    other_coordinator,
    slic_cases,
    slic_study,
)

PERSONAS = (
    "anonymous",
    "outsider",
    "reader_a",
    "reader_b",
    "other_coordinator",
    "coordinator",
    "admin",
)

# Status per persona, in the order of PERSONAS. Pages redirect anonymous users to the login page
# (302); the API and DICOMweb answer 401/403. 404 hides objects a user may not know about.
PAGE_COORD = (302, 403, 403, 403, 200, 200, 200)
API_COORD = (401, 403, 403, 403, 200, 200, 200)
DICOMWEB_OBJECT = (401, 404, 404, 404, 200, 200, 200)
DICOMWEB_SEARCH = (401, 200, 200, 200, 200, 200, 200)  # searches answer an empty list to readers
STUDY_PAGE = (302, 404, 403, 403, 404, 200, 200)  # readers of the study see it exists, no more
STUDY_API = (401, 404, 403, 403, 404, 200, 200)
BLINDED = (401, 404, 200, 404, 404, 404, 404)  # reader A's own assignment, nobody else's
OWN_PAGE = (302, 404, 200, 404, 404, 404, 404)
OWN_API = (401, 404, 200, 404, 404, 404, 404)
# Write-only endpoints answer GET with 405 to whoever may reach the view at all; the object is
# not looked up, so the status reveals nothing about it.
WRITE_ONLY = (401, 405, 405, 405, 405, 405, 405)
OWN_WRITE = (401, 405, 405, 405, 405, 405, 405)
PAGE_COORD_HIDDEN = (302, 404, 404, 404, 200, 200, 200)
PAGE_WRITE = (302, 404, 404, 404, 405, 405, 405)

EXPECTED: dict[str, tuple[int | set[int], ...]] = {
    "home": (302, 200, 200, 200, 200, 200, 200),
    "healthz": ({200, 503},) * 7,  # 503 while no worker answers; never a login
    "accounts:login": (200, 302, 302, 302, 302, 302, 302),
    "accounts:logout": (405,) * 7,
    "accounts:language": (405,) * 7,  # POST only; anyone may pick a language (the login page)
    "accounts:preferences": (302, 200, 200, 200, 200, 200, 200),
    "javascript-catalog": (200,) * 7,  # the browser code's strings, as public as the login page
    "api-token": (405,) * 7,
    "api-schema": (401, 200, 200, 200, 200, 200, 200),
    "api-docs": (401, 200, 200, 200, 200, 200, 200),
    "api-redoc": (401, 200, 200, 200, 200, 200, 200),
    # Cases: coordinators and admins only.
    "api-cases": API_COORD,
    "api-case": API_COORD,
    "api-series": (401, 403, 403, 403, 405, 405, 405),
    "api-unassigned": API_COORD,
    "api-uploads": (401, 403, 403, 403, 405, 405, 405),
    "cases:list": PAGE_COORD,
    "cases:new": PAGE_COORD,
    "cases:upload": PAGE_COORD,
    "cases:detail": PAGE_COORD,
    "cases:edit": (302, 403, 403, 403, 405, 405, 405),
    "cases:delete": (302, 403, 403, 403, 405, 405, 405),
    "cases:series-role": (302, 403, 403, 403, 405, 405, 405),
    "viewer:case": (302, 404, 404, 404, 200, 200, 200),
    # DICOMweb: unblinded images are for coordinators and admins; readers get 404 everywhere.
    "qido-studies": DICOMWEB_SEARCH,
    "stow-study": (401, 405, 405, 405, 405, 405, 405),
    "qido-all-series": DICOMWEB_SEARCH,
    "qido-all-instances": DICOMWEB_SEARCH,
    "qido-series": DICOMWEB_OBJECT,
    "qido-study-instances": DICOMWEB_OBJECT,
    "qido-instances": DICOMWEB_OBJECT,
    "wado-study-meta": DICOMWEB_OBJECT,
    "wado-series-meta": DICOMWEB_OBJECT,
    "wado-series": DICOMWEB_OBJECT,
    "wado-instance": DICOMWEB_OBJECT,
    "wado-instance-meta": DICOMWEB_OBJECT,
    "wado-frames": DICOMWEB_OBJECT,
    "wado-bulk": DICOMWEB_OBJECT,
    "wado-rendered": DICOMWEB_OBJECT,
    "wado-frame-rendered": DICOMWEB_OBJECT,
    # Inference: coordinators and admins.
    "inference-api-jobs": API_COORD,
    "inference-api-job": API_COORD,
    "inference-api-job-cancel": (401, 403, 403, 403, 405, 405, 405),
    "inference-api-models": API_COORD,
    "inference-api-model": API_COORD,
    "inference-api-model-activate": (401, 403, 403, 403, 405, 405, 405),
    "inference:case-panel": PAGE_COORD_HIDDEN,
    "inference:job-start": (302, 405, 405, 405, 405, 405, 405),
    "inference:job-cancel": (302, 405, 405, 405, 405, 405, 405),
    "inference:job-list": PAGE_COORD_HIDDEN,
    "inference:model-list": PAGE_COORD_HIDDEN,
    "inference:model-card": PAGE_COORD_HIDDEN,
    "inference:model-activate": (302, 405, 405, 405, 405, 405, 405),
    # Reader studies: the study's own coordinators and admins; readers only their own work.
    "api-reader-studies": (401, 200, 200, 200, 200, 200, 200),
    "api-reader-study-protocols": API_COORD,
    "api-reader-study": STUDY_API,
    "api-reader-study-status": WRITE_ONLY,
    "api-reader-study-questions": STUDY_API,
    "api-reader-study-question": WRITE_ONLY,
    "api-reader-study-sessions": STUDY_API,
    "api-reader-study-session": WRITE_ONLY,
    "api-reader-study-cases": STUDY_API,
    "api-reader-study-case": WRITE_ONLY,
    "api-reader-study-case-reference": STUDY_API,
    "api-reader-study-members": STUDY_API,
    "api-reader-study-member": WRITE_ONLY,
    "api-reader-study-progress": STUDY_API,
    "api-reader-study-readings": STUDY_API,
    "api-reader-study-references": STUDY_API,
    "api-reader-study-export": STUDY_API,
    "api-reader-study-readings-import": WRITE_ONLY,
    "api-reader-study-analysis": STUDY_API,
    "api-reading-assignments": (401, 200, 200, 200, 200, 200, 200),
    "api-reading-assignment": OWN_API,
    "api-reading-case-open": OWN_WRITE,
    "api-reading": OWN_API,
    "api-reading-submit": OWN_WRITE,
    "api-reading-heartbeat": OWN_WRITE,
    "api-reading-amend": OWN_WRITE,
    "readerstudy:home": (302, 200, 200, 200, 200, 200, 200),
    "readerstudy:workstation": (302, 404, 302, 404, 404, 404, 404),  # on to the current case
    "readerstudy:workstation-case": OWN_PAGE,
    "readerstudy:studies": PAGE_COORD,
    "readerstudy:study": STUDY_PAGE,
    "readerstudy:study-import": STUDY_PAGE,
    "readerstudy:reference": STUDY_PAGE,
    "study-results": STUDY_PAGE,
    "study-results-report": STUDY_PAGE,
    "study-results-xlsx": STUDY_PAGE,
    "study-results-zip": STUDY_PAGE,
    "all-studies-export": (302, 403, 403, 403, 403, 403, 200),
    "readerstudy:blind-qido-studies": BLINDED,
    "readerstudy:blind-qido-series": BLINDED,
    "readerstudy:blind-qido-study-instances": BLINDED,
    "readerstudy:blind-qido-instances": BLINDED,
    "readerstudy:blind-study-meta": BLINDED,
    "readerstudy:blind-series-meta": BLINDED,
    "readerstudy:blind-instance": BLINDED,
    "readerstudy:blind-instance-meta": BLINDED,
    "readerstudy:blind-frames": BLINDED,
    "readerstudy:blind-bulk": BLINDED,
    "readerstudy:blind-rendered": BLINDED,
    "readerstudy:blind-frame-rendered": BLINDED,
}


def _routes() -> Iterator[tuple[str, Any]]:
    """(name, pattern) of every named route outside Django's admin."""

    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[tuple[str, str]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                route = str(pattern.pattern)
                if route.startswith("admin/"):
                    continue
                inner = pattern.namespace or ""
                space = f"{namespace}:{inner}" if namespace and inner else namespace or inner
                yield from walk(pattern.url_patterns, prefix + route, space)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace else str(pattern.name)
                yield name, prefix + str(pattern.pattern)

    yield from walk(get_resolver().url_patterns, "", "")


def test_every_route_has_an_entry_in_the_matrix() -> None:
    names = {name for name, _ in _routes()}
    assert names - set(EXPECTED) == set(), "add the new routes to EXPECTED"
    assert set(EXPECTED) - names == set(), "remove routes that no longer exist"


@pytest.fixture
def world(
    slic_study: ReaderStudy,  # noqa: F811 (the imported fixture, by name)
    reader_a: User,
    reader_b: User,
    coordinator: User,
    other_coordinator: User,  # noqa: F811
    admin_user: User,
    outsider: User,
) -> dict[str, Any]:
    assignment = ReaderAssignment.objects.get(
        session__study=slic_study, session__order=1, reader=reader_a
    )
    reading, study_case = reading_open(actor=reader_a, assignment=assignment, position=1)
    assert reading is not None
    placement = SlotPlacement.objects.get(assignment=assignment, study_case=study_case, slot="CT")
    ct = Series.objects.get(study__case=study_case.case, role=SeriesRole.CT)
    instance = Instance.objects.filter(series=ct).order_by("instance_number").first()
    assert instance is not None
    job = unregistered_job(study_case.case, ct)
    model = job.model_version
    values = {
        "case_id": study_case.case_id,
        "series_id": ct.pk,
        "study_id": slic_study.pk,
        "study_case_id": study_case.pk,
        "assignment_id": assignment.pk,
        "reading_id": reading.pk,
        "position": 1,
        "order": 1,
        "key": "cord_edema",
        "role": "reader",
        "username": reader_a.username,
        "frame_list": "1",
        "frame_number": 1,
        "tag": "7FE00010",
        "model_id": model.pk,
        "job_id": job.pk,
    }
    unblinded = {
        "study_uid": ct.study.study_instance_uid,
        "series_uid": ct.series_instance_uid,
        "sop_uid": instance.sop_instance_uid,
    }
    blinded = {
        "study_uid": placement.blinded_study_uid,
        "series_uid": placement.blinded_series_uid,
        "sop_uid": instance_uid(placement.blinded_series_uid, 1),
    }
    users = {
        "anonymous": None,
        "outsider": outsider,
        "reader_a": reader_a,
        "reader_b": reader_b,
        "other_coordinator": other_coordinator,
        "coordinator": coordinator,
        "admin": admin_user,
    }
    return {"values": values, "unblinded": unblinded, "blinded": blinded, "users": users}


def _url(route: str, name: str, world: dict[str, Any]) -> str:
    uids = world["blinded"] if name.startswith("readerstudy:blind") else world["unblinded"]

    def fill(match: re.Match[str]) -> str:
        key = match.group(2)
        return str(uids[key] if key in uids else world["values"][key])

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)


@pytest.mark.django_db
def test_each_persona_gets_exactly_the_expected_status_on_every_route(
    world: dict[str, Any],
) -> None:
    mismatches = []
    for name, route in sorted(_routes()):
        url = _url(route, name, world)
        for persona, expected in zip(PERSONAS, EXPECTED[name], strict=True):
            client = Client()
            user = world["users"][persona]
            if user is not None:
                client.force_login(user)
            status = client.get(url, HTTP_ACCEPT="*/*").status_code
            if status not in (expected if isinstance(expected, set) else {expected}):
                mismatches.append(f"{name} as {persona}: {status}, expected {expected} ({url})")
    assert not mismatches, "\n".join(mismatches)
