"""Jobs in real Celery worker processes: end to end with DICOMweb, and workers killed mid-job.

The session worker (tests/conftest.py) runs the jobs; a second worker started here is killed
outright to show that the reaper hands its job back to the queue.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from accounts.models import User
from cases.models import Case, SeriesRole
from config.celery import app
from inference import jobs, worker
from inference.models import InferenceJob, JobState, ModelVersion
from tests.conftest import REPO_ROOT, database_url_of_test_db
from tests.inference.helpers import series_of, write_tiny_sd_pipeline

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
SESSION_WORKER = "test-worker@"


@pytest.fixture(autouse=True)
def private_models_dir() -> None:
    """Overrides the conftest fixture: the worker process must find the checkpoints, so they
    stay in the models directory of the test settings (the worker's too)."""


def _wait(job_id: uuid.UUID, until: Any, timeout: float = 300) -> InferenceJob:
    job = jobs.job_wait(job_id=job_id, timeout=timeout, until=until)
    assert until(job), (job.state, job.progress, job.message, job.error, job.log)
    return job


def _terminal(job: InferenceJob) -> bool:
    return job.is_terminal


def _sampling(job: InferenceJob) -> bool:
    return job.state == JobState.RUNNING and job.progress >= 20 and ":" in job.worker


def _pid(job: InferenceJob) -> int:
    return int(job.worker.rpartition(":")[2])


def test_jobs_run_in_a_worker_and_their_outputs_are_served_by_dicomweb(
    celery_worker_process: subprocess.Popen[bytes],
    coordinator: User,
    cervical_case: Case,
    lumbar_case: Case,
    pseudomri_model: ModelVersion,
    ncctm_model: ModelVersion,
) -> None:
    client = APIClient()
    client.force_authenticate(coordinator)
    started = {}
    for case, role, task in (
        (cervical_case, SeriesRole.CT, "pseudomri"),
        (lumbar_case, SeriesRole.DECT_MIXED, "ncctm"),
    ):
        ct = series_of(case, role)
        response = client.post(
            "/api/v1/inference/jobs/",
            {"case": str(case.pk), "series": str(ct.pk), "task": task},
            format="json",
        )
        assert response.status_code == 201, response.json()
        started[task] = (uuid.UUID(response.json()["id"]), ct)

    for job_id, ct in started.values():
        job = _wait(job_id, _terminal)
        assert job.state == JobState.SUCCEEDED, job.error
        assert _pid(job) != os.getpid()  # it ran in the worker
        body = client.get(f"/api/v1/inference/jobs/{job_id}/").json()
        assert body["progress"] == 100 and body["outputs"]
        study_uid = ct.study.study_instance_uid
        listed = client.get(f"/dicomweb/studies/{study_uid}/series", HTTP_ACCEPT="*/*")
        assert listed.status_code == 200
        served = {item["0020000E"]["Value"][0] for item in json.loads(listed.content)}
        for output in body["outputs"]:
            assert output["series_instance_uid"] in served
            url = f"/dicomweb/studies/{study_uid}/series/{output['series_instance_uid']}"
            metadata = client.get(f"{url}/metadata", HTTP_ACCEPT="application/dicom+json")
            assert metadata.status_code == 200
            instances = json.loads(metadata.content)
            assert len(instances) == output["number_of_instances"]
            # Derived outputs keep the source's frame of reference (tag 0020,0052).
            assert {i["00200052"]["Value"][0] for i in instances} == {ct.frame_of_reference_uid}
            sop = instances[0]["00080018"]["Value"][0]
            frame = client.get(f"{url}/instances/{sop}/frames/1", HTTP_ACCEPT="*/*")
            assert frame.status_code == 200
            assert frame["Content-Type"].startswith("multipart/related")
    assert celery_worker_process.poll() is None


def test_a_killed_worker_process_is_replaced_and_the_job_retried(
    celery_worker_process: subprocess.Popen[bytes],
    cervical_case: Case,
    pseudomri_model: ModelVersion,
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    # Enough sampling steps to be killed in the middle (the kill comes as sampling starts).
    job = jobs.job_create(
        actor=None,
        case=cervical_case,
        source_series=ct,
        task="pseudomri",
        parameters={"steps": 20},
    )
    running = _wait(job.pk, _sampling, timeout=120)
    child = _pid(running)
    assert child != celery_worker_process.pid
    os.kill(child, signal.SIGKILL)  # as the OOM killer would

    done = _wait(job.pk, _terminal)
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.attempts == 2 and _pid(done) != child
    assert "the previous worker was lost" in done.log
    assert celery_worker_process.poll() is None


def test_a_job_whose_worker_keeps_dying_fails_with_the_reason(
    celery_worker_process: subprocess.Popen[bytes],
    cervical_case: Case,
    pseudomri_model: ModelVersion,
    settings: Settings,
) -> None:
    settings.INFERENCE_MAX_ATTEMPTS = 1
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(
        actor=None,
        case=cervical_case,
        source_series=ct,
        task="pseudomri",
        parameters={"steps": 20},
    )
    os.kill(_pid(_wait(job.pk, _sampling, timeout=120)), signal.SIGKILL)
    done = _wait(job.pk, _terminal)
    assert done.state == JobState.FAILED
    assert done.error == "the worker running it was lost 1 times; giving up"
    assert not done.output_series.exists()


@contextlib.contextmanager
def _lone_worker() -> Iterator[subprocess.Popen[bytes]]:
    """A second worker that alone consumes the default queue while the block runs."""
    replies = app.control.ping(timeout=2) or []
    session = [name for reply in replies for name in reply if name.startswith(SESSION_WORKER)]
    assert session, "the session worker did not answer"
    app.control.cancel_consumer("default", destination=session, reply=True, timeout=5)
    log_path = Path(settings.VAR_DIR) / "test-lone-worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_test_db(),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "platform"), str(REPO_ROOT)]),
    }
    name = f"lone-worker@{socket.gethostname()}"
    with open(log_path, "wb") as log:
        worker_process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
             "-Q", "default", f"--hostname={name}", "--without-mingle", "--without-gossip",
             "--loglevel=INFO"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while not app.control.ping(destination=[name], timeout=1):
                alive = worker_process.poll() is None
                assert alive and time.monotonic() < deadline, log_path.read_text()
            yield worker_process
        finally:
            if worker_process.poll() is None:
                worker_process.kill()
            worker_process.wait(timeout=30)
            app.control.add_consumer("default", destination=session, reply=True, timeout=5)


def test_a_worker_killed_outright_leaves_a_job_the_reaper_requeues(
    celery_worker_process: subprocess.Popen[bytes],
    cervical_case: Case,
    pseudomri_model: ModelVersion,
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    with _lone_worker() as lone:
        job = jobs.job_create(
            actor=None,
            case=cervical_case,
            source_series=ct,
            task="pseudomri",
            parameters={"steps": 20},
        )
        running = _wait(job.pk, _sampling, timeout=120)
        assert _pid(running) == lone.pid  # solo pool: the job runs in the main process
        lone.send_signal(signal.SIGKILL)
        lone.wait(timeout=30)
        # Nothing redelivers the message now: the job stays RUNNING until the reaper sees
        # that the process holding it is gone.
        assert InferenceJob.objects.get(pk=job.pk).state == JobState.RUNNING
        assert worker.jobs_reap_stale() == [job.pk]
        assert InferenceJob.objects.get(pk=job.pk).state == JobState.PENDING
    # The session worker consumes the default queue again and runs the requeued job.
    done = _wait(job.pk, _terminal)
    assert done.state == JobState.SUCCEEDED, done.error
    assert done.attempts == 2 and "queued again" in done.log
    assert celery_worker_process.poll() is None


def test_a_stable_diffusion_pipeline_job_runs_in_the_worker(
    celery_worker_process: subprocess.Popen[bytes],
    cervical_case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from django.core.management import call_command

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipeline = write_tiny_sd_pipeline(tmp_path)
    call_command(
        "register_model", str(pipeline), "--task", "pseudomri", "--name", "sd-worker",
        "--model-version", "1", "--strength", "1.0", "--steps", "2", "--resolution", "64",
        stdout=io.StringIO(),
    )  # fmt: skip
    model = ModelVersion.objects.get(name="sd-worker")
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(
        actor=None, case=cervical_case, source_series=ct, model_version=model,
        parameters={"seed": 1},
    )  # fmt: skip
    job = _wait(job.pk, _terminal)
    assert job.state == JobState.SUCCEEDED, (job.error, job.log)
    assert _pid(job) != os.getpid()  # it ran in the worker
    mr = job.output_series.get()
    assert (mr.modality, mr.role) == ("MR", SeriesRole.PSEUDO_MRI)
    assert mr.description.startswith("SYNTHETIC")
    assert mr.frame_of_reference_uid == ct.frame_of_reference_uid
    assert mr.instances.count() == ct.instances.count()
