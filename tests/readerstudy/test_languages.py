"""The product in the reader's language and time zone: pages, the study's own texts, times."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent, User
from cases.models import Series, SeriesRole
from inference.models import InferenceJob
from readerstudy import services
from readerstudy.models import ReaderAssignment, ReaderStudy
from tests.inference.helpers import unregistered_job
from tests.readerstudy.test_services import SLIC_ANSWERS

pytestmark = pytest.mark.django_db


def _open(client: Client, assignment: ReaderAssignment, position: int = 1) -> dict:
    response = client.post(f"/api/v1/reading/assignments/{assignment.pk}/cases/{position}/open/")
    assert response.status_code == 200, response.content
    return response.json()


def _session1(study: ReaderStudy, reader: User) -> ReaderAssignment:
    return ReaderAssignment.objects.get(session__study=study, session__order=1, reader=reader)


def test_the_language_follows_the_browser_then_the_saved_preference(
    client: Client, reader_a: User, slic_study: ReaderStudy
) -> None:
    login = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ja,en;q=0.8")
    assert '<html lang="ja">' in login.content.decode()
    assert "ユーザー名" in login.content.decode() and login["Content-Language"] == "ja"
    english = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert "Username" in english.content.decode()

    client.force_login(reader_a)
    page = client.get("/reading/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Your readings" in page
    # The header's switcher saves the choice on the user: it wins over the browser from then on.
    switched = client.post(
        "/accounts/language/", {"language": "ja", "next": "/reading/"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert switched.status_code == 302 and switched["Location"] == "/reading/"
    reader_a.refresh_from_db()
    assert reader_a.language == "ja"
    assert AuditEvent.objects.filter(verb="user.preferences", object_id=str(reader_a.pk)).exists()
    page = client.get("/reading/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "あなたの読影" in page and "Your readings" not in page


def test_the_switcher_refuses_unknown_languages_and_foreign_redirects(
    client: Client, reader_a: User
) -> None:
    client.force_login(reader_a)
    response = client.post("/accounts/language/", {"language": "xx", "next": "/reading/"})
    assert response.status_code == 302
    reader_a.refresh_from_db()
    assert reader_a.language == ""
    away = client.post("/accounts/language/", {"language": "ja", "next": "https://evil.example/"})
    assert away["Location"] == "/"
    # Anonymous visitors (the login page) get a cookie, nothing is stored.
    client.logout()
    anonymous = client.post("/accounts/language/", {"language": "ja", "next": "/accounts/login/"})
    assert anonymous.cookies["django_language"].value == "ja"
    assert "パスワード" in client.get("/accounts/login/").content.decode()


def test_preferences_page_saves_a_time_zone_and_refuses_a_forged_one(
    client: Client, reader_a: User
) -> None:
    client.force_login(reader_a)
    page = client.get("/accounts/preferences/")
    assert page.status_code == 200 and "Asia/Tokyo" in page.content.decode()
    saved = client.post("/accounts/preferences/", {"language": "", "time_zone": "Europe/Berlin"})
    assert saved.status_code == 302
    reader_a.refresh_from_db()
    assert reader_a.time_zone == "Europe/Berlin"
    forged = client.post("/accounts/preferences/", {"language": "ja", "time_zone": "Mars/Olympus"})
    assert forged.status_code == 200  # the form again, with its error
    reader_a.refresh_from_db()
    assert (reader_a.language, reader_a.time_zone) == ("", "Europe/Berlin")


def test_a_japanese_reader_sees_the_studys_japanese_texts_and_answers_with_the_same_values(
    client: Client, reader_a: User, reader_b: User, slic_study: ReaderStudy
) -> None:
    client.force_login(reader_a)
    english = _open(client, _session1(slic_study, reader_a), 1)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"
    japanese = _open(client, _session1(slic_study, reader_a), 1)
    labels = {q["key"]: q["label"] for q in japanese["questions"]}
    assert labels["disc_injury"] == "椎間板損傷"
    assert labels["cord_edema"] == "脊髄浮腫"
    morphology = next(q for q in japanese["questions"] if q["key"] == "slic_ct_morphology")
    assert [v["label"] for v in morphology["options"]["values"]][:2] == ["異常なし", "圧迫骨折"]
    assert [v["value"] for v in morphology["options"]["values"]] == list(range(5))
    assert japanese["study"] == "頸椎外傷の読影" and japanese["session"] == "第1セッション"
    assert japanese["title"] == "症例 1 / 3"
    english_labels = {q["key"]: q["label"] for q in english["questions"]}
    assert english_labels["disc_injury"] == "Disc injury"
    # Answers do not depend on the language: the same values are valid in both.
    reading = japanese["reading"]
    submitted = client.post(
        japanese["urls"]["submit"],
        {"answers": SLIC_ANSWERS, "version": reading["version"]},
        content_type="application/json",
    )
    assert submitted.status_code == 200, submitted.content


def test_a_study_without_japanese_texts_shows_its_own_to_japanese_readers(
    client: Client, reader_a: User, slic_study: ReaderStudy
) -> None:
    question = slic_study.questions.get(key="disc_injury")
    question.translations = {}
    question.save()
    client.force_login(reader_a)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"
    labels = {
        q["key"]: q["label"] for q in _open(client, _session1(slic_study, reader_a))["questions"]
    }
    assert labels["disc_injury"] == "Disc injury" and labels["cord_edema"] == "脊髄浮腫"


def test_washout_dates_are_shown_in_the_readers_zone_and_language(
    client: Client, reader_a: User, slic_study: ReaderStudy
) -> None:
    session1 = _session1(slic_study, reader_a)
    for position in (1, 2, 3):
        reading, _ = services.reading_open(actor=reader_a, assignment=session1, position=position)
        assert reading is not None
        services.reading_submit(actor=reader_a, reading=reading, version=1, answers=SLIC_ANSWERS)
    session1.refresh_from_db()
    finished = session1.finished_at
    assert finished is not None
    # A finish at 19:07 UTC is 04:07 the next morning in Tokyo (the site's default zone).
    finished = finished.replace(hour=19, minute=7)
    ReaderAssignment.objects.filter(pk=session1.pk).update(finished_at=finished)
    unlock = finished + dt.timedelta(days=30)
    tokyo = timezone.localtime(unlock, zoneinfo.ZoneInfo("Asia/Tokyo"))
    assert tokyo.hour == 4

    client.force_login(reader_a)
    english = client.get("/reading/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"Locked until {tokyo:%Y-%m-%d} 04:07 JST" in english
    japanese = client.get("/reading/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert (
        f"{tokyo.year}年{tokyo.month}月{tokyo.day}日 04:07 JST までロックされています" in japanese
    )
    reader_a.time_zone = "UTC"
    reader_a.save()
    utc = client.get("/reading/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"Locked until {unlock:%Y-%m-%d} 19:07 UTC" in utc


def test_the_coordinator_sees_job_times_in_jst_and_job_messages_in_japanese(
    client: Client, coordinator: User, slic_study: ReaderStudy
) -> None:
    study_case = slic_study.study_cases.select_related("case").first()
    assert study_case is not None
    ct = Series.objects.get(study__case=study_case.case, role=SeriesRole.CT)
    job = unregistered_job(
        study_case.case, ct, message="Segmenting %(slices)s slices", message_args={"slices": 16}
    )
    created = dt.datetime(2026, 3, 1, 19, 7, tzinfo=dt.UTC)
    InferenceJob.objects.filter(pk=job.pk).update(created_at=created)
    client.force_login(coordinator)
    english = client.get("/inference/jobs/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "2026-03-02 04:07" in english and "Segmenting 16 slices" in english
    japanese = client.get("/inference/jobs/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert (
        "2026/03/02 04:07" in japanese and "16 スライスをセグメンテーションしています" in japanese
    )
    api = client.get(f"/api/v1/inference/jobs/{job.pk}/", HTTP_ACCEPT_LANGUAGE="ja").json()
    assert api["message"] == "16 スライスをセグメンテーションしています"


def test_a_coordinator_writes_the_reader_facing_texts_in_japanese(
    client: Client, coordinator: User, reader_a: User, slic_study: ReaderStudy
) -> None:
    client.force_login(coordinator)
    base = f"/api/v1/reader-studies/{slic_study.pk}"
    patched = client.patch(
        f"{base}/questions/cord_edema/",
        {"translations": {"ja": {"label": "脊髄の浮腫（T2高信号）", "help_text": ""}}},
        content_type="application/json",
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["translations"] == {"ja": {"label": "脊髄の浮腫（T2高信号）"}}
    assert patched.json()["label"] == "Spinal cord edema"  # the main text is untouched
    for bad in (
        {"xx": {"label": "?"}},  # no such language
        {"ja": {"formula": "1"}},  # not a text readers see
        {"ja": {"label": "長" * 301}},  # longer than the label may be
        ["ja"],
    ):
        refused = client.patch(
            f"{base}/questions/cord_edema/", {"translations": bad}, content_type="application/json"
        )
        assert refused.status_code == 400, (bad, refused.content)
    # The study page's forms: a Japanese reader title and a Japanese question label.
    page = f"/reading/studies/{slic_study.pk}/"
    client.post(
        page,
        {
            "action": "settings",
            "title": slic_study.title,
            "reader_title": "Cervical spine trauma reading",
            "reader_title__ja": "頸椎外傷の読影（第2版）",
            "title__ja": "",
            "reader_instructions__ja": "各症例を順に読影してください。",
        },
    )
    client.post(
        page, {"action": "question_label", "key": "disc_injury", "label": "Disc injury",
               "label__ja": "椎間板の損傷"},
    )  # fmt: skip
    slic_study.refresh_from_db()
    assert slic_study.translations["ja"]["reader_title"] == "頸椎外傷の読影（第2版）"
    assert "title" not in slic_study.translations["ja"]  # the template's Japanese title removed

    client.force_login(reader_a)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"
    opened = _open(client, _session1(slic_study, reader_a))
    labels = {q["key"]: q["label"] for q in opened["questions"]}
    assert (
        labels["cord_edema"] == "脊髄の浮腫（T2高信号）" and labels["disc_injury"] == "椎間板の損傷"
    )
    assert opened["study"] == "頸椎外傷の読影（第2版）"
    assert opened["instructions"] == "各症例を順に読影してください。"
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    english = _open(client, _session1(slic_study, reader_a))
    assert english["study"] == "Cervical spine trauma reading" and english["instructions"] == ""
