"""A coordinator runs NC-CTM from a case's inference panel in Chromium: the job runs in a real
Celery worker, the progress bar reaches 100 %, and the mask opens overlaid in the viewer."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from demo.models_and_jobs import DEMO_MODELS_DIR, MANIFEST
from playwright.sync_api import Page

from cases.ingest import instance_ingest
from cases.models import Case, Region, SeriesRole, Study
from cases.services import case_create
from inference.models import ModelTask, ModelVersion
from inference.registry import model_version_register
from tests.browser.conftest import PageLog
from tests.browser.phantoms import PhantomFiles

VIEWER = "window.sagittalCaseViewer"


@pytest.fixture
def ct_only_case(transactional_db: None, lumbar_phantom: PhantomFiles) -> Case:
    """The lumbar phantom's dual-energy CT alone: the model's mask will be its only mask."""
    uids = set()
    for path in lumbar_phantom.files["DECT-mixed"]:
        outcome = instance_ingest(data=path.read_bytes(), role=SeriesRole.DECT_MIXED)
        assert outcome.status == "stored", outcome.reason
        uids.add(outcome.study_instance_uid)
    return case_create(
        actor=None,
        label="BROWSER-INFERENCE",
        region=Region.LUMBAR,
        studies=Study.objects.filter(study_instance_uid__in=uids),
    )


@pytest.fixture
def ncctm_demo_model(transactional_db: None) -> ModelVersion:
    """The committed demo NC-CTM model (trained by train_ncctm on phantoms)."""
    entry = next(
        e for e in json.loads(MANIFEST.read_text())["models"] if e["task"] == ModelTask.NCCTM
    )
    return model_version_register(
        actor=None,
        task=ModelTask.NCCTM,
        name=entry["name"],
        version=entry["version"],
        checkpoint=DEMO_MODELS_DIR / entry["file"],
        activate=True,
    )


def test_a_coordinator_runs_ncctm_and_opens_the_mask_in_the_viewer(
    celery_worker_process: subprocess.Popen[bytes],
    live_server: Any,
    ct_only_case: Case,
    ncctm_demo_model: ModelVersion,
    page: Page,
    page_log: PageLog,
) -> None:
    page.goto(f"{live_server.url}/inference/cases/{ct_only_case.pk}/")
    page.select_option("select[name=model_version]", str(ncctm_demo_model.pk))
    page.click("#job-start button[type=submit]")

    bar = page.locator("#jobs tr[data-job] .progress")
    bar.wait_for()
    # The bar follows the job through the API until the worker is done.
    page.wait_for_function(
        "document.querySelector('#jobs tr[data-job] .progress')"
        ".getAttribute('aria-valuenow') === '100'",
        timeout=240_000,
    )
    row = page.locator("#jobs tr[data-job]")
    assert "Succeeded" in row.locator(".state").inner_text()
    assert row.locator("form.cancel").count() == 0
    # The ORM is off limits while Playwright runs in this thread: ask the API, as the page does.
    job = page.evaluate(
        "async (id) => (await fetch(`/api/v1/inference/jobs/${id}/`)).json()",
        row.get_attribute("data-job"),
    )
    assert job["state"] == "SUCCEEDED", job["error"]
    outputs = {series["series_instance_uid"] for series in job["outputs"]}
    assert len(outputs) == 2  # the SEG and the mask series

    row.locator(".outputs a", has_text="AI NC-CTM mask").click()
    page.wait_for_url(f"**/viewer/cases/{ct_only_case.pk}/**")
    page.wait_for_function(
        f"{VIEWER} && {VIEWER}.getState().viewports.some(v => v.overlay && v.overlay.ready)"
    )
    state: dict[str, Any] = page.evaluate(f"{VIEWER}.getState()")
    overlays = [v["overlay"] for v in state["viewports"] if v["overlay"]]
    assert overlays and all(o["seriesUid"] in outputs for o in overlays)
    assert page_log.console_errors == []
    assert page_log.foreign_requests() == []
