"""The results page in real Chromium for the demo's completed study (two simulated readers).

The demo coordinator logs in and opens the study's results: the accuracy and kappa tables show
the analysis' values, the SVG plots are drawn, the reader and session filters change the
tables, and the export links download their files.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from demo import reader_studies as demo
from demo.phantom_cases import DemoReport, demo_users_ensure
from django.template.defaultfilters import floatformat
from playwright.sync_api import Browser, Page, expect

from readerstudy.models import ReaderStudy
from readerstudy.results import load, pages
from readerstudy.results.records import StatRow
from tests.browser_support import login
from tests.readerstudy.conftest import CERVICAL_ROLES, import_phantom_case

WAIT_MS = 60_000

PASSWORD = "demo-password-for-browser-tests"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DASH = "\u2013"  # between the ends of an interval on the page


@pytest.fixture
def completed_study(
    transactional_db: None, cervical_dicom: list[dict[str, list[Path]]]
) -> ReaderStudy:
    """What ``manage.py demo`` makes: the SLIC study completed by sim-reader-1 and -2."""
    demo_users_ensure(password=PASSWORD, report=DemoReport())
    for index, files in enumerate(cervical_dicom, start=1):
        import_phantom_case(files, CERVICAL_ROLES, f"CSCI-{index:03d}")
    demo.demo_load(password=PASSWORD)
    return ReaderStudy.objects.get(title=demo.COMPLETED_TITLE)


def _cells(page: Page, selector: str) -> list[list[str]]:
    rows = page.locator(f"{selector} tbody tr")
    return [
        [cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()]
        for i in range(rows.count())
    ]


def _fixed(value: float, places: int) -> str:
    """As the template prints it (Django rounds half up on the decimal repr)."""
    return str(floatformat(value, places))


def _kappa_cells(row: StatRow) -> tuple[str, str, str]:
    """Value, 95% CI and p as the page prints them (n/a and blanks for undefined ones)."""
    ci = (
        "" if math.isnan(row.ci_low) else f"{_fixed(row.ci_low, 3)} {DASH} {_fixed(row.ci_high, 3)}"
    )
    p = "" if math.isnan(row.p) else _fixed(row.p, 4)
    return row.display, ci, p


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_results_page_renders_its_tables_plots_filters_and_exports(
    live_server,  # type: ignore[no-untyped-def]
    completed_study: ReaderStudy,
    browser: Browser,
) -> None:
    study = completed_study
    analysis = load.study_results(study=study).analysis
    accuracy = [
        r for r in analysis.rows if r.comparison == "reference" and r.statistic == "accuracy"
    ]
    kappas = [r for r in analysis.rows if r.statistic.startswith(pages.AGREEMENT_STATISTICS)]
    assert {"Gwet AC1", "PABAK"} <= {r.statistic for r in kappas}
    readers = sorted({r.reader for r in accuracy})
    assert readers == ["sim-reader-1", "sim-reader-2"] and len(kappas) > 4

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    login(page, live_server.url, "coordinator", PASSWORD)
    url = f"{live_server.url}/reading/studies/{study.pk}/results/"
    page.goto(url)

    # Accuracy: one row per reader and question, as the analysis says (Wilson CI included).
    expect(page.locator("#accuracy-table tbody tr")).to_have_count(len(accuracy))
    shown = _cells(page, "#accuracy-table")
    expected = [
        [r.reader, r.sessions, r.question_label, r.display,
         f"{_fixed(r.ci_low, 3)} {DASH} {_fixed(r.ci_high, 3)}" if r.n else ""]
        for r in accuracy
    ]  # fmt: skip
    assert shown == expected

    # Kappa: value, CI and p of every row, found by reader, question and statistic.
    expect(page.locator("#kappa-table tbody tr")).to_have_count(len(kappas))
    for row in kappas:
        cells = page.locator(
            f'#kappa-table tr[data-reader="{row.reader}"][data-question="{row.question}"]'
            f'[data-statistic="{row.statistic}"]'
        )
        texts = {
            tuple(t.strip() for t in cells.nth(i).locator("td").all_inner_texts()[5:8])
            for i in range(cells.count())
        }
        assert _kappa_cells(row) in texts, (row, texts)
    assert any(_kappa_cells(r)[1] and _kappa_cells(r)[2] for r in kappas)  # some have CI and p

    # Plots: inline SVG, visible, with a size, and with drawn bars and matrix cells.
    plot = page.locator("#accuracy-plot svg")
    expect(plot).to_be_visible()
    box = plot.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    # matplotlib draws each bar as a patch clipped to the axes, zero-height bars included.
    bars = page.locator("#accuracy-plot svg g[id^=patch_] path[clip-path]")
    expect(bars).to_have_count(len([r for r in accuracy if not math.isnan(r.value)]))
    heights = [b["height"] for b in (bars.nth(i).bounding_box() for i in range(bars.count())) if b]
    assert sum(h > 0.5 for h in heights) == len([r for r in accuracy if r.value > 0])
    confusion = page.locator("figure.confusion svg")
    assert confusion.count() == min(24, len(analysis.confusions)) > 0
    expect(confusion.first).to_be_visible()
    first = confusion.first.bounding_box()
    assert first is not None and first["width"] > 50 and first["height"] > 50

    # The reader filter keeps that reader's rows only; the session filter, that session's.
    page.select_option("select[name=reader]", "sim-reader-1")
    page.click("form.toolbar button[type=submit]")
    page.wait_for_url(re.compile(r".*reader=sim-reader-1"))
    mine = [r for r in accuracy if r.reader == "sim-reader-1"]
    expect(page.locator("#accuracy-table tbody tr")).to_have_count(len(mine))
    assert {c[0] for c in _cells(page, "#accuracy-table")} == {"sim-reader-1"}
    # Kappa rows of that reader, inter-reader ones ("sim-reader-1 vs sim-reader-2") included.
    theirs = [r for r in kappas if "sim-reader-1" in r.reader]
    expect(page.locator("#kappa-table tbody tr")).to_have_count(len(theirs))
    assert len(theirs) < len(kappas)
    assert all("sim-reader-1" in c[1] for c in _cells(page, "#kappa-table"))
    page.select_option("select[name=reader]", "")
    page.select_option("select[name=session]", "Session 2")
    page.click("form.toolbar button[type=submit]")
    page.wait_for_url(re.compile(r".*session=Session\+2"))
    session_two = [r for r in kappas if "Session 2" in r.sessions]
    expect(page.locator("#kappa-table tbody tr")).to_have_count(len(session_two))
    assert len(session_two) < len(kappas)
    assert all("Session 2" in c[2] for c in _cells(page, "#kappa-table"))

    # Exports: the links download the right files.
    page.goto(url)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export XLSX").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(download.path().read_bytes()), read_only=True)
    assert "Statistics" in book.sheetnames
    for name, content_type in (
        ("Export XLSX", XLSX),
        ("Export CSV (ZIP)", "application/zip"),
        ("JSON", "application/json"),
    ):
        href = page.get_by_role("link", name=name, exact=True).get_attribute("href")
        response = page.request.get(f"{live_server.url}{href}")
        assert response.status == 200, (name, response.status)
        assert response.headers["content-type"].startswith(content_type), response.headers
        if name == "Export CSV (ZIP)":
            archive = zipfile.ZipFile(io.BytesIO(response.body()))
            assert "statistics.csv" in archive.namelist()
        if name == "JSON":
            assert len(response.json()["rows"]) == len(analysis.rows)
    assert not errors, errors
