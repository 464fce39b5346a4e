"""Pages: the case's inference panel, job start and cancel forms, the registry and cards."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from accounts.models import User
from cases.models import Case, SeriesRole
from inference import jobs, worker
from inference.models import InferenceJob, JobState, ModelVersion
from tests.conftest import PASSWORD, REPO_ROOT
from tests.inference.helpers import series_of

pytestmark = pytest.mark.django_db


def _login(user: User) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _panel(case: Case) -> str:
    return f"/inference/cases/{case.pk}/"


def test_the_panel_offers_ct_series_and_models(
    coordinator: User, cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    page = _login(coordinator).get(_panel(cervical_case))
    assert page.status_code == 200
    html = page.content.decode()
    ct = series_of(cervical_case, SeriesRole.CT)
    mri = series_of(cervical_case, SeriesRole.MRI_T2)
    assert f'value="{ct.pk}"' in html and f'value="{mri.pk}"' not in html
    assert f'value="{pseudomri_model.pk}" selected' in html
    assert "No NC-CTM dural canal segmentation model is active" in html
    assert "No job has run on this case yet" in html


def test_the_jobs_page_lists_every_case_s_jobs_with_live_progress(
    coordinator: User,
    reader_a: User,
    cervical_case: Case,
    lumbar_case: Case,
    pseudomri_model: ModelVersion,
    ncctm_model: ModelVersion,
) -> None:
    made = [
        jobs.job_create(
            actor=coordinator,
            case=case,
            source_series=series_of(case, role),
            model_version=model,
            enqueue=False,
        )
        for case, role, model in (
            (cervical_case, SeriesRole.CT, pseudomri_model),
            (lumbar_case, SeriesRole.DECT_MIXED, ncctm_model),
        )
    ]
    page = _login(coordinator).get("/inference/jobs/")
    assert page.status_code == 200
    html = page.content.decode()
    for job in made:
        assert f'data-job="{job.pk}"' in html and f'data-case="{job.case_id}"' in html
        assert f'href="/inference/cases/{job.case_id}/"' in html
    assert cervical_case.label in html and lumbar_case.label in html
    assert html.count('role="progressbar"') == 2 and "inference/job_progress.js" in html
    # Readers manage no cases: no page (as for the registry).
    assert _login(reader_a).get("/inference/jobs/").status_code == 404


def test_a_job_started_from_the_panel_shows_with_a_progress_bar(
    coordinator: User, cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    client = _login(coordinator)
    ct = series_of(cervical_case, SeriesRole.CT)
    response = client.post(
        f"{_panel(cervical_case)}jobs/",
        {"series": str(ct.pk), "model_version": str(pseudomri_model.pk), "steps": "4"},
    )
    job = InferenceJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{_panel(cervical_case)}#job-{job.pk}"
    assert job.parameters == {"steps": 4} and job.created_by == coordinator
    html = client.get(_panel(cervical_case)).content.decode()
    assert f'id="job-{job.pk}"' in html and 'role="progressbar"' in html
    assert "inference/job_progress.js" in html  # the poller
    poller = (REPO_ROOT / "frontend/static/inference/job_progress.js").read_text()
    assert "/api/v1/inference/jobs/${row.dataset.job}/" in poller
    assert "Cancel" in html

    worker.job_run(job_id=job.pk)
    html = client.get(_panel(cervical_case)).content.decode()
    output = InferenceJob.objects.get().output_series.get()
    assert output.description in html and 'aria-valuenow="100"' in html


def test_a_bad_start_form_is_a_400_and_starts_nothing(
    coordinator: User, cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    client = _login(coordinator)
    mri = series_of(cervical_case, SeriesRole.MRI_T2)
    url = f"{_panel(cervical_case)}jobs/"
    bad = client.post(url, {"series": "x", "model_version": str(pseudomri_model.pk)})
    assert bad.status_code == 400
    refused = client.post(url, {"series": str(mri.pk), "model_version": str(pseudomri_model.pk)})
    assert refused.status_code == 400
    assert "needs an acquired CT series" in refused.content.decode()
    ct = series_of(cervical_case, SeriesRole.CT)
    steps = client.post(
        url, {"series": str(ct.pk), "model_version": str(pseudomri_model.pk), "steps": "0"}
    )
    assert steps.status_code == 400
    unknown = client.post(url, {"series": str(ct.pk), "model_version": str(uuid.uuid4())})
    assert unknown.status_code == 404
    assert not InferenceJob.objects.exists()


def test_cancel_from_the_panel(
    coordinator: User, cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")
    client = _login(coordinator)
    response = client.post(f"/inference/jobs/{job.pk}/cancel/", follow=True)
    assert response.status_code == 200
    assert "The job was cancelled." in response.content.decode()
    assert InferenceJob.objects.get().state == JobState.CANCELLED
    again = client.post(f"/inference/jobs/{job.pk}/cancel/", follow=True)
    assert "already finished" in again.content.decode()


def test_registry_and_model_card(admin_user: User, ncctm_model: ModelVersion) -> None:
    client = _login(admin_user)
    listing = client.get("/inference/models/").content.decode()
    assert "ncctm-tiny" in listing and "active" in listing
    card = client.get(f"/inference/models/{ncctm_model.pk}/").content.decode()
    assert ncctm_model.sha256 in card and "untrained" in card
    assert "This model has not run yet" in card


def test_activation_from_the_model_card(coordinator: User, ncctm_model: ModelVersion) -> None:
    ModelVersion.objects.filter(pk=ncctm_model.pk).update(is_active=False)
    client = _login(coordinator)
    response = client.post(f"/inference/models/{ncctm_model.pk}/activate/", follow=True)
    assert "is now the active" in response.content.decode()
    assert ModelVersion.objects.get(pk=ncctm_model.pk).is_active


@pytest.mark.parametrize("persona", ["reader_a", "outsider"])
def test_pages_are_404_for_readers_and_outsiders(
    request: pytest.FixtureRequest,
    persona: str,
    cervical_case: Case,
    pseudomri_model: ModelVersion,
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")
    client = _login(request.getfixturevalue(persona))
    for method, url, data in (
        ("get", _panel(cervical_case), {}),
        ("post", f"{_panel(cervical_case)}jobs/", {"series": str(ct.pk)}),
        ("post", f"/inference/jobs/{job.pk}/cancel/", {}),
        ("get", "/inference/models/", {}),
        ("get", f"/inference/models/{pseudomri_model.pk}/", {}),
        ("post", f"/inference/models/{pseudomri_model.pk}/activate/", {}),
    ):
        assert getattr(client, method)(url, data).status_code == 404, url
    assert InferenceJob.objects.get().state == JobState.PENDING


def test_pages_need_a_login(cervical_case: Case) -> None:
    response = Client().get(_panel(cervical_case))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
