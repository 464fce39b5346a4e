"""Results of the seed's SLIC study: reader A's published accuracies on the page, in the JSON
analysis and in the exports (XLSX, CSV ZIP)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from cases.models import Case
from inference.phantoms import generate_cervical_case, write_cervical_case_dicom
from readerstudy import services
from readerstudy.models import ReaderAssignment, ReaderStudy
from tests.conftest import PASSWORD
from tests.readerstudy.conftest import CERVICAL_ROLES, _import, add_pseudo_mri

# Reader A in PROTOCOLS.md: session 1 against session 2, per finding.
PUBLISHED = {
    "retropharyngeal_hematoma": 7,
    "disc_injury": 5,
    "cord_edema": 7,
    "sci_level": 4,
    "canal_stenosis": 5,
    "interspinous_ligament_injury": 5,
}
DISPLAY = {7: "100.0% (7/7)", 5: "71.4% (5/7)", 4: "57.1% (4/7)"}
YES_NO = [key for key in PUBLISHED if key != "sci_level"]


def _answers(case_index: int, *, session: int) -> dict[str, Any]:
    """Session 2 is the truth; session 1 differs on the cases past each finding's hits."""
    truth = {key: case_index % 2 == 0 for key in YES_NO}
    truth.update(sci_level="C5", slic_ct_morphology=case_index % 5, slic_mri_dlc=case_index % 3)
    if session == 2:
        return truth
    answers = dict(truth)
    for key, hits in PUBLISHED.items():
        if case_index >= hits:
            answers[key] = "C7" if key == "sci_level" else not truth[key]
    return answers


def _read_session(reader: User, study: ReaderStudy, order: int, now: dt.datetime) -> None:
    assignment = ReaderAssignment.objects.get(
        session__study=study, session__order=order, reader=reader
    )
    case_ids = list(assignment.case_order)
    for position in range(1, len(case_ids) + 1):
        reading, study_case = services.reading_open(
            actor=reader, assignment=assignment, position=position, now=now
        )
        assert reading is not None
        # The case's index among the study's cases fixes its answers, whatever the order.
        index = sorted(case_ids).index(str(study_case.pk))
        services.reading_submit(
            actor=reader,
            reading=reading,
            version=reading.version,
            answers=_answers(index, session=order),
            now=now,
        )


@pytest.fixture(scope="session")
def seven_patients(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, list[Path]]]:
    return [
        write_cervical_case_dicom(
            generate_cervical_case(seed=700 + index, shape=(8, 32, 32)),
            tmp_path_factory.mktemp(f"slic{index}"),
            patient_name=f"SLIC^{index}",
            patient_id=f"SLIC-{index}",
        )
        for index in range(7)
    ]


@pytest.fixture
def seven_cases(db: None, seven_patients: list[dict[str, list[Path]]]) -> list[Case]:
    cases = []
    for index, files in enumerate(seven_patients):
        case = _import(files, CERVICAL_ROLES, f"CSCI-{index + 1:03d}")
        add_pseudo_mri(case)
        cases.append(case)
    return cases


@pytest.fixture
def slic_results_study(coordinator: User, reader_a: User, seven_cases: list[Case]) -> ReaderStudy:
    study = services.study_create_from_template(actor=coordinator, protocol="slic-pseudo-mri")
    added = services.study_cases_add(actor=coordinator, study=study, cases=seven_cases)
    assert len(added.added) == 7, added.message
    services.reader_assign(actor=coordinator, study=study, reader=reader_a)
    services.study_status_set(actor=coordinator, study=study, status="active")
    start = timezone.now() - dt.timedelta(days=60)
    _read_session(reader_a, study, 1, start)
    _read_session(reader_a, study, 2, start + dt.timedelta(days=31))
    return study


def _login(client: Client, user: User) -> Client:
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.django_db
def test_the_results_page_and_the_api_show_reader_as_published_accuracies(
    client: Client, coordinator: User, reader_a: User, slic_results_study: ReaderStudy
) -> None:
    _login(client, coordinator)
    study = slic_results_study

    analysis = client.get(f"/api/v1/reader-studies/{study.pk}/analysis/").json()
    accuracy = {
        row["question"]: row["display"]
        for row in analysis["rows"]
        if row["statistic"] in ("accuracy", "exact level")
        and row["reader"] == reader_a.username
        and row["question"] in PUBLISHED
    }
    assert accuracy == {key: DISPLAY[hits] for key, hits in PUBLISHED.items()}

    page = client.get(f"/reading/studies/{study.pk}/results/")
    assert page.status_code == 200
    html = page.content.decode()
    for key in PUBLISHED:
        if key != "sci_level":
            assert f'data-question="{key}"' in html
    assert html.count("100.0% (7/7)") >= 2 and "71.4% (5/7)" in html
    assert "<svg" in html  # the accuracy plot and confusion matrices
    kappa_rows = [r for r in analysis["rows"] if r["statistic"] == "kappa (quadratic)"]
    assert {r["question"] for r in kappa_rows} >= {
        "slic_ct_morphology",
        "slic_mri_dlc",
        "slic_total",
    }
    report = client.get(f"/reading/studies/{study.pk}/results/report/")
    assert report.status_code == 200 and b"@page" in report.content


@pytest.mark.django_db
def test_the_exports_open_and_match_the_api(
    client: Client, coordinator: User, slic_results_study: ReaderStudy
) -> None:
    _login(client, coordinator)
    study = slic_results_study
    api_rows = client.get(f"/api/v1/reader-studies/{study.pk}/analysis/").json()["rows"]

    xlsx = client.get(f"/reading/studies/{study.pk}/results/export.xlsx")
    assert xlsx.status_code == 200
    assert "attachment" in xlsx["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert {"About", "Statistics", "Per reader", "Readings", "Design"} <= set(book.sheetnames)
    sheet = list(book["Statistics"].iter_rows(values_only=True))
    header, body = sheet[0], sheet[1:]
    rows = [dict(zip(header, row, strict=True)) for row in body]
    assert len(rows) == len(api_rows)
    for exported, api in zip(rows, api_rows, strict=True):
        assert exported["statistic"] == api["statistic"]
        if api["value"] is None:
            assert exported["value"] is None
        else:
            assert exported["value"] == pytest.approx(api["value"])
    about = list(book["About"].iter_rows(values_only=True))
    assert about[1][0] == "version" and about[1][1]
    readings = list(book["Readings"].iter_rows(values_only=True))
    assert len(readings) == 1 + 2 * 7 * 9  # header + 2 sessions x 7 cases x 9 questions

    archive = zipfile.ZipFile(
        io.BytesIO(client.get(f"/reading/studies/{study.pk}/results/export.zip").content)
    )
    assert "statistics.csv" in archive.namelist()
    assert b"71.4% (5/7)" in archive.read("statistics.csv")


@pytest.mark.django_db
def test_results_are_for_the_studys_coordinators_and_admins_only(
    client: Client,
    reader_a: User,
    outsider: User,
    other_coordinator: User,
    admin_user: User,
    slic_results_study: ReaderStudy,
) -> None:
    study = slic_results_study
    paths = [
        f"/reading/studies/{study.pk}/results/",
        f"/reading/studies/{study.pk}/results/export.xlsx",
        f"/api/v1/reader-studies/{study.pk}/analysis/",
    ]
    for user, allowed in (
        (reader_a, False),
        (outsider, False),
        (other_coordinator, False),
        (admin_user, True),
    ):
        _login(client, user)
        for path in paths:
            status = client.get(path).status_code
            assert (status == 200) == allowed, (user.username, path, status)
            assert status in (200, 403, 404)
    assert client.get("/reading/exports/all-studies.zip").status_code == 200
    _login(client, other_coordinator)
    assert client.get("/reading/exports/all-studies.zip").status_code == 403


@pytest.mark.django_db
def test_an_export_is_built_once_per_study_version(
    client: Client, coordinator: User, slic_results_study: ReaderStudy
) -> None:
    _login(client, coordinator)
    url = f"/reading/studies/{slic_results_study.pk}/results/export.xlsx"
    first, again = client.get(url), client.get(url)
    assert first["Content-Disposition"] == again["Content-Disposition"]
    assert first.content == again.content

    later = timezone.now() + dt.timedelta(minutes=5)
    ReaderStudy.objects.filter(pk=slic_results_study.pk).update(updated_at=later)
    changed = client.get(url)
    assert changed["Content-Disposition"] != first["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(changed.content), read_only=True)
    version = dict(list(book["About"].iter_rows(values_only=True))[:3])["version"]
    assert version == later.astimezone(dt.UTC).isoformat(timespec="seconds")
