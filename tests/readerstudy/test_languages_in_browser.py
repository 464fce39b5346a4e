"""In a Japanese Chromium on a machine set to UTC: the coordinator sees Tokyo times, and the
exports a browser downloads open in Japanese (CSV read as Japanese Excel reads it, XLSX)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Browser, expect

from accounts.models import User
from cases.models import Series, SeriesRole
from inference.models import InferenceJob
from readerstudy import services
from readerstudy.models import ReaderAssignment, ReaderStudy
from tests.browser_support import login
from tests.inference.helpers import unregistered_job
from tests.readerstudy.test_services import SLIC_ANSWERS
from tests.spreadsheets import as_japanese_excel_reads

TITLE = "頸髄損傷 疑似MRI 読影試験"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_coordinator_sees_tokyo_times_and_downloads_japanese_exports(
    live_server,  # type: ignore[no-untyped-def]
    slic_study: ReaderStudy,
    coordinator: User,
    reader_a: User,
    browser: Browser,
) -> None:
    ReaderStudy.objects.filter(pk=slic_study.pk).update(title=TITLE)
    assignment = ReaderAssignment.objects.get(
        session__study=slic_study, session__order=1, reader=reader_a
    )
    reading, _ = services.reading_open(actor=reader_a, assignment=assignment, position=1)
    assert reading is not None
    services.reading_submit(actor=reader_a, reading=reading, version=1, answers=SLIC_ANSWERS)
    study_case = slic_study.study_cases.select_related("case").first()
    assert study_case is not None
    ct = Series.objects.get(study__case=study_case.case, role=SeriesRole.CT)
    job = unregistered_job(study_case.case, ct)
    InferenceJob.objects.filter(pk=job.pk).update(
        created_at=dt.datetime(2026, 3, 1, 19, 7, tzinfo=dt.UTC)
    )

    # The browser's own clock is UTC: the times come from the server, in the site's zone.
    context = browser.new_context(locale="ja-JP", timezone_id="UTC", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    login(page, live_server.url, coordinator.username)
    page.goto(f"{live_server.url}/inference/jobs/")
    expect(page.locator("h1")).to_have_text("推論ジョブ")
    expect(page.locator(f"#job-{job.pk} td").first).to_contain_text("2026/03/02 04:07")

    page.goto(f"{live_server.url}/reading/studies/{slic_study.pk}/")
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="読影結果をエクスポート（CSV）").click()
    download = csv_download.value
    assert download.suggested_filename == "頸髄損傷-疑似mri-読影試験-readings.csv"
    data = Path(download.path()).read_bytes()
    rows = list(csv.DictReader(io.StringIO(as_japanese_excel_reads(data))))
    assert len(rows) == 9 and {row["study"] for row in rows} == {TITLE}  # one per question

    page.goto(f"{live_server.url}/reading/studies/{slic_study.pk}/results/")
    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="XLSXをエクスポート").click()
    workbook = xlsx_download.value
    assert re.fullmatch(r"頸髄損傷-疑似mri-読影試験-.+\.xlsx", workbook.suggested_filename)
    book = openpyxl.load_workbook(io.BytesIO(Path(workbook.path()).read_bytes()), read_only=True)
    about = [value for row in book["About"].iter_rows(values_only=True) for value in row]
    assert TITLE in about
    context.close()
