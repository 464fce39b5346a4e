"""Export files per study version: built once, replaced when the study changes, built by a
real Celery worker after readings arrive, served to coordinators without building again."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from readerstudy import services
from readerstudy.models import ReaderAssignment, ReaderStudy, Reading
from readerstudy.results import files, load, sheets
from tests.conftest import client_login
from tests.readerstudy.conftest import read_session


def _files(study: ReaderStudy) -> list[str]:
    folder = files._folder(study.pk)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.django_db
def test_an_export_file_is_built_once_per_version_and_replaced_after_a_change(
    client: Client,
    coordinator: User,
    slic_results_study: ReaderStudy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study = slic_results_study
    builds: list[str] = []
    real_build = sheets.workbook_bytes

    def counting_build(tables: sheets.Sheets) -> bytes:
        builds.append(dict(tables["About"][1:])["version"])
        return real_build(tables)

    monkeypatch.setitem(
        files.KINDS,
        "xlsx",
        files.ExportKind("xlsx", files.XLSX_TYPE, counting_build),
    )
    client_login(client, coordinator)
    url = f"/reading/studies/{study.pk}/results/export.xlsx"
    first = client.get(url)
    again = client.get(url)
    assert first.status_code == again.status_code == 200
    assert b"".join(first.streaming_content) == b"".join(again.streaming_content)
    assert len(builds) == 1
    assert first["Content-Type"] == files.XLSX_TYPE
    assert _files(study) == [f"{files._stamp(builds[0])}.xlsx"]

    later = timezone.now() + dt.timedelta(minutes=5)
    ReaderStudy.objects.filter(pk=study.pk).update(updated_at=later)
    changed = client.get(url)
    assert len(builds) == 2
    assert changed["Content-Disposition"] != first["Content-Disposition"]
    version = later.astimezone(dt.UTC).isoformat(timespec="microseconds")
    assert builds[1] == version
    # The older version's file is gone; only the current one is kept.
    assert _files(study) == [f"{files._stamp(version)}.xlsx"]
    book = openpyxl.load_workbook(io.BytesIO(b"".join(changed.streaming_content)))
    assert dict(book["About"].iter_rows(values_only=True))["version"] == version


@pytest.mark.django_db
def test_a_forged_or_foreign_study_gets_no_export_and_nothing_is_built(
    client: Client,
    other_coordinator: User,
    reader_a: User,
    slic_results_study: ReaderStudy,
) -> None:
    study = slic_results_study
    for user in (other_coordinator, reader_a):
        client_login(client, user)
        assert client.get(f"/reading/studies/{study.pk}/results/export.xlsx").status_code in (
            403,
            404,
        )
        assert client.get(f"/reading/studies/{study.pk}/results/export.zip").status_code in (
            403,
            404,
        )
    client_login(client, other_coordinator)
    forged = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/reading/studies/{forged}/results/export.xlsx").status_code == 404
    assert client.get("/reading/studies/not-a-uuid/results/export.xlsx").status_code == 404
    assert _files(study) == []


@pytest.mark.django_db(transaction=True)
def test_a_worker_builds_the_exports_after_readings_arrive(
    client: Client,
    coordinator: User,
    reader_a: User,
    seven_cases: list,
    celery_worker_process: subprocess.Popen[bytes],
    settings: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.READERSTUDY_EXPORT_DELAY_SECONDS = 1  # type: ignore[attr-defined]
    study = services.study_create_from_template(actor=coordinator, protocol="slic-pseudo-mri")
    services.study_cases_add(actor=coordinator, study=study, cases=seven_cases)
    services.reader_assign(actor=coordinator, study=study, reader=reader_a)
    services.study_status_set(actor=coordinator, study=study, status="active")
    assignment = ReaderAssignment.objects.get(session__study=study, session__order=1)
    read_session(reader_a, study, 1, timezone.now() - dt.timedelta(days=1))
    assert assignment.readings.count() == 7

    # The submits committed one by one (no surrounding transaction): the worker builds both
    # files for the version the last one made.
    version = load.study_version(study=study)
    expected = {f"{files._stamp(version)}.{ext}" for ext in ("xlsx", "zip")}
    deadline = time.monotonic() + 90
    while set(_files(study)) != expected:
        assert celery_worker_process.poll() is None, "the worker died"
        assert time.monotonic() < deadline, f"no export files from the worker: {_files(study)}"
        time.sleep(0.5)

    # The download serves the worker's file: building in the web process would fail here.
    def no_build(**_: object) -> None:
        raise AssertionError("the download built the export although a worker had")

    monkeypatch.setattr(load, "study_results", no_build)
    client_login(client, coordinator)
    response = client.get(f"/reading/studies/{study.pk}/results/export.xlsx")
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    path = files._folder(study.pk) / f"{files._stamp(version)}.xlsx"
    assert content == Path(path).read_bytes()
    readings = list(openpyxl.load_workbook(io.BytesIO(content))["Readings"].iter_rows())
    assert len(readings) == 1 + 7 * 9  # header + 7 cases x 9 questions of session 1


@pytest.mark.django_db
def test_a_change_within_the_same_second_as_the_built_version_is_not_served_stale(
    client: Client, coordinator: User, slic_results_study: ReaderStudy
) -> None:
    """Readings come in bursts: one submitted in the second the export was built from must
    give a new version (and file), not the file without it."""
    study = slic_results_study
    # Later than every other change of the study (its references were made just now).
    moment = timezone.now().replace(microsecond=100_000) + dt.timedelta(minutes=5)
    ReaderStudy.objects.filter(pk=study.pk).update(updated_at=moment)
    readings = Reading.objects.filter(assignment__session__study=study)
    readings.update(updated_at=moment)
    client_login(client, coordinator)
    url = f"/reading/studies/{study.pk}/results/export.xlsx"
    first = client.get(url)
    assert first.status_code == 200
    b"".join(first.streaming_content)

    reading = readings.filter(is_current=True).order_by("pk").first()
    assert reading is not None and isinstance(reading.answers["disc_injury"], bool)
    flipped = not reading.answers["disc_injury"]
    readings.filter(pk=reading.pk).update(
        answers={**reading.answers, "disc_injury": flipped},
        updated_at=moment + dt.timedelta(microseconds=500_000),
    )
    changed = client.get(url)
    book = openpyxl.load_workbook(io.BytesIO(b"".join(changed.streaming_content)))
    rows = list(book["Readings"].iter_rows(values_only=True))
    header = list(rows[0])
    values = [
        row[header.index("value")]
        for row in rows[1:]
        if row[header.index("reading_id")] == str(reading.pk)
        and row[header.index("question")] == "disc_injury"
    ]
    assert values == ["true" if flipped else "false"]


@pytest.mark.django_db
def test_every_csv_of_the_zip_guards_cells_that_spreadsheets_would_run_as_formulas(
    slic_results_study: ReaderStudy,
) -> None:
    """The readings CSV guards formulas; the ZIP's other CSVs show the same names (the study
    title, session names, question labels) and must guard them too."""
    study = slic_results_study
    evil = '=HYPERLINK("https://evil.example","x")'
    ReaderStudy.objects.filter(pk=study.pk).update(title=evil)
    study.sessions.filter(order=1).update(name="+cmd|' /C calc'!A0")
    study.questions.filter(key="disc_injury").update(label="@SUM(1+1)")
    study.refresh_from_db()
    tables = sheets.export_sheets(load.study_results(study=study))
    archive = zipfile.ZipFile(io.BytesIO(sheets.csv_zip_bytes(tables)))
    seen = set()
    for name in archive.namelist():
        for row in csv.reader(io.StringIO(archive.read(name).decode())):
            for cell in row:
                try:
                    float(cell)  # a negative number is no formula
                except ValueError:
                    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (name, cell)
                if cell.lstrip("'") in (evil, "+cmd|' /C calc'!A0", "@SUM(1+1)"):
                    seen.add((name, cell))
    names = {name for name, _ in seen}
    assert {"about.csv", "design.csv", "statistics.csv", "readings.csv"} <= names, seen
    # Numbers stay numbers, and the readings are guarded once, not twice.
    assert ("readings.csv", "'" + evil) in seen and ("about.csv", "'" + evil) in seen
    # The XLSX keeps text as text (never a formula) and unquoted.
    book = openpyxl.load_workbook(io.BytesIO(sheets.workbook_bytes(tables)))
    assert dict(book["About"].iter_rows(values_only=True))["study"] == evil
    readings = list(book["Readings"].iter_rows(values_only=True))
    column = readings[0].index("study")
    assert {row[column] for row in readings[1:]} == {evil}  # no guard quote in the workbook
    assert book["Readings"]["A2"].data_type == "s"  # text, not a formula


@pytest.mark.django_db
def test_a_design_change_gives_the_exports_a_new_version(
    coordinator: User, slic_results_study: ReaderStudy
) -> None:
    """Question labels, sessions and members appear in the exports: changing them is a new
    version, so a download never serves a file made before the change."""
    study = slic_results_study
    first = files.export_file(study=study, extension="xlsx")
    question = study.questions.get(key="disc_injury")
    services.question_update(
        actor=coordinator, question=question, changes={"label": "Disc injury (renamed)"}
    )
    study.refresh_from_db()
    second = files.export_file(study=study, extension="xlsx")
    assert second.path != first.path and not first.path.exists()
    book = openpyxl.load_workbook(second.path, read_only=True)
    labels = {row[2] for row in book["Statistics"].iter_rows(values_only=True)}
    assert "Disc injury (renamed)" in labels


@pytest.mark.django_db
def test_a_late_build_of_an_older_version_keeps_the_newer_files(
    slic_results_study: ReaderStudy,
) -> None:
    study = slic_results_study
    folder = files._folder(study.pk)
    folder.mkdir(parents=True, exist_ok=True)
    newer = folder / "2999-01-01T000000.000000Z.xlsx"
    older = folder / "2000-01-01T000000.000000Z.zip"
    dead = folder / "tmpdead.part"
    fresh = folder / "tmpalive.part"
    for item in (newer, older, dead, fresh):
        item.write_bytes(b"x")
    os.utime(dead, (time.time() - 2 * files.STALE_PART_SECONDS,) * 2)
    files.export_file(study=study, extension="xlsx")
    assert newer.exists() and fresh.exists()
    assert not older.exists() and not dead.exists()
