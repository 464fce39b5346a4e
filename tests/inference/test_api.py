"""REST API of inference jobs and the model registry: permissions, validation, states."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import AuditEvent, User
from cases.models import Case, SeriesRole
from inference.models import InferenceJob, JobState, ModelVersion
from tests.conftest import PASSWORD
from tests.inference.helpers import series_of

pytestmark = pytest.mark.django_db
JOBS = "/api/v1/inference/jobs/"
MODELS = "/api/v1/inference/models/"


def _client(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _start(client: APIClient, target: Case, **extra: Any) -> Any:
    ct = series_of(target, SeriesRole.CT)
    body = {"case": str(target.pk), "series": str(ct.pk), "task": "pseudomri", **extra}
    return client.post(JOBS, body, format="json")


def test_a_coordinator_starts_polls_and_cancels_a_job(
    coordinator: User, cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    client = _client(coordinator)
    created = _start(client, cervical_case, parameters={"steps": 3, "seed": 1})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["state"] == "PENDING" and body["progress"] == 0 and not body["is_terminal"]
    assert body["model_version"]["id"] == str(pseudomri_model.pk)
    assert body["parameters"] == {"steps": 3, "seed": 1}
    assert body["source_series"]["modality"] == "CT" and body["outputs"] == []

    polled = client.get(f"{JOBS}{body['id']}/")
    assert polled.status_code == 200 and polled.json()["id"] == body["id"]
    listed = client.get(JOBS, {"case": str(cervical_case.pk), "state": "PENDING"}).json()
    assert [job["id"] for job in listed["results"]] == [body["id"]]
    assert client.get(JOBS, {"state": "RUNNING"}).json()["results"] == []

    again = _start(client, cervical_case)
    assert again.status_code == 409 and "already queued" in again.json()["detail"]

    cancelled = client.post(f"{JOBS}{body['id']}/cancel/", {"reason": "test"}, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "CANCELLED"
    assert client.post(f"{JOBS}{body['id']}/cancel/").status_code == 409
    assert AuditEvent.objects.filter(verb="inference_job.cancel", actor=coordinator).exists()


@pytest.mark.parametrize(
    ("extra", "status", "message"),
    [
        ({"task": None}, 400, "task"),
        ({"task": "segment-everything"}, 400, "task"),
        ({"series": "not-a-uuid"}, 400, "series"),
        ({"parameters": {"steps": 0}}, 400, "between 1 and 1000"),
        ({"parameters": {"unknown": 1}}, 400, "unknown parameters"),
        ({"parameters": "steps=3"}, 400, "parameters"),
        ({"model_version": str(uuid.uuid4())}, 404, ""),
        ({"series": str(uuid.uuid4())}, 404, ""),
        ({"case": str(uuid.uuid4())}, 404, ""),
    ],
)
def test_bad_job_requests_are_4xx_and_change_nothing(
    coordinator: User,
    cervical_case: Case,
    pseudomri_model: ModelVersion,
    extra: dict[str, Any],
    status: int,
    message: str,
) -> None:
    if extra.get("task", "") is None:
        extra = {"task": ""}
    response = _start(_client(coordinator), cervical_case, **extra)
    assert response.status_code == status, response.content
    assert message in response.content.decode()
    assert not InferenceJob.objects.exists()


def test_an_mr_series_is_a_clear_400(
    coordinator: User, cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    mri = series_of(cervical_case, SeriesRole.MRI_T2)
    response = _client(coordinator).post(
        JOBS,
        {"case": str(cervical_case.pk), "series": str(mri.pk), "task": "pseudomri"},
        format="json",
    )
    assert response.status_code == 400
    assert "needs an acquired CT series" in response.json()["detail"]


def test_without_an_active_model_a_job_is_refused(coordinator: User, cervical_case: Case) -> None:
    response = _start(_client(coordinator), cervical_case)
    assert response.status_code == 400 and "is active" in response.json()["detail"]


@pytest.mark.parametrize("persona", ["reader_a", "outsider"])
def test_readers_and_outsiders_are_refused_everywhere(
    request: pytest.FixtureRequest,
    persona: str,
    cervical_case: Case,
    pseudomri_model: ModelVersion,
    coordinator: User,
) -> None:
    job = _start(_client(coordinator), cervical_case).json()
    client = _client(request.getfixturevalue(persona))
    for method, url in (
        ("get", JOBS),
        ("get", f"{JOBS}{job['id']}/"),
        ("post", f"{JOBS}{job['id']}/cancel/"),
        ("get", MODELS),
        ("get", f"{MODELS}{pseudomri_model.pk}/"),
        ("post", f"{MODELS}{pseudomri_model.pk}/activate/"),
    ):
        response = getattr(client, method)(url)
        assert response.status_code == 403, (method, url)
    assert _start(client, cervical_case).status_code == 403
    assert InferenceJob.objects.get().state == JobState.PENDING


def test_anonymous_requests_are_401() -> None:
    response = APIClient().get(JOBS)
    assert response.status_code == 401


def test_unknown_ids_are_404(coordinator: User, pseudomri_model: ModelVersion) -> None:
    client = _client(coordinator)
    missing = uuid.uuid4()
    assert client.get(f"{JOBS}{missing}/").status_code == 404
    assert client.post(f"{JOBS}{missing}/cancel/").status_code == 404
    assert client.get(f"{MODELS}{missing}/").status_code == 404
    assert client.post(f"{MODELS}{missing}/activate/").status_code == 404
    assert client.get(JOBS, {"case": "nope"}).status_code == 400


def test_models_are_listed_and_activated(
    admin_user: User, pseudomri_model: ModelVersion, ncctm_model: ModelVersion
) -> None:
    client = _client(admin_user)
    listed = client.get(MODELS).json()["results"]
    assert {m["id"] for m in listed} == {str(pseudomri_model.pk), str(ncctm_model.pk)}
    only = client.get(MODELS, {"task": "ncctm"}).json()["results"]
    assert [m["name"] for m in only] == ["ncctm-tiny"]
    detail = client.get(f"{MODELS}{ncctm_model.pk}/").json()
    assert detail["sha256"] == ncctm_model.sha256 and detail["is_active"]
    assert detail["queue"] == "default" and detail["config"]["channels"] == [4, 8]

    ModelVersion.objects.filter(pk=ncctm_model.pk).update(is_active=False)
    activated = client.post(f"{MODELS}{ncctm_model.pk}/activate/")
    assert activated.status_code == 200 and activated.json()["is_active"]

    ncctm_model.checkpoint_path.write_bytes(b"tampered")
    ModelVersion.objects.filter(pk=ncctm_model.pk).update(is_active=False)
    refused = client.post(f"{MODELS}{ncctm_model.pk}/activate/")
    assert refused.status_code == 400 and "sha256" in refused.json()["detail"]
    assert not ModelVersion.objects.get(pk=ncctm_model.pk).is_active


def test_the_schema_documents_the_inference_api(coordinator: User) -> None:
    client = Client()
    assert client.login(username=coordinator.username, password=PASSWORD)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/inference/jobs/",
        "/api/v1/inference/jobs/{job_id}/",
        "/api/v1/inference/jobs/{job_id}/cancel/",
        "/api/v1/inference/models/",
        "/api/v1/inference/models/{model_id}/activate/",
    ):
        assert path in paths, path
    assert "JobIn" in schema["components"]["schemas"]
