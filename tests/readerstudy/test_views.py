"""Reader and coordinator pages: rendered, authorized, and their forms call the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from cases.models import Case
from readerstudy import services
from readerstudy.models import (
    ReaderAssignment,
    ReaderStudy,
    ReferenceStandard,
    StudyMembership,
)
from tests.readerstudy.test_services import SLIC_ANSWERS


def _assignment(study: ReaderStudy, reader: User, order: int = 1) -> ReaderAssignment:
    return ReaderAssignment.objects.get(session__study=study, session__order=order, reader=reader)


@pytest.mark.django_db
def test_reader_home_groups_available_locked_and_done(
    client: Client, slic_study: ReaderStudy, reader_a: User
) -> None:
    client.force_login(reader_a)
    page = client.get("/reading/").content.decode()
    assert "Cervical spine trauma reading · Session 1" in page
    assert "Available after you finish Session 1" in page
    assert "Manage reader studies" not in page
    session1 = _assignment(slic_study, reader_a)
    now = timezone.now()
    for position in (1, 2, 3):
        reading, _ = services.reading_open(actor=reader_a, assignment=session1, position=position)
        assert reading is not None
        services.reading_submit(actor=reader_a, reading=reading, version=1, answers=SLIC_ANSWERS)
    page = client.get("/reading/").content.decode()
    assert 'data-group="done"' in page and "Locked until" in page
    unlock = timezone.localtime(now + dt.timedelta(days=30)).strftime("%Y-%m-%d")
    assert unlock in page


@pytest.mark.django_db
def test_workstation_page_resumes_where_the_reader_left(
    client: Client, slic_study: ReaderStudy, reader_a: User
) -> None:
    client.force_login(reader_a)
    assignment = _assignment(slic_study, reader_a)
    reading, _ = services.reading_open(actor=reader_a, assignment=assignment, position=1)
    assert reading is not None
    services.reading_submit(actor=reader_a, reading=reading, version=1, answers=SLIC_ANSWERS)
    resume = client.get(f"/reading/assignments/{assignment.pk}/")
    assert resume.status_code == 302
    assert resume["Location"] == f"/reading/assignments/{assignment.pk}/cases/2/"
    page = client.get(resume["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Case 2 of 3" in html and 'id="ws-config"' in html
    assert "readerstudy/workstation.js" in html
    assert f"/api/v1/reading/assignments/{assignment.pk}/cases/2/open/" in html
    assert "viewer" in html  # the viewer bundle is on the page when the viewer app is installed


@pytest.mark.django_db
def test_coordinator_pages_create_and_run_a_study(
    client: Client, coordinator: User, reader_a: User, surgeon: User, ncctm_cases: list[Case]
) -> None:
    client.force_login(coordinator)
    assert client.get("/reading/studies/").status_code == 200
    created = client.post(
        "/reading/studies/", {"protocol": "ncctm-vs-mrm", "title": "Agreement pilot"}
    )
    assert created.status_code == 302
    study = ReaderStudy.objects.get(title="Agreement pilot")
    url = f"/reading/studies/{study.pk}/"
    assert created["Location"] == url
    response = client.post(url, {"action": "add_cases", "cases": [str(c.pk) for c in ncctm_cases]})
    assert response.status_code == 302 and study.study_cases.count() == 2
    client.post(url, {"action": "member", "username": surgeon.username, "role": "reader"})
    client.post(url, {"action": "member", "username": surgeon.username, "role": "reference"})
    unknown = client.post(
        url, {"action": "member", "username": "nobody", "role": "reader"}, follow=True
    )
    assert "No active user" in unknown.content.decode()
    assert StudyMembership.objects.filter(study=study, user=surgeon).count() == 2
    client.post(url, {"action": "status", "status": "active"})
    study.refresh_from_db()
    assert study.status == "active"
    client.post(url, {"action": "session", "order": "1", "washout_days": "0", "status": "closed"})
    assert study.sessions.get().status == "closed"
    bad = client.post(url, {"action": "session", "order": "1", "washout_days": "-3"}, follow=True)
    assert "washout_days" in bad.content.decode()
    detail = client.get(url).content.decode()
    for text in ("Agreement pilot", "SECRET-NCCTM-001", surgeon.username, "Export readings"):
        assert text in detail

    # The reference form: the surgeon enters the intraoperative findings.
    study_case = study.study_cases.order_by("order").first()
    assert study_case is not None
    client.force_login(surgeon)
    ref_url = f"/reading/studies/{study.pk}/references/{study_case.pk}/"
    assert client.get(ref_url).status_code == 200
    saved = client.post(
        ref_url,
        {"dc-L4/5-left": "severe", "nr-L4/5-left": "mild", "provenance": "operative note"},
    )
    assert saved.status_code == 302
    reference = ReferenceStandard.objects.get(study_case=study_case)
    assert reference.values == {
        "findings": [
            {"level": "L4/5", "side": "left", "dural_canal": "severe", "nerve_root": "mild"}
        ]
    }
    incomplete = client.post(ref_url, {"dc-L4/5-left": "severe"}, follow=True)
    assert "intraoperative findings" in incomplete.content.decode()
    assert client.get(url).status_code == 403  # a reference editor does not manage the study


@pytest.mark.django_db
def test_pages_deny_by_default(
    client: Client,
    slic_study: ReaderStudy,
    reader_a: User,
    other_coordinator: User,
    outsider: User,
) -> None:
    url = f"/reading/studies/{slic_study.pk}/"
    assert client.get("/reading/").status_code == 302  # login first
    client.force_login(reader_a)
    assert client.get(url).status_code == 403
    assert client.get("/reading/studies/").status_code == 403
    client.force_login(other_coordinator)
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "status", "status": "closed"}).status_code == 404
    client.force_login(outsider)
    assignment = _assignment(slic_study, reader_a)
    assert client.get(f"/reading/assignments/{assignment.pk}/").status_code == 404
    slic_study.refresh_from_db()
    assert slic_study.status == "active"
