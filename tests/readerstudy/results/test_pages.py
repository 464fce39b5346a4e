"""Results of the seed's SLIC study: reader A's published accuracies on the page, in the JSON
analysis and in the exports (XLSX, CSV ZIP)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path
from urllib.parse import quote

import openpyxl
import pytest
from django.test import Client
from django.utils import timezone
from scipy import stats as scipy_stats

from accounts.models import User
from readerstudy import services
from readerstudy import statistics as stats
from readerstudy.models import ReaderAssignment, ReaderStudy, SlotPlacement
from readerstudy.results import load, pages
from readerstudy.results.records import StatRow
from tests.conftest import client_login
from tests.readerstudy.conftest import CERVICAL_ROLES, DISPLAY, PUBLISHED, import_phantom_case
from tests.spreadsheets import as_japanese_excel_reads


@pytest.mark.django_db
def test_the_results_page_and_the_api_show_reader_as_published_accuracies(
    client: Client, coordinator: User, reader_a: User, slic_results_study: ReaderStudy
) -> None:
    client_login(client, coordinator)
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
    kappa_cis = [(r["ci_low"], r["ci_high"]) for r in analysis["rows"] if "kappa" in r["statistic"]]
    assert all(-1 <= low <= high <= 1 for low, high in kappa_cis if low is not None)
    assert 'id="kappa-ci-note"' in html and "truncated to" in html
    report = client.get(f"/reading/studies/{study.pk}/results/report/")
    assert report.status_code == 200 and b"@page" in report.content


@pytest.mark.django_db
def test_the_exports_open_and_match_the_api(
    client: Client, coordinator: User, slic_results_study: ReaderStudy
) -> None:
    client_login(client, coordinator)
    study = slic_results_study
    api_rows = client.get(f"/api/v1/reader-studies/{study.pk}/analysis/").json()["rows"]

    xlsx = client.get(f"/reading/studies/{study.pk}/results/export.xlsx")
    assert xlsx.status_code == 200
    assert "attachment" in xlsx["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx.streaming_content)), read_only=True)
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
    about = dict(book["About"].iter_rows(values_only=True))
    assert (
        about["version"]
        == client.get(f"/api/v1/reader-studies/{study.pk}/analysis/").json()["version"]
    )
    readings = list(book["Readings"].iter_rows(values_only=True))
    assert len(readings) == 1 + 2 * 7 * 9  # header + 2 sessions x 7 cases x 9 questions

    archive = zipfile.ZipFile(
        io.BytesIO(
            b"".join(
                client.get(f"/reading/studies/{study.pk}/results/export.zip").streaming_content
            )
        )
    )
    assert "statistics.csv" in archive.namelist()
    assert b"71.4% (5/7)" in archive.read("statistics.csv")


@pytest.mark.django_db
def test_exports_of_a_japanese_study_keep_its_title_and_text(
    client: Client, coordinator: User, slic_results_study: ReaderStudy
) -> None:
    study = slic_results_study
    title = "頸髄損傷 疑似MRI 読影試験"
    ReaderStudy.objects.filter(pk=study.pk).update(title=title)
    study.sessions.filter(order=1).update(name="第1回 読影")
    client_login(client, coordinator)

    xlsx = client.get(f"/reading/studies/{study.pk}/results/export.xlsx")
    disposition = xlsx["Content-Disposition"]
    assert "filename*=utf-8''" + quote("頸髄損傷-疑似mri-読影試験") in disposition
    book = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx.streaming_content)), read_only=True)
    assert title in [value for row in book["About"].iter_rows(values_only=True) for value in row]
    readings = list(book["Readings"].iter_rows(values_only=True))
    sessions = {row[readings[0].index("session_name")] for row in readings[1:]}
    assert "第1回 読影" in sessions

    archive = zipfile.ZipFile(
        io.BytesIO(
            b"".join(
                client.get(f"/reading/studies/{study.pk}/results/export.zip").streaming_content
            )
        )
    )
    for name in archive.namelist():
        assert archive.read(name).startswith(b"\xef\xbb\xbf"), name
    about = as_japanese_excel_reads(archive.read("about.csv"))
    assert title in about
    readings = csv.DictReader(io.StringIO(as_japanese_excel_reads(archive.read("readings.csv"))))
    assert "第1回 読影" in {row["session_name"] for row in readings}

    export = client.get(f"/api/v1/reader-studies/{study.pk}/export/readings.csv")
    assert (
        "filename*=utf-8''" + quote("頸髄損傷-疑似mri-読影試験-readings.csv")
        in (export["Content-Disposition"])
    )
    text = as_japanese_excel_reads(b"".join(export.streaming_content))
    assert "第1回 読影" in {row["session_name"] for row in csv.DictReader(io.StringIO(text))}


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
        client_login(client, user)
        for path in paths:
            status = client.get(path).status_code
            assert (status == 200) == allowed, (user.username, path, status)
            assert status in (200, 403, 404)
    assert client.get("/reading/exports/all-studies.zip").status_code == 200
    client_login(client, other_coordinator)
    assert client.get("/reading/exports/all-studies.zip").status_code == 403


@pytest.mark.django_db
def test_an_export_is_built_once_per_study_version(
    client: Client, coordinator: User, slic_results_study: ReaderStudy
) -> None:
    client_login(client, coordinator)
    url = f"/reading/studies/{slic_results_study.pk}/results/export.xlsx"
    first, again = client.get(url), client.get(url)
    assert first["Content-Disposition"] == again["Content-Disposition"]
    assert b"".join(first.streaming_content) == b"".join(again.streaming_content)

    later = timezone.now() + dt.timedelta(minutes=5)
    ReaderStudy.objects.filter(pk=slic_results_study.pk).update(updated_at=later)
    changed = client.get(url)
    assert changed["Content-Disposition"] != first["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(b"".join(changed.streaming_content)), read_only=True)
    version = dict(book["About"].iter_rows(values_only=True))["version"]
    assert version == later.astimezone(dt.UTC).isoformat(timespec="microseconds")


# --- ROI measurements: CNR across reconstructions (PROTOCOLS.md 2) --------------------------

# Per case (index among the study's cases), the DC-LF CNR on each reconstruction; the medians
# are the report's 3.23 / 3.52 / 3.87.
CNR_BY_RECON = {
    "ADMIRE3": [3.23, 2.91, 3.60, 3.05, 3.41, 2.70, 3.90],
    "ADMIRE4": [3.52, 3.10, 3.95, 3.30, 3.71, 2.94, 4.32],
    "ADMIRE5": [3.87, 3.44, 4.41, 3.58, 4.16, 3.25, 4.95],
}
SLOTS = ("A", "B", "C")


@pytest.fixture
def cnr_study(
    coordinator: User, reader_a: User, seven_patients: list[dict[str, list[Path]]]
) -> ReaderStudy:
    """One session showing three reconstructions side by side, shuffled per reader and case,
    with slot ROI questions ``dc_<slot>`` (background ``lf_<slot>``) and ``lf_<slot>``; the
    phantom's CT stands in for each reconstruction."""
    cases = [
        import_phantom_case(files, CERVICAL_ROLES, f"NCCTM-CNR-{index + 1:03d}")
        for index, files in enumerate(seven_patients)
    ]
    study = services.study_create_from_template(actor=coordinator, protocol="blank")
    services.session_update(
        actor=coordinator,
        session=study.sessions.get(order=1),
        changes={
            "hanging_protocol": {
                "layout": "1x3",
                "shuffle_slots": True,
                "slots": [
                    {"label": slot, "roles": ["CT"], "arm": arm}
                    for slot, arm in zip(SLOTS, CNR_BY_RECON, strict=True)
                ],
            }
        },
    )
    for slot in SLOTS:
        key = slot.lower()
        # The background first: a CNR names an existing ROI question.
        services.question_create(
            actor=coordinator, study=study, key=f"lf_{key}", type="roi",
            label=f"Ligamentum flavum, image {slot}", options={"unit": "HU"},
        )  # fmt: skip
        services.question_create(
            actor=coordinator, study=study, key=f"dc_{key}", type="roi",
            label=f"Dural canal, image {slot}", options={"cnr_background": f"lf_{key}"},
        )  # fmt: skip
    added = services.study_cases_add(actor=coordinator, study=study, cases=cases)
    assert len(added.added) == 7, added.message
    services.reader_assign(actor=coordinator, study=study, reader=reader_a)
    services.study_status_set(actor=coordinator, study=study, status="active")

    assignment = ReaderAssignment.objects.get(session__study=study, reader=reader_a)
    case_ids = sorted(assignment.case_order)
    now = timezone.now()
    for position in range(1, len(case_ids) + 1):
        reading, study_case = services.reading_open(
            actor=reader_a, assignment=assignment, position=position, now=now
        )
        assert reading is not None
        index = case_ids.index(str(study_case.pk))
        answers = {}
        # What the workstation sends: the viewport's blinded series UID and slot label.
        for placement in SlotPlacement.objects.filter(assignment=assignment, study_case=study_case):
            cnr = CNR_BY_RECON[placement.arm][index]
            roi = {
                "series": placement.blinded_series_uid,
                "slot": placement.slot,
                "slice": 4,
                "geometry": {"annotationUID": f"roi-{index}"},
                "area": 30.0,
                "unit": "HU",
            }
            answers[f"dc_{placement.slot.lower()}"] = {**roi, "mean": 10 + 8.0 * cnr, "sd": 9.0}
            answers[f"lf_{placement.slot.lower()}"] = {**roi, "mean": 10.0, "sd": 8.0}
        services.reading_submit(
            actor=reader_a, reading=reading, version=reading.version, answers=answers, now=now
        )
    return study


@pytest.mark.django_db
def test_roi_cnr_medians_and_wilcoxon_reach_the_api_page_and_exports(
    client: Client, coordinator: User, reader_a: User, cnr_study: ReaderStudy
) -> None:
    client_login(client, coordinator)
    study = cnr_study
    placements = SlotPlacement.objects.filter(assignment__session__study=study)
    assert len({(p.slot, p.arm) for p in placements}) > 3  # slots were shuffled per case

    analysis = client.get(f"/api/v1/reader-studies/{study.pk}/analysis/").json()
    rows = {r["statistic"]: r for r in analysis["rows"] if r["comparison"] == "cnr"}
    for arm, median in (("ADMIRE3", 3.23), ("ADMIRE4", 3.52), ("ADMIRE5", 3.87)):
        row = rows[f"median CNR {arm}"]
        assert row["value"] == pytest.approx(median)
        assert (row["n"], row["reader"], row["question"]) == (7, reader_a.username, "dc/lf")
    for first, second in (("ADMIRE3", "ADMIRE4"), ("ADMIRE3", "ADMIRE5"), ("ADMIRE4", "ADMIRE5")):
        row = rows[f"Wilcoxon {first} vs {second} (median difference)"]
        x, y = CNR_BY_RECON[first], CNR_BY_RECON[second]
        assert row["p"] == pytest.approx(scipy_stats.wilcoxon(x, y, method="exact").pvalue)
        assert row["p"] == pytest.approx(stats.wilcoxon_signed_rank(x, y).p)
    images = analysis["cnr_images"]
    assert len(images) == 21 and all(i["reason"] == "" for i in images)

    page = client.get(f"/reading/studies/{study.pk}/results/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="cnr-table"' in html
    assert "median CNR ADMIRE4" in html and "3.520" in html
    other = html.split('id="other-table"')[-1] if 'id="other-table"' in html else ""
    assert "median CNR" not in other  # CNR rows have their own section, not "Other statistics"

    archive = zipfile.ZipFile(
        io.BytesIO(
            b"".join(
                client.get(f"/reading/studies/{study.pk}/results/export.zip").streaming_content
            )
        )
    )
    assert b"median CNR ADMIRE5" in archive.read("statistics.csv")
    # One row per image in the exports, with the CNR the API reports for it.
    cnr_rows = list(csv.DictReader(io.StringIO(archive.read("cnr_images.csv").decode("utf-8-sig"))))
    assert len(cnr_rows) == len(images)
    by_image = {(i["case"], i["reconstruction"]): i["cnr"] for i in images}
    for row in cnr_rows:
        assert float(row["cnr"]) == pytest.approx(by_image[(row["case"], row["reconstruction"])])
    xlsx = client.get(f"/reading/studies/{study.pk}/results/export.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(xlsx.streaming_content)), read_only=True)
    assert len(list(book["CNR images"].iter_rows())) == 1 + len(images)


def test_filters_match_whole_names_on_either_side_of_a_comparison() -> None:
    def row(reader: str, sessions: str) -> StatRow:
        return StatRow("reference", "q", "Q", reader, sessions, "accuracy", 1.0)

    assert load.involves(row("reader-1", "Session 1 vs Session 2"), reader="reader-1")
    assert not load.involves(row("reader-10", "Session 1"), reader="reader-1")
    assert load.involves(row("reader-10 vs reader-1", "Session 1"), reader="reader-1")
    assert load.involves(row("reader-1", "Session 1 vs Session 2"), session="Session 2")
    assert not load.involves(row("reader-1", "Session 12"), session="Session 1")
    assert load.involves(row("reader-1", "Session 1"), reader="reader-1", session="Session 1")
    assert not load.involves(row("reader-1", "Session 1"), reader="reader-1", session="S2")
    assert load.involves(row("anyone", "any"))


@pytest.mark.django_db
def test_the_page_draws_a_bounded_number_of_confusion_matrices_and_says_how_many_more(
    client: Client,
    coordinator: User,
    slic_results_study: ReaderStudy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_login(client, coordinator)
    url = f"/reading/studies/{slic_results_study.pk}/results/"
    everything = client.get(url).content.decode()
    drawn = everything.count('<figure class="plot confusion">')
    assert drawn >= 3 and 'id="confusions-not-drawn"' not in everything

    monkeypatch.setattr(pages, "MAX_CONFUSION_PLOTS", 2)
    capped = client.get(url).content.decode()
    assert capped.count('<figure class="plot confusion">') == 2
    assert f"{drawn - 2} more confusion matri" in capped


@pytest.mark.django_db
def test_labels_with_tex_syntax_are_drawn_as_written(
    client: Client, coordinator: User, slic_results_study: ReaderStudy
) -> None:
    # Probed in issue 16: matplotlib read "$...$" in a label as TeX and the page failed.
    label = r"Disc injury $\frac$ (score $x$)"
    slic_results_study.questions.filter(key="disc_injury").update(label=label, translations={})
    client_login(client, coordinator)
    for page in ("results/", "results/report/"):
        response = client.get(f"/reading/studies/{slic_results_study.pk}/{page}")
        assert response.status_code == 200, page
        assert "Disc injury $\\frac$" in response.content.decode()
