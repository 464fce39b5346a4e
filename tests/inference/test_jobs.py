"""Inference jobs run in this process: outputs, provenance, failures, cancel, retries, reaper.

The worker-backed tests (a real Celery worker, killed mid-job) are in test_worker.py; here the
same service the task calls (``job_run``) runs in the test process.
"""

from __future__ import annotations

import datetime as dt
import io
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.core.files.storage import storages
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import AuditEvent, User
from cases.models import Case, Instance, Series, SeriesRole
from cases.storage import open_stored
from inference import jobs, registry, worker
from inference.errors import InferenceError, JobConflict, JobStopped
from inference.models import InferenceJob, JobState, ModelTask, ModelVersion
from inference.runners import PseudoMRIRunner
from tests.inference.helpers import series_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_heartbeat_thread_writes(settings: Settings) -> None:
    # The test's transaction is invisible to the heartbeat thread's own connection: it would
    # see no RUNNING row and stop the job. The worker tests cover heartbeats.
    settings.INFERENCE_HEARTBEAT_SECONDS = 3600


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _run(job: InferenceJob) -> InferenceJob:
    worker.job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _stored(instance: Instance) -> pydicom.Dataset:
    with open_stored(instance.storage_key) as handle:
        return pydicom.dcmread(io.BytesIO(handle.read()))


def test_a_fresh_install_has_no_active_model_and_refuses_jobs(lumbar_case: Case) -> None:
    ct = series_of(lumbar_case, SeriesRole.DECT_MIXED)
    with pytest.raises(InferenceError, match=r"no NC-CTM .* model is active"):
        jobs.job_create(actor=None, case=lumbar_case, source_series=ct, task="ncctm")
    assert not InferenceJob.objects.exists()


def test_ncctm_job_stores_a_seg_and_a_mask_series_with_provenance(
    lumbar_case: Case, ncctm_model: ModelVersion, coordinator: User
) -> None:
    ct = series_of(lumbar_case, SeriesRole.DECT_MIXED)
    job = jobs.job_create(
        actor=coordinator, case=lumbar_case, source_series=ct, task=ModelTask.NCCTM
    )
    assert (job.state, job.progress, job.attempts) == (JobState.PENDING, 0, 0)
    job = _run(job)
    assert job.state == JobState.SUCCEEDED, job.error
    assert (job.progress, job.attempts, job.device) == (100, 1, "cpu")
    assert set(job.timings) == {
        "read_input_s", "load_model_s", "inference_s", "write_outputs_s", "store_outputs_s"
    }  # fmt: skip
    assert "Segmenting 16 slices" in job.log and job.finished_at is not None

    outputs = {series.modality: series for series in job.output_series.all()}
    assert set(outputs) == {"SEG", "CT"}
    slices = ct.instances.count()
    for series in outputs.values():
        assert series.role == SeriesRole.NCCTM_MASK
        assert series.source_series == ct
        assert series.study == ct.study
        assert series.frame_of_reference_uid == ct.frame_of_reference_uid
        assert series.provenance["job"] == str(job.pk)
        assert series.provenance["model_sha256"] == ncctm_model.sha256
        assert series.provenance["source_series_uid"] == ct.series_instance_uid
    assert outputs["CT"].instances.count() == slices
    seg = outputs["SEG"].instances.get()
    assert seg.number_of_frames == 2 * slices
    # The mask slices sit where their CT slices sit.
    ct_positions = {i.instance_number: _stored(i).ImagePositionPatient for i in ct.instances.all()}
    for instance in outputs["CT"].instances.all():
        assert _stored(instance).ImagePositionPatient == ct_positions[instance.instance_number]
    verbs = set(AuditEvent.objects.filter(object_id=str(job.pk)).values_list("verb", flat=True))
    assert verbs == {"inference_job.create", "inference_job.succeed"}


def test_pseudo_mri_job_makes_a_synthetic_mr_series_on_the_ct_grid(
    cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(
        actor=None,
        case=cervical_case,
        source_series=ct,
        task=ModelTask.PSEUDO_MRI,
        parameters={"steps": 2, "seed": "3"},
    )
    assert job.parameters == {"steps": 2, "seed": 3}
    job = _run(job)
    assert job.state == JobState.SUCCEEDED, job.error
    mr = job.output_series.get()
    assert (mr.modality, mr.role, mr.source_series) == ("MR", SeriesRole.PSEUDO_MRI, ct)
    assert mr.description.startswith("SYNTHETIC")
    assert mr.frame_of_reference_uid == ct.frame_of_reference_uid
    assert mr.instances.count() == ct.instances.count()
    first = _stored(mr.instances.order_by("instance_number").first())  # type: ignore[arg-type]
    source = _stored(ct.instances.order_by("instance_number").first())  # type: ignore[arg-type]
    assert first.ImagePositionPatient == source.ImagePositionPatient
    assert first.PixelSpacing == source.PixelSpacing
    assert list(first.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert "pseudomri-tiny 1" in first.DerivationDescription


def test_a_finished_job_delivered_again_or_rerun_adds_nothing(
    lumbar_case: Case, ncctm_model: ModelVersion
) -> None:
    ct = series_of(lumbar_case, SeriesRole.DECT_MIXED)
    job = _run(jobs.job_create(actor=None, case=lumbar_case, source_series=ct, task="ncctm"))
    assert job.state == JobState.SUCCEEDED
    counts = (Series.objects.count(), Instance.objects.count())
    outputs = set(job.output_series.values_list("pk", flat=True))

    job = _run(job)  # a duplicate message: the finished job is skipped
    assert job.attempts == 1

    # Forced to run again (e.g. put back by hand): the same UIDs, nothing new stored.
    InferenceJob.objects.filter(pk=job.pk).update(state=JobState.PENDING)
    job = _run(job)
    assert job.state == JobState.SUCCEEDED and job.attempts == 2
    assert (Series.objects.count(), Instance.objects.count()) == counts
    assert set(job.output_series.values_list("pk", flat=True)) == outputs
    assert "stored 0 new instances" in job.log


def test_wrong_inputs_and_parameters_are_refused_at_creation(
    cervical_case: Case, lumbar_case: Case, pseudomri_model: ModelVersion
) -> None:
    mri = series_of(cervical_case, SeriesRole.MRI_T2)
    with pytest.raises(InferenceError, match="needs an acquired CT series"):
        jobs.job_create(actor=None, case=cervical_case, source_series=mri, task="pseudomri")
    ct = series_of(cervical_case, SeriesRole.CT)
    other_case_ct = series_of(lumbar_case, SeriesRole.DECT_MIXED)
    with pytest.raises(InferenceError, match="does not belong to this case"):
        jobs.job_create(
            actor=None, case=cervical_case, source_series=other_case_ct, task="pseudomri"
        )
    for parameters, message in (
        ({"steps": 0}, "between 1 and 1000"),
        ({"steps": "many"}, "whole number"),
        ({"steps": 2.5}, "whole number"),
        ({"steps": True}, "whole number"),
        ({"guidance": 7}, "unknown parameters"),
    ):
        with pytest.raises(InferenceError, match=message):
            jobs.job_create(
                actor=None,
                case=cervical_case,
                source_series=ct,
                task="pseudomri",
                parameters=parameters,
            )
    with pytest.raises(InferenceError, match="is not a NC-CTM"):
        jobs.job_create(
            actor=None,
            case=cervical_case,
            source_series=ct,
            task="ncctm",
            model_version=pseudomri_model,
        )
    assert not InferenceJob.objects.exists()


def test_a_derived_series_is_not_a_model_input(
    cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")
    mr = _run(job).output_series.get()
    with pytest.raises(InferenceError, match="needs an acquired CT"):
        jobs.job_create(actor=None, case=cervical_case, source_series=mr, task="pseudomri")


def test_a_second_job_of_a_queued_model_and_series_is_a_conflict(
    cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")
    with pytest.raises(JobConflict, match="already queued or running"):
        jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")


@pytest.mark.usefixtures("private_media")
def test_corrupt_input_fails_the_job_with_a_clear_message(
    lumbar_case: Case, ncctm_model: ModelVersion
) -> None:
    ct = series_of(lumbar_case, SeriesRole.DECT_MIXED)
    job = jobs.job_create(actor=None, case=lumbar_case, source_series=ct, task="ncctm")
    instance = ct.instances.order_by("instance_number")[3]
    Path(storages["default"].path(instance.storage_key)).write_bytes(b"\0" * 128 + b"DICM junk")
    job = _run(job)
    assert job.state == JobState.FAILED
    assert f"instance {instance.sop_instance_uid} is corrupt" in job.error
    assert job.attempts == 1  # bad input is not retried
    assert not job.output_series.exists()


def test_a_series_turned_mr_after_queueing_fails_with_the_reason(
    lumbar_case: Case, ncctm_model: ModelVersion
) -> None:
    ct = series_of(lumbar_case, SeriesRole.DECT_MIXED)
    job = jobs.job_create(actor=None, case=lumbar_case, source_series=ct, task="ncctm")
    Series.objects.filter(pk=ct.pk).update(modality="MR")
    job = _run(job)
    assert job.state == JobState.FAILED
    assert "the model needs a CT series" in job.error and "is MR" in job.error


def test_a_tampered_checkpoint_is_refused(lumbar_case: Case, ncctm_model: ModelVersion) -> None:
    ct = series_of(lumbar_case, SeriesRole.DECT_MIXED)
    job = jobs.job_create(actor=None, case=lumbar_case, source_series=ct, task="ncctm")
    path = ncctm_model.checkpoint_path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    job = _run(job)
    assert job.state == JobState.FAILED
    assert "failed its sha256 check" in job.error and job.attempts == 1
    ModelVersion.objects.filter(pk=ncctm_model.pk).update(is_active=False)
    with pytest.raises(InferenceError, match="sha256"):
        registry.model_version_activate(actor=None, model_version=ncctm_model)
    path.unlink()
    with pytest.raises(InferenceError, match="missing"):
        registry.model_version_activate(actor=None, model_version=ncctm_model)


def test_registration_checks_the_checkpoint_and_copies_it(
    ncctm_checkpoint: Path, pseudomri_checkpoint: Path, settings: Settings
) -> None:
    with pytest.raises(InferenceError, match="not a usable NC-CTM"):
        registry.model_version_register(
            actor=None, task="ncctm", name="wrong", version="1", checkpoint=pseudomri_checkpoint
        )
    with pytest.raises(InferenceError, match="does not exist"):
        registry.model_version_register(
            actor=None, task="ncctm", name="x", version="1", checkpoint=Path("/nonexistent.pt")
        )
    model = registry.model_version_register(
        actor=None, task="ncctm", name="unet", version="2024.1", checkpoint=ncctm_checkpoint
    )
    assert model.checkpoint_path.parent == Path(settings.SAGITTAL_MODELS_DIR) / "ncctm"
    assert model.checkpoint_path.read_bytes() == ncctm_checkpoint.read_bytes()
    model.refresh_from_db()
    assert model.config["channels"] == [4, 8] and model.metrics == {"summary": "untrained"}
    assert not model.is_active  # registering does not activate
    with pytest.raises(InferenceError, match="already registered"):
        registry.model_version_register(
            actor=None, task="ncctm", name="unet", version="2024.1", checkpoint=ncctm_checkpoint
        )
    assert AuditEvent.objects.filter(verb="model_version.register").count() == 1


def test_one_model_is_active_per_task(ncctm_checkpoint: Path, admin_user: User) -> None:
    first, second = (
        registry.model_version_register(
            actor=None, task="ncctm", name="unet", version=v, checkpoint=ncctm_checkpoint
        )
        for v in ("1", "2")
    )
    registry.model_version_activate(actor=admin_user, model_version=first)
    registry.model_version_activate(actor=admin_user, model_version=second)
    active = ModelVersion.objects.filter(task="ncctm", is_active=True)
    assert list(active) == [second]
    event = AuditEvent.objects.get(verb="model_version.activate", object_id=str(second.pk))
    assert event.before == {"active": str(first.pk)} and event.actor == admin_user
    registry.model_version_activate(actor=admin_user, model_version=second)  # no-op
    assert AuditEvent.objects.filter(verb="model_version.activate").count() == 2


def test_a_cancelled_pending_job_never_runs(
    cervical_case: Case, pseudomri_model: ModelVersion, coordinator: User
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")
    jobs.job_cancel(actor=coordinator, job=job, reason="wrong series")
    job = _run(job)
    assert job.state == JobState.CANCELLED and job.attempts == 0
    assert "cancelled by coordinator-persona" in job.log
    event = AuditEvent.objects.get(verb="inference_job.cancel")
    assert event.reason == "wrong series" and event.before == {"state": "PENDING"}
    with pytest.raises(JobConflict, match="already finished"):
        jobs.job_cancel(actor=coordinator, job=job)


def test_cancelling_a_running_job_stops_its_worker_and_stores_nothing(
    cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")
    claim = worker._job_claim(job_id=job.pk)
    assert claim is not None
    running, attempt = claim
    reporter = worker._Reporter(running, attempt, threading.Event())
    reporter.progress(40, "halfway")
    assert InferenceJob.objects.get(pk=job.pk).progress == 40
    jobs.job_cancel(actor=None, job=job)
    with pytest.raises(JobStopped):
        reporter.progress(50, "still going")
    with pytest.raises(JobStopped):
        worker._job_complete(
            job_id=job.pk, attempt=attempt, outputs=[], reporter=reporter, timings={}, device="cpu"
        )
    job.refresh_from_db()
    assert (job.state, job.progress) == (JobState.CANCELLED, 40)


def test_a_duplicate_delivery_leaves_a_job_of_a_live_worker_alone(
    cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")
    assert worker._job_claim(job_id=job.pk) is not None  # this process is the live worker
    job = _run(job)
    assert (job.state, job.attempts) == (JobState.RUNNING, 1)


def test_a_job_of_a_dead_worker_is_taken_over_by_its_redelivery(
    cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")
    assert worker._job_claim(job_id=job.pk) is not None
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    InferenceJob.objects.filter(pk=job.pk).update(worker=dead)  # heartbeat still fresh
    job = _run(job)
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 2), job.error
    assert "attempt 2 of 3" in job.log and "the previous worker was lost" in job.log


def test_a_transient_error_is_retried_then_fails_with_the_reason(
    cervical_case: Case, pseudomri_model: ModelVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CUDA out of memory in the sampler")  # as torch.OutOfMemoryError

    monkeypatch.setattr(PseudoMRIRunner, "run", broken)  # fault injection
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")
    for attempt in (1, 2):
        job = _run(job)
        assert (job.state, job.attempts) == (JobState.PENDING, attempt)
        assert "retrying" in job.message
    job = _run(job)
    assert (job.state, job.attempts) == (JobState.FAILED, 3)
    assert job.error == "RuntimeError: CUDA out of memory in the sampler"
    assert job.log.count("out of memory") == 3


@pytest.mark.parametrize(
    "error",
    [
        ValueError("'' is not a valid SpecificCharacterSetValues"),
        AttributeError("'FileDataset' object has no attribute 'PatientBirthDate'"),
        RuntimeError("mat1 and mat2 shapes cannot be multiplied"),
    ],
)
def test_an_error_that_retrying_cannot_fix_fails_the_job_once(
    cervical_case: Case,
    pseudomri_model: ModelVersion,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(PseudoMRIRunner, "run", broken)  # fault injection
    ct = series_of(cervical_case, SeriesRole.CT)
    job = _run(jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri"))
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert job.error == f"{type(error).__name__}: {error}"


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (OperationalError("server closed the connection unexpectedly"), True),
        (InterfaceError("connection already closed"), True),
        (ConnectionResetError("storage reset the connection"), True),
        (OSError(28, "No space left on device"), True),
        (MemoryError(), True),
        (KeyError("PixelData"), False),
        (ZeroDivisionError(), False),
    ],
)
def test_only_transient_errors_are_retried(error: BaseException, transient: bool) -> None:
    assert worker.error_is_transient(error) is transient


def test_the_reaper_requeues_then_fails_jobs_of_lost_workers(
    cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")
    long_ago = timezone.now() - dt.timedelta(hours=1)
    lost = {"state": JobState.RUNNING, "worker": "gone-host:42", "heartbeat_at": long_ago}
    InferenceJob.objects.filter(pk=job.pk).update(attempts=1, **lost)
    assert worker.jobs_reap_stale() == [job.pk]
    job.refresh_from_db()
    assert (job.state, job.attempts) == (JobState.PENDING, 1)
    assert "queued again" in job.message and "gone-host:42 lost" in job.log

    InferenceJob.objects.filter(pk=job.pk).update(attempts=3, **lost)
    assert worker.jobs_reap_stale() == [job.pk]
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    assert "stopped responding" in job.error and "after 3 of 3 attempts" in job.error

    # A job whose (remote) worker is alive and beating is left alone.
    fresh = {"state": JobState.RUNNING, "worker": "busy-host:7", "heartbeat_at": timezone.now()}
    InferenceJob.objects.filter(pk=job.pk).update(attempts=1, **fresh)
    assert worker.jobs_reap_stale() == []


def test_headers_the_outputs_cannot_carry_fail_the_job_once_with_the_reason(
    cervical_case: Case, pseudomri_model: ModelVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inference import dicom_outputs

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("'' is not a valid SpecificCharacterSetValues")

    monkeypatch.setattr(dicom_outputs, "pseudo_mri_datasets", refused)  # fault injection
    ct = series_of(cervical_case, SeriesRole.CT)
    job = _run(jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri"))
    assert (job.state, job.attempts) == (JobState.FAILED, 1)
    assert "could not be written from this CT's DICOM headers" in job.error
    assert "SpecificCharacterSetValues" in job.error
