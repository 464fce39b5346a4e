"""The reading API (readers) and the reader-study API (coordinators), with bad input."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from django.test import Client

from accounts.models import AuditEvent, User
from cases.models import Case
from readerstudy import services
from readerstudy.models import ReaderAssignment, ReaderStudy, Reading
from tests.readerstudy.test_services import SLIC_ANSWERS


def _assignment(study: ReaderStudy, reader: User, order: int = 1) -> ReaderAssignment:
    return ReaderAssignment.objects.get(session__study=study, session__order=order, reader=reader)


def _open(client: Client, assignment: ReaderAssignment, position: int = 1) -> dict[str, Any]:
    response = client.post(f"/api/v1/reading/assignments/{assignment.pk}/cases/{position}/open/")
    assert response.status_code == 200, response.content
    return response.json()


def _put(client: Client, url: str, body: dict[str, Any], **headers: str) -> Any:
    return client.put(url, body, content_type="application/json", **headers)


@pytest.mark.django_db
def test_a_reader_reads_a_case_through_the_api(
    client: Client, slic_study: ReaderStudy, reader_a: User
) -> None:
    client.force_login(reader_a)
    assignment = _assignment(slic_study, reader_a)
    listing = client.get("/api/v1/reading/assignments/").json()["results"]
    assert [(row["session"], row["state"]) for row in listing] == [
        ("Session 1", "available"),
        ("Session 2", "locked"),
    ]
    payload = _open(client, assignment)
    assert payload["title"] == "Case 1 of 3" and payload["editable"] is True
    assert payload["next"] is None and payload["previous"] is None
    assert [q["key"] for q in payload["questions"]][-1] == "slic_total"
    save_url = payload["urls"]["save"]

    saved = _put(client, save_url, {"answers": {"disc_injury": True}, "version": 1})
    assert saved.status_code == 200 and saved.json()["version"] == 2

    stale = _put(client, save_url, {"answers": {"disc_injury": False}, "version": 1})
    assert stale.status_code == 409
    assert "another tab" in stale.json()["detail"] and stale.json()["current_version"] == 2

    incomplete = client.post(
        payload["urls"]["submit"], {"version": 2}, content_type="application/json"
    )
    assert incomplete.status_code == 400
    assert "slic_mri_dlc" in incomplete.json()["errors"]

    submitted = client.post(
        payload["urls"]["submit"],
        {"answers": SLIC_ANSWERS, "version": 2},
        content_type="application/json",
    )
    assert submitted.status_code == 200, submitted.content
    body = submitted.json()
    assert body["reading"]["status"] == "submitted" and body["finished"] is False
    assert body["next"] == f"/reading/assignments/{assignment.pk}/cases/2/"

    locked = _put(client, save_url, {"answers": {"disc_injury": False}, "version": 3})
    assert locked.status_code == 409 and "locked" in locked.json()["detail"]

    following = _open(client, assignment, 2)
    assert following["title"] == "Case 2 of 3"
    assert following["previous"] == f"/reading/assignments/{assignment.pk}/cases/1/"
    back = _open(client, assignment, 1)
    assert back["editable"] is False and back["reading"]["answers"]["slic_total"] == 3
    assert client.post(following["urls"]["heartbeat"]).status_code == 204
    detail = client.get(f"/api/v1/reading/assignments/{assignment.pk}/").json()
    assert [c["status"] for c in detail["cases"]] == ["submitted", "in_progress", "not_started"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("answers", "key"),
    [
        ({"disc_injury": "yes"}, "disc_injury"),
        ({"slic_ct_morphology": 7}, "slic_ct_morphology"),
        ({"slic_mri_dlc": -1}, "slic_mri_dlc"),
        ({"sci_level": "C9"}, "sci_level"),
        ({"sci_level": {"from": "C6", "to": "C3"}}, "sci_level"),
        ({"slic_total": 4}, "slic_total"),
        ({"not_a_question": 1}, "not_a_question"),
    ],
)
def test_bad_answers_are_a_clear_400_and_nothing_is_saved(
    client: Client, slic_study: ReaderStudy, reader_a: User, answers: dict[str, Any], key: str
) -> None:
    client.force_login(reader_a)
    payload = _open(client, _assignment(slic_study, reader_a))
    good = {"cord_edema": True}
    response = _put(client, payload["urls"]["save"], {"answers": {**good, **answers}, "version": 1})
    assert response.status_code == 400
    assert key in response.json()["errors"] and "nothing was saved" in response.json()["detail"]
    reading = Reading.objects.get(pk=payload["reading"]["id"])
    assert reading.answers == {} and reading.version == 1


@pytest.mark.django_db
def test_malformed_requests_are_400(
    client: Client, slic_study: ReaderStudy, reader_a: User
) -> None:
    client.force_login(reader_a)
    payload = _open(client, _assignment(slic_study, reader_a))
    url = payload["urls"]["save"]
    assert _put(client, url, {"answers": {"cord_edema": True}}).status_code == 400  # no version
    assert _put(client, url, {"answers": [1, 2], "version": 1}).status_code == 400
    assert client.put(url, "{not json", content_type="application/json").status_code == 400
    assert Reading.objects.get(pk=payload["reading"]["id"]).answers == {}


@pytest.mark.django_db
def test_a_wrong_roi_answer_is_a_400_naming_what_is_wrong(
    client: Client, slic_study: ReaderStudy, coordinator: User, reader_a: User
) -> None:
    services.question_create(
        actor=coordinator, study=slic_study, key="canal_roi", type="roi", label="Canal ROI",
        required=False,
    )  # fmt: skip
    client.force_login(reader_a)
    payload = _open(client, _assignment(slic_study, reader_a))
    series = payload["viewer"]["viewports"][0]["seriesUid"]
    roi = {"series": series, "slice": 3, "geometry": {}, "mean": 40.0, "sd": 5.0, "area": -2}
    url = payload["urls"]["save"]

    refused = _put(client, url, {"answers": {"canal_roi": roi}, "version": 1})
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"canal_roi": "area: -2 is less than the minimum of 0"}
    missing = {k: v for k, v in roi.items() if k != "sd"}
    refused = _put(client, url, {"answers": {"canal_roi": missing}, "version": 1})
    assert refused.json()["errors"] == {"canal_roi": "'sd' is a required property"}
    assert Reading.objects.get(pk=payload["reading"]["id"]).answers == {}
    # The same problems in a Japanese reader's language.
    japanese = _put(
        client, url, {"answers": {"canal_roi": roi}, "version": 1}, HTTP_ACCEPT_LANGUAGE="ja"
    ).json()
    assert japanese["detail"] == "一部の回答が正しくないため、何も保存されていません。"
    assert japanese["errors"] == {"canal_roi": "area: -2 は最小値 0 を下回っています"}

    saved = _put(client, url, {"answers": {"canal_roi": {**roi, "area": 2.0}}, "version": 1})
    assert saved.status_code == 200 and saved.json()["answers"]["canal_roi"]["area"] == 2.0


@pytest.mark.django_db
def test_an_answer_with_a_nul_character_is_a_400_not_a_database_error(
    client: Client, slic_study: ReaderStudy, coordinator: User, reader_a: User
) -> None:
    services.question_create(
        actor=coordinator, study=slic_study, key="remarks", type="text", label="Remarks",
        required=False,
    )  # fmt: skip
    client.force_login(reader_a)
    payload = _open(client, _assignment(slic_study, reader_a))
    url = payload["urls"]["save"]
    refused = _put(client, url, {"answers": {"remarks": "a\x00b"}, "version": 1})
    assert refused.status_code == 400, refused.content
    assert "NUL" in refused.json()["detail"]  # the API's parser (services check answers too)
    assert Reading.objects.get(pk=payload["reading"]["id"]).answers == {}


@pytest.mark.django_db
def test_a_cnr_background_that_is_no_roi_question_is_a_400(
    client: Client, slic_study: ReaderStudy, coordinator: User
) -> None:
    client.force_login(coordinator)
    base = f"/api/v1/reader-studies/{slic_study.pk}/questions/"
    dc = {"key": "dc", "type": "roi", "label": "Dural canal", "required": False}
    refused = client.post(
        base, {**dc, "options": {"cnr_background": "disc_injury"}}, content_type="application/json"
    )
    assert refused.status_code == 400
    assert (
        "cnr_background names disc_injury, which is not another ROI question"
        in (refused.json()["errors"]["dc"])
    )
    assert not slic_study.questions.filter(key="dc").exists()

    lf = {"key": "lf", "type": "roi", "label": "Ligamentum flavum", "required": False}
    assert client.post(base, lf, content_type="application/json").status_code == 201
    created = client.post(
        base, {**dc, "options": {"cnr_background": "lf"}}, content_type="application/json"
    )
    assert created.status_code == 201 and created.json()["options"] == {"cnr_background": "lf"}
    two = {"options": {"cnr_background": ["lf", "ivd"]}}
    changed = client.patch(f"{base}dc/", two, content_type="application/json")
    assert changed.status_code == 400 and "names ivd" in changed.json()["errors"]["dc"]
    gone = client.delete(f"{base}lf/")
    assert gone.status_code == 409 and "dc measures its CNR against 'lf'" in gone.json()["detail"]
    assert slic_study.questions.get(key="dc").options == {"cnr_background": "lf"}


@pytest.mark.django_db
def test_forged_or_foreign_ids_are_404(
    client: Client, slic_study: ReaderStudy, reader_a: User, reader_b: User
) -> None:
    client.force_login(reader_b)
    theirs = _open(client, _assignment(slic_study, reader_b))
    client.force_login(reader_a)
    mine = _assignment(slic_study, reader_a)
    forged = uuid.uuid4()
    assert client.post(f"/api/v1/reading/assignments/{forged}/cases/1/open/").status_code == 404
    assert client.get(f"/api/v1/reading/assignments/{forged}/").status_code == 404
    other = _assignment(slic_study, reader_b)
    assert client.post(f"/api/v1/reading/assignments/{other.pk}/cases/1/open/").status_code == 404
    assert client.post(f"/api/v1/reading/assignments/{mine.pk}/cases/4/open/").status_code == 404
    assert client.post(f"/api/v1/reading/assignments/{mine.pk}/cases/0/open/").status_code == 404
    body = {"answers": {"cord_edema": True}, "version": 1}
    assert _put(client, theirs["urls"]["save"], body).status_code == 404
    assert (
        client.post(theirs["urls"]["submit"], body, content_type="application/json").status_code
        == 404
    )
    assert _put(client, f"/api/v1/reading/readings/{forged}/", body).status_code == 404
    assert client.get("/api/v1/reading/readings/not-a-uuid/").status_code == 404
    assert Reading.objects.get(pk=theirs["reading"]["id"]).answers == {}
    assert client.get(f"/reading/assignments/{other.pk}/").status_code == 404


@pytest.mark.django_db
def test_washout_through_the_api_names_the_unlock_date(
    client: Client, slic_study: ReaderStudy, reader_a: User
) -> None:
    client.force_login(reader_a)
    session1 = _assignment(slic_study, reader_a)
    for position in (1, 2, 3):
        payload = _open(client, session1, position)
        response = client.post(
            payload["urls"]["submit"],
            {"answers": SLIC_ANSWERS, "version": 1},
            content_type="application/json",
        )
        assert response.status_code == 200
    assert response.json()["finished"] is True and response.json()["next"] is None
    session2 = _assignment(slic_study, reader_a, 2)
    refused = client.post(f"/api/v1/reading/assignments/{session2.pk}/cases/1/open/")
    assert refused.status_code == 409
    assert refused.json()["state"] == "locked" and "Locked until" in refused.json()["detail"]
    assert refused.json()["unlock_at"]
    page = client.get(f"/reading/assignments/{session2.pk}/")
    assert page.status_code == 409 and b"Locked until" in page.content


@pytest.mark.django_db
def test_amendment_through_the_api(
    client: Client, slic_study: ReaderStudy, coordinator: User, reader_a: User
) -> None:
    client.force_login(reader_a)
    payload = _open(client, _assignment(slic_study, reader_a))
    reading_url = payload["urls"]["save"]
    client.post(
        payload["urls"]["submit"],
        {"answers": SLIC_ANSWERS, "version": 1},
        content_type="application/json",
    )
    amend_url = f"{reading_url}amend/"
    body = {"answers": {"slic_mri_dlc": 2}, "version": 2, "reason": "second look"}
    assert client.post(amend_url, body, content_type="application/json").status_code == 403
    services.study_update(actor=coordinator, study=slic_study, changes={"allow_amendments": True})
    reopened = _open(client, _assignment(slic_study, reader_a))
    assert reopened["amendable"] is True and reopened["urls"]["amend"] == amend_url
    no_reason = client.post(amend_url, {**body, "reason": ""}, content_type="application/json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["detail"]
    amended = client.post(amend_url, body, content_type="application/json")
    assert amended.status_code == 201
    assert amended.json()["amends_earlier_reading"] is True
    assert amended.json()["answers"]["slic_total"] == 4
    # The superseded reading is no longer reachable as the reader's current one.
    assert client.get(reading_url).status_code == 404


@pytest.mark.django_db
def test_coordinator_builds_runs_and_exports_a_study(
    client: Client,
    coordinator: User,
    reader_a: User,
    slic_cases: list[Case],
) -> None:
    client.force_login(coordinator)
    protocols_list = client.get("/api/v1/reader-studies/protocols/").json()["results"]
    assert {p["key"] for p in protocols_list} == {"slic-pseudo-mri", "ncctm-vs-mrm", "blank"}
    created = client.post(
        "/api/v1/reader-studies/",
        {"protocol": "slic-pseudo-mri", "title": "SLIC pilot", "washout_days": 28},
        content_type="application/json",
    )
    assert created.status_code == 201
    study_id = created.json()["id"]
    base = f"/api/v1/reader-studies/{study_id}"
    assert client.get(f"{base}/sessions/").json()["results"][1]["washout_days"] == 28
    added = client.post(
        f"{base}/cases/",
        {"cases": [str(c.pk) for c in slic_cases]},
        content_type="application/json",
    ).json()
    assert len(added["added"]) == 3 and added["skipped"] == []
    assert (
        client.post(
            f"{base}/cases/", {"cases": [str(uuid.uuid4())]}, content_type="application/json"
        ).status_code
        == 404
    )
    member = client.post(
        f"{base}/members/",
        {"username": reader_a.username, "role": "reader"},
        content_type="application/json",
    )
    assert member.status_code == 201
    question = client.post(
        f"{base}/questions/",
        {"key": "confidence", "type": "likert", "label": "Confidence", "required": False},
        content_type="application/json",
    )
    assert question.status_code == 201
    bad_question = client.post(
        f"{base}/questions/",
        {"key": "pick", "type": "single_choice", "label": "Pick", "options": {"choices": []}},
        content_type="application/json",
    )
    assert bad_question.status_code == 400 and "pick" in bad_question.json()["errors"]
    started = client.post(f"{base}/status/", {"status": "active"}, content_type="application/json")
    assert started.status_code == 200 and started.json()["status"] == "active"

    client.force_login(reader_a)
    assignment = ReaderAssignment.objects.get(session__study_id=study_id, session__order=1)
    payload = _open(client, assignment)
    client.post(
        payload["urls"]["submit"],
        {"answers": {**SLIC_ANSWERS, "confidence": 4}, "version": 1},
        content_type="application/json",
    )

    client.force_login(coordinator)
    frozen = client.patch(
        f"{base}/questions/confidence/", {"required": True}, content_type="application/json"
    )
    assert frozen.status_code == 409 and "frozen" in frozen.json()["detail"]
    progress = client.get(f"{base}/progress/").json()["results"]
    row = next(r for r in progress if r["session_order"] == 1)
    assert (row["reader"], row["submitted"], row["total"]) == (reader_a.username, 1, 3)
    readings = client.get(f"{base}/readings/").json()["results"]
    assert len(readings) == 1 and readings[0]["case"].startswith("SECRET-CSCI")
    assert readings[0]["slots"] == {"CT": "", "MRI": "pseudo-MRI"}

    export = client.get(f"{base}/export/readings.csv")
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    content = b"".join(export.streaming_content)
    assert content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8, not CP932
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert len(rows) == 10  # one row per question of the one reading
    by_question = {r["question"]: r for r in rows}
    assert by_question["slic_total"]["value"] == "3"
    assert by_question["sci_level"]["value"] == '{"from":"C4","to":"C5"}'
    assert by_question["disc_injury"]["value"] == "true"
    assert by_question["confidence"]["value"] == "4"
    assert rows[0]["reader"] == reader_a.username and rows[0]["session"] == "1"
    assert rows[0]["slots"] == "CT=CT;MRI=pseudo-MRI"


@pytest.mark.django_db
def test_study_permissions(
    client: Client,
    slic_study: ReaderStudy,
    reader_a: User,
    other_coordinator: User,
    admin_user: User,
    outsider: User,
) -> None:
    base = f"/api/v1/reader-studies/{slic_study.pk}"
    for user, expected in (
        (reader_a, 403),
        (other_coordinator, 404),
        (outsider, 404),
        (admin_user, 200),
    ):
        client.force_login(user)
        assert client.get(f"{base}/").status_code == expected, user
        assert client.get(f"{base}/export/readings.csv").status_code == expected, user
    client.force_login(reader_a)
    assert client.get("/api/v1/reader-studies/").json()["results"] == []  # titles may reveal
    assert (
        client.post(
            "/api/v1/reader-studies/", {"protocol": "blank"}, content_type="application/json"
        ).status_code
        == 403
    )
    client.force_login(other_coordinator)
    assert client.get("/api/v1/reader-studies/").json()["results"] == []
    client.logout()
    assert client.get(f"{base}/").status_code in (401, 403)
    assert client.get("/api/v1/reading/assignments/").status_code in (401, 403)


@pytest.mark.django_db
def test_reference_entry_through_the_api(
    client: Client, ncctm_study: ReaderStudy, coordinator: User, surgeon: User, reader_a: User
) -> None:
    study_case = ncctm_study.study_cases.first()
    assert study_case is not None
    url = f"/api/v1/reader-studies/{ncctm_study.pk}/cases/{study_case.pk}/reference/"
    body = {
        "source": "intraoperative",
        "values": {
            "findings": [
                {"level": "L4/5", "side": "left", "dural_canal": "severe", "nerve_root": "severe"}
            ]
        },
        "provenance": "operative report 2025-03-01",
    }
    client.force_login(surgeon)  # the surgeon is a reference editor of this study
    saved = _put(client, url, body)
    assert saved.status_code == 200 and saved.json()["version"] == 1
    bad = _put(client, url, {**body, "values": {"findings": [{"level": "L9/9"}]}})
    assert bad.status_code == 400
    stale = _put(client, url, {**body, "version": 7})
    assert stale.status_code == 409
    assert client.get(url).json()["results"][0]["values"] == body["values"]
    # The surgeon enters references but does not manage the study.
    assert client.get(f"/api/v1/reader-studies/{ncctm_study.pk}/").status_code == 403
    client.force_login(reader_a)
    assert client.get(url).status_code == 404
    assert AuditEvent.objects.filter(verb="reference.set").count() == 1


@pytest.mark.django_db
def test_a_json_body_with_a_nul_character_is_a_400_and_changes_nothing(
    client: Client, slic_study: ReaderStudy, coordinator: User
) -> None:
    """PostgreSQL stores no NUL: any JSON body holding one is refused before a view runs."""
    client.force_login(coordinator)
    question = {
        "key": "quality", "type": "likert", "label": "Quality", "required": False,
        "options": {"labels": {"1": "bad\u0000", "5": "good"}},
    }  # fmt: skip
    base = f"/api/v1/reader-studies/{slic_study.pk}/"
    for method, url, body in (
        ("post", base + "questions/", question),
        ("patch", base, {"title": "New\u0000title"}),
    ):
        response = getattr(client, method)(url, body, content_type="application/json")
        assert response.status_code == 400, (url, response.content)
        assert "NUL" in response.json()["detail"]
    slic_study.refresh_from_db()
    assert not slic_study.questions.filter(key="quality").exists()
    assert "\u0000" not in slic_study.title
