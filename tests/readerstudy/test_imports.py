"""CSV import of readings: the inverse of the export, all or nothing, coordinators only."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from demo import reader_studies as demo
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import AuditEvent, User
from cases.models import Case
from readerstudy import imports, questions, services
from readerstudy.models import (
    ReaderAssignment,
    ReaderStudy,
    Reading,
    ReadingSource,
    SlotPlacement,
    StudyCase,
)
from readerstudy.results import analyse, load, sheets
from tests.conftest import PASSWORD
from tests.readerstudy.test_services import SLIC_ANSWERS

HEADER = ("reader", "session", "case", "question", "value")
SLIC_TEXT = {
    "retropharyngeal_hematoma": "false",
    "disc_injury": "true",
    "cord_edema": "yes",
    "sci_level": "C4-C5",
    "canal_stenosis": "no",
    "interspinous_ligament_injury": "true",
    "slic_ct_morphology": "2",
    "slic_mri_dlc": "Suspected injury",  # a value's label is read as its value
    "slic_total": "999",  # computed: recomputed, never imported
}


def _csv(rows: list[dict[str, str]], header: tuple[str, ...] = HEADER, sep: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header])
    return out.getvalue().encode()


def _reading_rows(
    reader: User, case: Case, session: str = "1", answers: dict[str, str] | None = None
) -> list[dict[str, str]]:
    return [
        {
            "reader": reader.get_username(),
            "session": session,
            "case": case.label,
            "question": key,
            "value": value,
        }
        for key, value in (SLIC_TEXT if answers is None else answers).items()
    ]


def _post(
    client: Client, study: ReaderStudy, data: bytes, name: str = "readings.csv", **flags: str
) -> Any:
    upload = SimpleUploadedFile(name, data, content_type="text/csv")
    return client.post(
        f"/api/v1/reader-studies/{study.pk}/readings/import/", {"file": upload, **flags}
    )


def _stored() -> tuple[int, int, int, list[Any]]:
    """What an import may change: readings, audit events, finished assignments, placements."""
    return (
        Reading.objects.count(),
        AuditEvent.objects.count(),
        ReaderAssignment.objects.filter(finished_at__isnull=False).count(),
        list(SlotPlacement.objects.order_by("pk").values_list("pk", "series_id", "arm")),
    )


def _analysis(study: ReaderStudy) -> dict[str, Any]:
    return analyse.analyse(load.load_study_data(study=study)).as_dict()


def _answers_by_key(study: ReaderStudy) -> dict[tuple[str, int, str], dict[str, Any]]:
    return {
        (
            r.assignment.reader.username,
            r.assignment.session.order,
            r.study_case.case.label,
        ): r.answers
        for r in Reading.objects.filter(
            assignment__session__study=study, is_current=True
        ).select_related("assignment__reader", "assignment__session", "study_case__case")
    }


@pytest.fixture
def coordinator_client(client: Client, coordinator: User) -> Client:
    client.force_login(coordinator)
    return client


# --- Round trip ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_export_of_the_completed_demo_study_imports_into_a_fresh_study_with_equal_statistics(
    coordinator_client: Client, coordinator: User, slic_cases: list[Case]
) -> None:
    demo._completed_study_ensure(
        coordinator=coordinator,
        cases=slic_cases,
        password=PASSWORD,
        report=demo.ReaderStudyDemoReport(),
    )
    source = ReaderStudy.objects.get(title=demo.COMPLETED_TITLE)
    assert source.status == "closed"
    text = sheets.readings_csv_text(study=source)

    fresh = services.study_create_from_template(
        actor=coordinator, protocol="slic-pseudo-mri", title="Re-import"
    )
    services.study_cases_add(actor=coordinator, study=fresh, cases=slic_cases)
    for username, _, _ in demo.SIMULATED_READERS:
        services.reader_assign(
            actor=coordinator, study=fresh, reader=User.objects.get(username=username)
        )
    services.study_status_set(actor=coordinator, study=fresh, status="active")

    response = _post(coordinator_client, fresh, text.encode(), name="completed.csv")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["readings"], body["rows"], body["stored"], body["errors"]) == (12, 108, True, [])
    assert body["computed_values_ignored"] == 12

    assert _answers_by_key(fresh) == _answers_by_key(source)
    expected = _analysis(source)
    assert expected["rows"], "the demo study must have statistics to compare"
    assert _analysis(fresh) == expected

    imported = Reading.objects.filter(assignment__session__study=fresh)
    assert {r.source for r in imported} == {ReadingSource.IMPORTED}
    originals = {
        (r.assignment.reader.username, r.assignment.session.order, r.study_case.case.label): r
        for r in Reading.objects.filter(assignment__session__study=source).select_related(
            "assignment__reader", "assignment__session", "study_case__case"
        )
    }
    for reading in imported.select_related(
        "assignment__reader", "assignment__session", "study_case__case"
    ):
        key = (
            reading.assignment.reader.username,
            reading.assignment.session.order,
            reading.study_case.case.label,
        )
        assert reading.submitted_at == originals[key].submitted_at
        assert reading.active_seconds == pytest.approx(originals[key].active_seconds, abs=0.05)
    assert all(
        a.finished_at is not None for a in ReaderAssignment.objects.filter(session__study=fresh)
    )
    events = AuditEvent.objects.filter(verb="reading.imported")
    assert events.count() == 12
    sha = body["sha256"]
    assert all(e.after["file"] == "completed.csv" and e.after["sha256"] == sha for e in events)
    assert AuditEvent.objects.filter(verb="study.readings_import", object_id=str(fresh.pk)).exists()

    # The same file again is refused (readings exist) and stores nothing.
    before = _stored()
    again = _post(coordinator_client, fresh, text.encode())
    assert again.status_code == 400
    assert "already has a reading" in again.json()["errors"][0]["message"]
    assert _stored() == before


@pytest.mark.django_db
def test_a_semicolon_file_with_a_bom_and_decimal_commas_imports(
    coordinator_client: Client, slic_study: ReaderStudy, reader_a: User, slic_cases: list[Case]
) -> None:
    rows = _reading_rows(reader_a, slic_cases[0])
    for row in rows:
        row["active_seconds"] = "12,5"
    header = (*HEADER, "active_seconds")
    data = b"\xef\xbb\xbf" + _csv(rows, header, sep=";")
    response = _post(coordinator_client, slic_study, data)
    assert response.status_code == 200, response.content
    reading = Reading.objects.get(assignment__session__study=slic_study)
    assert reading.answers == {**SLIC_ANSWERS, "slic_total": 3}
    assert reading.active_seconds == 12.5 and reading.status == "submitted"


@pytest.mark.django_db
@pytest.mark.parametrize("encoding", ["cp932", "shift_jis", "utf-8", "utf-8-sig"])
def test_a_japanese_file_saved_by_excel_in_shift_jis_or_utf8_imports(
    coordinator_client: Client,
    slic_study: ReaderStudy,
    reader_a: User,
    slic_cases: list[Case],
    encoding: str,
) -> None:
    # Japanese case labels, and a character (the circled digit) that only CP932 of the two
    # Shift_JIS tables has: Excel on a Japanese Windows saves "CSV (comma delimited)" in CP932.
    label = "症例①-頸椎" if encoding != "shift_jis" else "症例一-頸椎"
    Case.objects.filter(pk=slic_cases[0].pk).update(label=label)
    slic_cases[0].refresh_from_db()
    text = _csv(_reading_rows(reader_a, slic_cases[0])).decode()
    response = _post(coordinator_client, slic_study, text.encode(encoding))
    assert response.status_code == 200, response.content
    reading = Reading.objects.get(assignment__session__study=slic_study)
    assert reading.study_case.case.label == label
    assert reading.answers == {**SLIC_ANSWERS, "slic_total": 3}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "encoding"),
    [("vrai\u00e9, cr\u00e8me br\u00fbl\u00e9e", "latin-1"), ("척추관 협착", "cp949")],
)
def test_a_file_in_another_encoding_is_refused_with_a_clear_message(
    coordinator_client: Client,
    slic_study: ReaderStudy,
    reader_a: User,
    slic_cases: list[Case],
    text: str,
    encoding: str,
) -> None:
    rows = _reading_rows(reader_a, slic_cases[0], answers={"sci_level": text})
    before = _stored()
    response = _post(coordinator_client, slic_study, _csv(rows).decode().encode(encoding))
    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert "neither UTF-8 nor Shift_JIS" in message and "CSV UTF-8" in message
    assert _stored() == before


@pytest.mark.django_db
def test_dry_run_reports_and_stores_nothing(
    coordinator_client: Client, slic_study: ReaderStudy, reader_a: User, slic_cases: list[Case]
) -> None:
    before = _stored()
    data = _csv(_reading_rows(reader_a, slic_cases[0]) + _reading_rows(reader_a, slic_cases[1]))
    response = _post(coordinator_client, slic_study, data, dry_run="true")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["dry_run"], body["stored"], body["readings"]) == (True, False, 2)
    assert "would import 2 reading(s)" in body["message"]
    assert _stored() == before


# --- Every kind of bad input -----------------------------------------------------------------


@pytest.fixture
def typed_study(coordinator: User, reader_a: User, slic_cases: list[Case]) -> ReaderStudy:
    """A blank study with one question of every type, one case and reader A."""
    return _typed_study(coordinator, reader_a, slic_cases[:1])


def _typed_study(coordinator: User, reader: User, cases: list[Case]) -> ReaderStudy:
    study = services.study_create_from_template(actor=coordinator, protocol="blank")
    services.study_cases_add(actor=coordinator, study=study, cases=cases)
    specs: list[tuple[str, str, dict[str, Any], str]] = [
        ("found", questions.YES_NO, {}, ""),
        ("grade", questions.SINGLE_CHOICE, {"choices": [
            {"value": "low", "label": "Low grade"}, {"value": "high", "label": "High grade"}]}, ""),
        ("score", questions.ORDINAL, {"values": [
            {"value": 0, "label": "None"}, {"value": 1, "label": "Some"}]}, ""),
        ("width", questions.NUMBER, {"min": 0, "max": 30, "unit": "mm"}, ""),
        ("count", questions.NUMBER, {"integer": True}, ""),
        ("level", questions.VERTEBRAL_LEVEL, {"allow_range": True, "allow_none": True}, ""),
        ("note", questions.TEXT, {"max_length": 10}, ""),
        ("roi", questions.ROI, {"unit": "HU"}, ""),
        ("better", questions.COMPARATIVE, {}, ""),
        ("quality", questions.LIKERT, {}, ""),
        ("total", questions.COMPUTED, {}, "score + quality"),
    ]  # fmt: skip
    for key, kind, options, formula in specs:
        services.question_create(
            actor=coordinator,
            study=study,
            key=key,
            type=kind,
            label=key.title(),
            options=options,
            formula=formula,
            required=key not in ("roi", "note"),
        )
    services.reader_assign(actor=coordinator, study=study, reader=reader)
    services.study_status_set(actor=coordinator, study=study, status="active")
    return study


def _roi_text(study: ReaderStudy) -> str:
    placement = SlotPlacement.objects.get(assignment__session__study=study)
    return (
        '{"series":"' + placement.blinded_series_uid + '","slice":3,"geometry":{},'
        '"mean":41.5,"sd":12.0,"area":30.0}'
    )


def _typed_rows(
    study: ReaderStudy, reader: User, case: Case, **changes: str
) -> list[dict[str, str]]:
    values = {
        "found": "Yes",
        "grade": "High grade",
        "score": "1",
        "width": "12,5",
        "count": "3.0",
        "level": "c4\u2013c5",  # an en dash, as spreadsheets write ranges
        "note": "'=1+1",
        "roi": _roi_text(study),
        "better": "a",
        "quality": "Agree",
        "total": "",
        **changes,
    }
    return _reading_rows(reader, case, answers=values)


@pytest.mark.django_db
def test_cells_become_typed_answers_of_every_question_type(
    coordinator_client: Client, typed_study: ReaderStudy, reader_a: User, slic_cases: list[Case]
) -> None:
    data = _csv(_typed_rows(typed_study, reader_a, slic_cases[0]))
    response = _post(coordinator_client, typed_study, data)
    assert response.status_code == 200, response.content
    answers = Reading.objects.get(assignment__session__study=typed_study).answers
    assert answers == {
        "found": True,
        "grade": "high",
        "score": 1,
        "width": 12.5,
        "count": 3,
        "level": {"from": "C4", "to": "C5"},
        "note": "=1+1",  # the export's formula guard is undone
        "roi": {"series": answers["roi"]["series"], "slice": 3, "geometry": {}, "mean": 41.5,
                "sd": 12.0, "area": 30.0},
        "better": "A",
        "quality": 4,
        "total": 5,
    }  # fmt: skip
    # The export of that reading imports back to the same answers (the exact inverse).
    text = sheets.readings_csv_text(study=typed_study)
    again = _post(coordinator_client, typed_study, text.encode(), replace="true")
    assert again.status_code == 200, again.content
    current = Reading.objects.get(assignment__session__study=typed_study, is_current=True)
    assert current.answers == answers and current.supersedes is not None


BAD_VALUES = [
    ("found", "maybe", "true/false"),
    ("grade", "medium", "is not one of"),
    ("score", "7", "is not one of"),
    ("score", "some more", "whole number"),
    ("width", "31", "maximum"),
    ("width", "wide", "a number"),
    ("width", "nan", "finite"),
    ("count", "2.5", "whole number"),
    ("level", "C9", "is not one of"),
    ("level", "C6-C4", "cranial to the caudal"),
    ("note", "far too long a note", "too long"),
    ("roi", "{not json", "JSON"),
    (
        "roi",
        '{"series":"1.2.3","slice":0,"geometry":{},"mean":1,"sd":1,"area":1}',
        "does not match",
    ),
    ("roi", '{"series":"2.25.1","slice":0,"geometry":{},"mean":1,"sd":1,"area":1}', "viewports"),
    ("roi", '{"series":"2.25.1","slice":0,"geometry":{},"mean":1,"sd":1,"area":-1}', "area: -1 is"),
    ("better", "C", "is not one of"),
    ("quality", "6", "is not one of"),
    ("found", "", "required"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("key", "text", "message"), BAD_VALUES)
def test_a_wrong_value_for_each_question_type_is_refused_and_stores_nothing(
    coordinator_client: Client,
    typed_study: ReaderStudy,
    reader_a: User,
    slic_cases: list[Case],
    key: str,
    text: str,
    message: str,
) -> None:
    rows = _typed_rows(typed_study, reader_a, slic_cases[0], **{key: text})
    before = _stored()
    response = _post(coordinator_client, typed_study, _csv(rows))
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["stored"] is False and body["readings"] == 0
    assert len(body["errors"]) == 1, body["errors"]
    error = body["errors"][0]
    assert message in error["message"] and error["column"] == "value"
    if text:  # a missing answer is reported on the reading's first line
        line = 2 + [r["question"] for r in rows].index(key)
        assert error["line"] == line
    assert _stored() == before


def _mutations(reader_b: User, coordinator: User) -> Iterator[tuple[str, Callable[..., Any], str]]:
    def change(index: int, **values: str) -> Callable[[list[dict[str, str]]], None]:
        def apply(rows: list[dict[str, str]]) -> None:
            rows[index].update(values)

        return apply

    yield "unknown reader", change(0, reader="nobody"), "'nobody' is not a reader"
    yield "coordinator is no reader", change(0, reader=coordinator.username), "is not a reader"
    yield "unknown case", change(1, case="NO-SUCH-CASE"), "no case 'NO-SUCH-CASE'"
    yield "unknown question", change(2, question="mood"), "no question 'mood'"
    yield "unknown session", change(3, session="9"), "no session '9'"
    yield "duplicate row", lambda rows: rows.append(dict(rows[4])), "duplicate: line 6"
    yield (
        "type differs",
        lambda rows: [row.update(question_type="number") for row in rows[:1]],
        "is a yes_no question here",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["unknown reader", "coordinator is no reader", "unknown case",
                                  "unknown question", "unknown session", "duplicate row",
                                  "type differs"])  # fmt: skip
def test_unknown_names_and_duplicates_are_refused_with_line_and_column(
    coordinator_client: Client,
    slic_study: ReaderStudy,
    reader_a: User,
    reader_b: User,
    coordinator: User,
    slic_cases: list[Case],
    case: str,
) -> None:
    mutations = {
        name: (apply, message) for name, apply, message in _mutations(reader_b, coordinator)
    }
    apply, message = mutations[case]
    rows = _reading_rows(reader_a, slic_cases[0]) + _reading_rows(reader_b, slic_cases[1])
    apply(rows)
    before = _stored()
    response = _post(coordinator_client, slic_study, _csv(rows, (*HEADER, "question_type")))
    assert response.status_code == 400, response.content
    messages = [e["message"] for e in response.json()["errors"]]
    assert any(message in m for m in messages), messages
    assert _stored() == before


@pytest.mark.django_db
def test_an_existing_reading_is_refused_without_replace_and_superseded_with_it(
    coordinator_client: Client, slic_study: ReaderStudy, reader_a: User, slic_cases: list[Case]
) -> None:
    assignment = ReaderAssignment.objects.get(
        session__study=slic_study, session__order=1, reader=reader_a
    )
    reading, study_case = services.reading_open(actor=reader_a, assignment=assignment, position=1)
    assert reading is not None
    old = services.reading_submit(
        actor=reader_a, reading=reading, version=reading.version, answers=SLIC_ANSWERS
    )
    rows = _reading_rows(reader_a, study_case.case, answers={**SLIC_TEXT, "disc_injury": "false"})

    before = _stored()
    refused = _post(coordinator_client, slic_study, _csv(rows))
    assert refused.status_code == 400
    assert "import with 'replace'" in refused.json()["errors"][0]["message"]
    assert _stored() == before

    replaced = _post(coordinator_client, slic_study, _csv(rows), name="fix.csv", replace="true")
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["replaced"] == 1
    old.refresh_from_db()
    new = Reading.objects.get(assignment=assignment, study_case=study_case, is_current=True)
    assert old.is_current is False and old.answers["disc_injury"] is True  # kept, unchanged
    assert new.supersedes_id == old.pk and new.answers["disc_injury"] is False
    assert new.source == ReadingSource.IMPORTED
    # The reader sees the reason with the reading; the file's name stays with coordinators.
    assert "fix.csv" not in new.amendment_reason and "import" in new.amendment_reason
    assert new.version == old.version + 1
    event = AuditEvent.objects.get(verb="reading.imported", object_id=str(new.pk))
    assert event.before is not None and event.before["reading"] == str(old.pk)
    assert event.after["file"] == "fix.csv" and "fix.csv" in event.reason


@pytest.mark.django_db
def test_file_level_problems_are_4xx_and_store_nothing(
    coordinator_client: Client,
    slic_study: ReaderStudy,
    reader_a: User,
    slic_cases: list[Case],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = _csv(_reading_rows(reader_a, slic_cases[0]))
    before = _stored()

    not_utf8 = good.replace(b"true", "vrai\u00e9".encode("latin-1"), 1)
    response = _post(coordinator_client, slic_study, not_utf8)
    assert (
        response.status_code == 400
        and "neither UTF-8 nor Shift_JIS" in response.json()["errors"][0]["message"]
    )
    assert response.json()["errors"][0]["line"] == 3

    headless = good.split(b"\n", 1)[1]
    response = _post(coordinator_client, slic_study, headless)
    assert (
        response.status_code == 400
        and "lacks the column" in response.json()["errors"][0]["message"]
    )

    response = _post(coordinator_client, slic_study, b"")
    assert response.status_code == 400  # DRF refuses an empty upload before the service

    response = _post(coordinator_client, slic_study, b"\n\n")
    assert response.status_code == 400 and "empty" in response.json()["errors"][0]["message"]

    response = _post(
        coordinator_client, slic_study, good.replace(b"value\r\n", b"value,extra\r\n", 1)
    )
    assert response.status_code == 400 and "cells where the header" in str(response.json())

    response = coordinator_client.post(
        f"/api/v1/reader-studies/{slic_study.pk}/readings/import/", {"dry_run": "true"}
    )
    assert response.status_code == 400 and "file" in response.json()

    monkeypatch.setattr(imports.rows, "MAX_ROWS", 3)
    response = _post(coordinator_client, slic_study, good)
    assert response.status_code == 400 and "more than 3 rows" in str(response.json())

    monkeypatch.setattr(imports.service, "MAX_BYTES", len(good) - 1)
    response = _post(coordinator_client, slic_study, good)
    assert response.status_code == 413 and "larger than" in response.json()["detail"]
    assert _stored() == before


@pytest.mark.django_db
def test_the_service_refuses_a_file_over_20_mb_and_limits_the_error_list(
    slic_study: ReaderStudy, coordinator: User, reader_a: User, slic_cases: list[Case]
) -> None:
    before = _stored()
    with pytest.raises(imports.ImportTooLargeError):
        imports.readings_import(
            actor=coordinator,
            study=slic_study,
            data=b"x" * (20 * 1024 * 1024 + 1),
            filename="big.csv",
        )
    rows = [
        dict(row, reader="ghost")
        for _ in range(20)
        for row in _reading_rows(reader_a, slic_cases[0])
    ]
    result = imports.readings_import(
        actor=coordinator, study=slic_study, data=_csv(rows), filename="ghosts.csv"
    )
    assert len(result.errors) == imports.MAX_ERRORS and result.errors_truncated
    assert [e.line for e in result.errors[:3]] == [2, 3, 4]
    assert _stored() == before


@pytest.mark.django_db
def test_a_closed_study_refuses_imports(
    coordinator_client: Client, coordinator: User, slic_study: ReaderStudy, reader_a: User,
    slic_cases: list[Case],
) -> None:  # fmt: skip
    services.study_status_set(actor=coordinator, study=slic_study, status="closed")
    before = _stored()
    response = _post(coordinator_client, slic_study, _csv(_reading_rows(reader_a, slic_cases[0])))
    assert response.status_code == 409 and "closed" in response.json()["detail"]
    assert _stored() == before


@pytest.mark.django_db
def test_only_the_studys_coordinators_may_import(
    client: Client,
    slic_study: ReaderStudy,
    reader_a: User,
    outsider: User,
    other_coordinator: User,
    admin_user: User,
    coordinator: User,
    slic_cases: list[Case],
) -> None:
    data = _csv(_reading_rows(reader_a, slic_cases[0]))
    before = _stored()
    assert _post(client, slic_study, data).status_code in (401, 403)  # anonymous
    for user, expected in ((reader_a, 403), (outsider, 404), (other_coordinator, 404)):
        client.force_login(user)
        assert _post(client, slic_study, data).status_code == expected, user.username
        client.logout()
    # A study id that does not exist, or the other coordinator's own study named instead.
    client.force_login(coordinator)
    forged = ReaderStudy(pk=uuid.uuid4(), title="forged")
    assert _post(client, forged, data).status_code == 404
    theirs = services.study_create_from_template(actor=other_coordinator, protocol="blank")
    assert _post(client, theirs, data).status_code == 404
    assert _stored()[:3] == (before[0], before[1] + 1, before[2])  # only the study.create audit
    client.force_login(admin_user)
    assert _post(client, slic_study, data, dry_run="true").status_code == 200


@pytest.mark.django_db
def test_shuffled_slots_need_the_slots_column_and_follow_it(
    coordinator_client: Client, ncctm_study: ReaderStudy, surgeon: User, ncctm_cases: list[Case]
) -> None:
    case = ncctm_cases[0]
    answers = {"agreement_a": "5", "agreement_b": "2", "closer": "A"}
    rows = _reading_rows(surgeon, case, answers=answers)
    before = _stored()
    response = _post(coordinator_client, ncctm_study, _csv(rows))
    assert response.status_code == 400
    assert "slots column must say" in response.json()["errors"][0]["message"]

    for row in rows:
        row["slots"] = "A=MRM;B=NC-CTM;C=CT"
    response = _post(coordinator_client, ncctm_study, _csv(rows, (*HEADER, "slots")))
    assert response.status_code == 400 and "do not fit" in str(response.json())
    assert _stored() == before

    study_case = StudyCase.objects.get(study=ncctm_study, case=case)
    placements = {p.slot: p for p in SlotPlacement.objects.filter(study_case=study_case)}
    uids = {slot: p.blinded_series_uid for slot, p in placements.items()}
    # What the reader saw is the opposite of this study's random placement of the case.
    seen = {"A": placements["B"].arm, "B": placements["A"].arm}
    for row in rows:
        row["slots"] = f"A={seen['A']};B={seen['B']}"
    response = _post(coordinator_client, ncctm_study, _csv(rows, (*HEADER, "slots")))
    assert response.status_code == 200, response.content
    after = {p.slot: p for p in SlotPlacement.objects.filter(study_case=study_case)}
    assert {slot: p.arm for slot, p in after.items()} == seen
    ncctm_slot = "A" if seen["A"] == "NC-CTM" else "B"
    assert after[ncctm_slot].overlay_series is not None  # the mask travels with its image
    assert {slot: p.blinded_series_uid for slot, p in after.items()} == uids
    assert after[ncctm_slot].series_id == placements["B" if ncctm_slot == "A" else "A"].series_id
    # The analysis unblinds "A is closer" as the arm the reader saw in A.
    data = load.load_study_data(study=ncctm_study)
    assert [dict(r.arms) for r in data.readings] == [seen]
    summary = analyse.analyse(data).comparatives
    assert summary and summary[0].counts.get(seen["A"]) == 1
    event = AuditEvent.objects.get(verb="reading.imported")
    assert event.before is not None and event.before["slots"] == {
        slot: p.arm for slot, p in placements.items()
    }
    assert event.after["slots"] == seen


# --- The coordinator page ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_import_page_shows_the_error_table_or_the_summary(
    coordinator_client: Client, slic_study: ReaderStudy, reader_a: User, slic_cases: list[Case],
    coordinator: User,
) -> None:  # fmt: skip
    url = f"/reading/studies/{slic_study.pk}/import/"
    page = coordinator_client.get(url)
    assert page.status_code == 200 and b'id="import-form"' in page.content
    detail = coordinator_client.get(f"/reading/studies/{slic_study.pk}/")
    assert url.encode() in detail.content

    rows = _reading_rows(reader_a, slic_cases[0], answers={**SLIC_TEXT, "cord_edema": "perhaps"})
    upload = SimpleUploadedFile("bad.csv", _csv(rows), content_type="text/csv")
    before = _stored()
    bad = coordinator_client.post(url, {"file": upload})
    assert bad.status_code == 400 and b'id="import-errors"' in bad.content
    assert b"cord_edema (yes_no): expected true/false" in bad.content
    assert _stored() == before

    missing = coordinator_client.post(url, {})
    assert missing.status_code == 400 and b"Choose a CSV file" in missing.content

    upload = SimpleUploadedFile("good.csv", _csv(_reading_rows(reader_a, slic_cases[0])))
    dry = coordinator_client.post(url, {"file": upload, "dry_run": "on"})
    assert dry.status_code == 200 and b"Checked (dry run)" in dry.content
    assert _stored() == before

    upload = SimpleUploadedFile("good.csv", _csv(_reading_rows(reader_a, slic_cases[0])))
    good = coordinator_client.post(url, {"file": upload})
    assert good.status_code == 200 and b'id="import-summary"' in good.content
    assert b"imported 1 reading(s)" in good.content
    assert Reading.objects.filter(assignment__session__study=slic_study).count() == 1

    services.study_status_set(actor=coordinator, study=slic_study, status="closed")
    closed = coordinator_client.get(url)
    assert b'id="import-closed"' in closed.content and b'id="import-form"' not in closed.content


# --- Review: inputs that must be a 4xx, never a 500 ------------------------------------------


HOSTILE_VALUES = [
    # JSON that Python reads but PostgreSQL's jsonb cannot store.
    ("roi", '{"series":"%s","slice":0,"geometry":{},"mean":NaN,"sd":1,"area":1}', "JSON"),
    ("roi", '{"series":"%s","slice":0,"geometry":{"r":Infinity},"mean":1,"sd":1,"area":1}', "JSON"),
    ("roi", '{"series":"%s","slice":0,"geometry":{"t":"a\\u0000b"},"mean":1,"sd":1,"area":1}',
     "NUL"),
    # Nesting deeper than Python's recursion limit.
    ("roi", "[" * 100_000, "JSON"),
    ("level", "{" + '"from":' * 1 + "[" * 100_000, "JSON"),
    # A NUL character typed into a text answer.
    ("note", "a\x00b", "NUL"),
]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize(("key", "text", "message"), HOSTILE_VALUES)
def test_cells_postgresql_cannot_store_are_refused_with_a_4xx(
    coordinator_client: Client,
    typed_study: ReaderStudy,
    reader_a: User,
    slic_cases: list[Case],
    key: str,
    text: str,
    message: str,
) -> None:
    if "%s" in text:
        placement = SlotPlacement.objects.get(assignment__session__study=typed_study)
        text = text % placement.blinded_series_uid
    rows = _typed_rows(typed_study, reader_a, slic_cases[0], **{key: text})
    before = _stored()
    response = _post(coordinator_client, typed_study, _csv(rows))
    assert response.status_code == 400, response.content[:500]
    errors = response.json()["errors"]
    assert len(errors) == 1 and errors[0]["column"] == "value", errors
    assert message in errors[0]["message"]
    assert _stored() == before


@pytest.mark.django_db
@pytest.mark.parametrize(("column", "text"), [("session", "\u00b2"), ("position", "\u00b2")])
def test_digits_that_are_not_ascii_in_session_or_position_are_refused(
    coordinator_client: Client,
    slic_study: ReaderStudy,
    reader_a: User,
    slic_cases: list[Case],
    column: str,
    text: str,
) -> None:
    """'²' counts as a digit for str.isdigit, but int() refuses it (it was a 500)."""
    header = ("reader", "session", "position", "question", "value")
    rows = [
        {**row, "session": "1", "position": "1", column: text}
        for row in _reading_rows(reader_a, slic_cases[0])
    ]
    before = _stored()
    response = _post(coordinator_client, slic_study, _csv(rows, header))
    assert response.status_code == 400, response.content[:500]
    errors = response.json()["errors"]
    assert errors and {e["column"] for e in errors} == {column}, errors
    assert _stored() == before


# --- Review: the formula guard is undone exactly ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("note", ["'=1+1", "'", "''", "'tis", "=1+1", "-x", "@me"])
def test_a_text_answer_survives_export_and_import_unchanged(
    coordinator_client: Client,
    coordinator: User,
    typed_study: ReaderStudy,
    reader_a: User,
    slic_cases: list[Case],
    note: str,
) -> None:
    data = _csv(_typed_rows(typed_study, reader_a, slic_cases[0], note="plain"))
    assert _post(coordinator_client, typed_study, data).status_code == 200
    reading = Reading.objects.get(assignment__session__study=typed_study)
    Reading.objects.filter(pk=reading.pk).update(answers={**reading.answers, "note": note})

    text = sheets.readings_csv_text(study=typed_study)
    cells = [row for row in csv.DictReader(io.StringIO(text)) if row["question"] == "note"]
    assert not cells[0]["value"].startswith(("=", "+", "-", "@")), "the export guards formulas"
    again = _post(coordinator_client, typed_study, text.encode(), replace="true")
    assert again.status_code == 200, again.content
    current = Reading.objects.get(assignment__session__study=typed_study, is_current=True)
    assert current.answers["note"] == note


# --- Review: all or nothing when the store fails midway ------------------------------------------


@pytest.mark.django_db
def test_a_failure_midway_through_the_store_rolls_back_readings_audit_and_slots(
    coordinator: User,
    ncctm_study: ReaderStudy,
    surgeon: User,
    ncctm_cases: list[Case],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = []
    for case in ncctm_cases[:2]:
        study_case = StudyCase.objects.get(study=ncctm_study, case=case)
        placements = {p.slot: p for p in SlotPlacement.objects.filter(study_case=study_case)}
        swapped = f"A={placements['B'].arm};B={placements['A'].arm}"
        for row in _reading_rows(
            surgeon, case, answers={"agreement_a": "5", "agreement_b": "2", "closer": "A"}
        ):
            rows.append({**row, "slots": swapped})
    data = _csv(rows, (*HEADER, "slots"))
    before = _stored()

    real = imports.store.audit_event_record
    calls: list[str] = []

    def failing(**kwargs: Any) -> Any:
        calls.append(kwargs["verb"])
        if calls.count("reading.imported") == 2:
            raise RuntimeError("database went away")
        return real(**kwargs)

    monkeypatch.setattr(imports.store, "audit_event_record", failing)
    with pytest.raises(RuntimeError):
        imports.readings_import(
            actor=coordinator, study=ncctm_study, data=data, filename="half.csv"
        )
    assert calls.count("reading.imported") == 2  # the first reading and its slots were written
    assert _stored() == before

    monkeypatch.setattr(imports.store, "audit_event_record", real)
    result = imports.readings_import(
        actor=coordinator, study=ncctm_study, data=data, filename="whole.csv"
    )
    assert result.stored and result.readings == 2
    assert _stored() != before


# --- Review: a file naming another study's readers, cases or blinded series ---------------------


@pytest.mark.django_db
@pytest.mark.parametrize("named", ["reader", "study_case_id", "roi series", "all three"])
def test_a_file_naming_another_studys_reader_case_or_series_is_refused(
    coordinator_client: Client,
    coordinator: User,
    other_coordinator: User,
    typed_study: ReaderStudy,
    reader_a: User,
    reader_b: User,
    slic_cases: list[Case],
    named: str,
) -> None:
    """Study Y (another coordinator's) reads the same case with reader B: none of its names
    or blinded UIDs may reach study X through an import into X."""
    other = _typed_study(other_coordinator, reader_b, slic_cases[:1])
    services.reader_assign(actor=other_coordinator, study=other, reader=reader_a)
    theirs = SlotPlacement.objects.filter(assignment__session__study=other).first()
    assert theirs is not None
    header = (*HEADER, "study_case_id")
    rows = [
        dict(row, study_case_id="") for row in _typed_rows(typed_study, reader_a, slic_cases[0])
    ]
    if named in ("reader", "all three"):
        rows = [dict(row, reader=reader_b.username) for row in rows]
    if named in ("study_case_id", "all three"):
        rows = [dict(row, case="", study_case_id=str(theirs.study_case_id)) for row in rows]
    if named in ("roi series", "all three"):
        roi = _roi_text(typed_study).replace(
            SlotPlacement.objects.get(assignment__session__study=typed_study).blinded_series_uid,
            theirs.blinded_series_uid,
        )
        rows = [dict(row, value=roi) if row["question"] == "roi" else row for row in rows]
    before = _stored()
    response = _post(coordinator_client, typed_study, _csv(rows, header))
    assert response.status_code == 400, response.content[:500]
    body = response.json()
    assert body["stored"] is False and body["errors"]
    text = str(body["errors"])
    assert theirs.blinded_series_uid not in text and str(other.pk) not in text
    assert _stored() == before
    assert not Reading.objects.filter(assignment__session__study=typed_study).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("column", "text", "message"),
    [
        ("submitted_at", "0001-01-01T00:00:00+01:00", "ISO 8601"),
        ("opened_at", "9999-12-31T23:00:00-05:00", "ISO 8601"),
        ("submitted_at", "9999-12-31T00:00:00+00:00", "future"),
    ],
)
def test_moments_out_of_range_are_refused_with_a_4xx(
    coordinator_client: Client,
    slic_study: ReaderStudy,
    reader_a: User,
    slic_cases: list[Case],
    column: str,
    text: str,
    message: str,
) -> None:
    """A moment UTC cannot hold was a 500; one in the future would stall the reader's washout."""
    rows = [{**row, column: text} for row in _reading_rows(reader_a, slic_cases[0])]
    before = _stored()
    response = _post(coordinator_client, slic_study, _csv(rows, (*HEADER, column)))
    assert response.status_code == 400, response.content[:500]
    errors = response.json()["errors"]
    assert errors and {e["column"] for e in errors} == {column}, errors
    assert message in errors[0]["message"]
    assert _stored() == before
