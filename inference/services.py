"""Business operations of the model registry and of inference jobs.

Views, the API, Celery tasks and management commands all call these functions. A job's row is
its only state: a worker claims it by counting an attempt, writes progress only while the job
is RUNNING under that attempt (so cancelling, or a takeover after a lost worker, wins over a
late writer), and stores its outputs in the same transaction that marks it SUCCEEDED.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_event_record
from cases.models import Case, Series, SeriesRole
from cases.services import CaseError, derived_instance_store
from inference.errors import (
    InferenceError,
    JobConflict,
    JobInputError,
    JobStopped,
    ModelLoadError,
)
from inference.models import (
    TERMINAL_STATES,
    DeviceRequirement,
    InferenceJob,
    JobState,
    ModelBackend,
    ModelTask,
    ModelVersion,
)

log = logging.getLogger(__name__)

#: The backend that runs the checkpoints of each task.
TASK_BACKENDS = {
    ModelTask.NCCTM: ModelBackend.NCCTM_UNET,
    ModelTask.PSEUDO_MRI: ModelBackend.PSEUDOMRI_DDIM,
}
#: Series roles a model may read: acquired CT, never a derived output (a mask is stored as CT).
INPUT_ROLES = frozenset({SeriesRole.CT, SeriesRole.DECT_MIXED, SeriesRole.OTHER})
#: Largest number of DDIM steps a job may ask for.
MAX_SAMPLING_STEPS = 1000


# --- model registry -------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"


def _sha256_file(path: Path) -> str:
    """The digest of a checkpoint file, or of a model folder's manifest (diffusers pipeline).

    Raises:
        CheckpointError: If a folder is empty or holds a symbolic link.
    """
    from inference.common.checkpoints import sha256_file, sha256_tree

    return sha256_tree(path) if path.is_dir() else sha256_file(path)


def _copy_into_models_dir(source: Path, *, task: str, name: str, version: str, sha: str) -> Path:
    """Copy a checkpoint file or folder under SAGITTAL_MODELS_DIR (atomically).

    Returns:
        Its path relative to SAGITTAL_MODELS_DIR.
    """
    root = Path(settings.SAGITTAL_MODELS_DIR)
    suffix = "" if source.is_dir() else ".pt"
    relative = Path(task) / f"{_slug(name)}-{_slug(version)}-{sha[:12]}{suffix}"
    target = root / relative
    if source.resolve() == target.resolve():
        return relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        # Copy beside the target and rename: a reader never sees a half-copied folder.
        tmp_dir = tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            shutil.copytree(source, Path(tmp_dir) / "pipeline")
            if target.exists():
                shutil.rmtree(target)
            os.replace(Path(tmp_dir) / "pipeline", target)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        return relative
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return relative


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _json_safe(value: Any) -> Any:
    """Plain JSON: non-finite numbers (undefined metrics) become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def model_version_register(
    *,
    actor: User | None,
    task: ModelTask | str,
    name: str,
    version: str,
    checkpoint: Path,
    device: DeviceRequirement | str = DeviceRequirement.CPU,
    description: str = "",
    training_data: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    activate: bool = False,
    settings_: dict[str, Any] | None = None,
) -> ModelVersion:
    """Verify a checkpoint, copy it into the models directory and register it.

    The checkpoint is loaded once, as a job would load it, before anything is recorded: a
    file that is not a model of ``task`` is refused here, not in a coordinator's job.

    A folder is a fine-tuned Stable Diffusion img2img pipeline in diffusers format (pseudo-MRI
    only): its sha256 is that of the sorted manifest of its files' relative paths and sha256s,
    checked again on every load, and ``settings_`` (prompt, strength, steps, guidance_scale,
    resolution, window, intensity_scale; see ``StableDiffusionSettings``) become its config.

    Args:
        actor: Who registers it (``None`` for commands and the demo).
        task: The task the model does.
        name: Model name (e.g. ``"ncctm-unet"``).
        version: Version, unique per task and name.
        checkpoint: The checkpoint file written by the training commands.
        device: Whether jobs need a GPU worker.
        description: Free text for the model card.
        training_data: What it was trained on (defaults to the checkpoint's metadata).
        metrics: Its evaluation (defaults to the checkpoint's metadata).
        activate: Make it the active model of its task.
        settings_: Settings of a Stable Diffusion pipeline (defaults where not given).

    Raises:
        InferenceError: If the version exists, the checkpoint does not load, or settings are
            given for a checkpoint that takes none.
    """
    from inference.common.checkpoints import CheckpointError
    from inference.runners import checkpoint_inspect

    task = ModelTask(task)
    device = DeviceRequirement(device)
    name, version = name.strip(), version.strip()
    if not name or not version:
        raise InferenceError("a model needs a name and a version")
    if ModelVersion.objects.filter(task=task, name=name, version=version).exists():
        raise InferenceError(f"{task.label} model {name} {version} is already registered")
    source = Path(checkpoint)
    if not source.is_file() and not source.is_dir():
        raise InferenceError(f"checkpoint {source} does not exist")
    if source.is_dir():
        if task != ModelTask.PSEUDO_MRI:
            raise InferenceError(
                f"a folder is registered as a Stable Diffusion pipeline, which is not a "
                f"{task.label} model; give a checkpoint file of train_ncctm"
            )
        backend = ModelBackend.PSEUDOMRI_SD
    else:
        if settings_:
            raise InferenceError("settings are for Stable Diffusion pipeline folders only")
        backend = TASK_BACKENDS[task]
    try:
        sha = _sha256_file(source)
        info = checkpoint_inspect(backend=backend, path=source, sha256=sha, settings=settings_)
    except CheckpointError as exc:
        raise InferenceError(f"the checkpoint is not a usable {task.label} model: {exc}") from exc
    except ModelLoadError as exc:
        raise InferenceError(f"the checkpoint is not a usable {task.label} model: {exc}") from exc
    relative = _copy_into_models_dir(source, task=task, name=name, version=version, sha=sha)
    stored = Path(settings.SAGITTAL_MODELS_DIR) / relative
    if _sha256_file(stored) != sha:
        raise InferenceError(f"copying the checkpoint to {stored} changed it; nothing registered")
    with transaction.atomic():
        model_version = ModelVersion.objects.create(
            task=task,
            backend=backend,
            name=name,
            version=version,
            description=description,
            checkpoint=str(relative),
            sha256=sha,
            size_bytes=_size(stored),
            config=_json_safe(info.config),
            training_data=_json_safe(
                info.metadata.get("training_data", {}) if training_data is None else training_data
            ),
            metrics=_json_safe(info.metadata.get("metrics", {}) if metrics is None else metrics),
            device=device,
            created_by=actor,
        )
        audit_event_record(
            actor=actor,
            verb="model_version.register",
            obj=model_version,
            after={
                "task": task.value,
                "name": name,
                "version": version,
                "sha256": sha,
                "device": device.value,
            },
        )
        if activate:
            model_version_activate(actor=actor, model_version=model_version)
    return model_version


def model_version_activate(*, actor: User | None, model_version: ModelVersion) -> ModelVersion:
    """Make ``model_version`` the one active model of its task (audited).

    Its checkpoint is checked first (present, sha256 as registered): activating a model that
    cannot load would only move the failure into every job.

    Raises:
        InferenceError: If the checkpoint is missing or was modified.
    """
    from inference.common.checkpoints import CheckpointError

    path = model_version.checkpoint_path
    if not path.is_file() and not path.is_dir():
        raise InferenceError(f"the checkpoint of {model_version} is missing ({path})")
    try:
        actual = _sha256_file(path)
    except CheckpointError as exc:
        raise InferenceError(f"the checkpoint of {model_version} is unusable: {exc}") from exc
    if actual != model_version.sha256:
        raise InferenceError(
            f"the checkpoint of {model_version} failed its sha256 check: it was modified "
            "after registration; refusing to activate it"
        )
    with transaction.atomic():
        versions = list(
            ModelVersion.objects.select_for_update().filter(task=model_version.task).order_by("pk")
        )
        previous = next((v for v in versions if v.is_active), None)
        if previous is not None and previous.pk == model_version.pk:
            return previous
        if previous is not None:
            # Deactivate first: at most one active row per task is a database constraint.
            ModelVersion.objects.filter(pk=previous.pk).update(is_active=False)
        ModelVersion.objects.filter(pk=model_version.pk).update(is_active=True)
        model_version.is_active = True
        audit_event_record(
            actor=actor,
            verb="model_version.activate",
            obj=model_version,
            before={"active": str(previous.pk) if previous else None},
            after={"active": str(model_version.pk)},
        )
    return model_version


# --- jobs: creating and cancelling ----------------------------------------------------------------


def _whole_number(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InferenceError(f"{key} must be a whole number")
    try:
        number = int(value)
    except ValueError as exc:
        raise InferenceError(f"{key} must be a whole number") from exc
    if not low <= number <= high:
        raise InferenceError(f"{key} must lie between {low} and {high}")
    return number


def _clean_parameters(
    model_version: ModelVersion, parameters: dict[str, Any] | None
) -> dict[str, Any]:
    """Validate a job's parameters against what its model's backend takes.

    NC-CTM takes none; the DDIM backend ``steps`` and ``seed``; a Stable Diffusion pipeline
    also ``prompt`` and ``strength``, checked together with its registered settings.
    """
    given = {k: v for k, v in dict(parameters or {}).items() if v not in (None, "")}
    backend = model_version.backend
    allowed: set[str] = {
        ModelBackend.NCCTM_UNET: set[str](),
        ModelBackend.PSEUDOMRI_DDIM: {"steps", "seed"},
        ModelBackend.PSEUDOMRI_SD: {"steps", "seed", "prompt", "strength"},
    }.get(ModelBackend(backend), set())
    unknown = sorted(set(given) - allowed)
    if unknown:
        label = ModelTask(model_version.task).label
        raise InferenceError(f"unknown parameters for {label}: {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    for key, low, high in (("steps", 1, MAX_SAMPLING_STEPS), ("seed", 0, 2**31 - 1)):
        if key in given:
            clean[key] = _whole_number(key, given[key], low, high)
    if "prompt" in given:
        if not isinstance(given["prompt"], str):
            raise InferenceError("prompt must be text")
        clean["prompt"] = given["prompt"].strip()
    if "strength" in given:
        value = given["strength"]
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InferenceError("strength must be a number")
        try:
            clean["strength"] = float(value)
        except (OverflowError, ValueError) as exc:  # OverflowError: an int beyond a float
            raise InferenceError("strength must be a number") from exc
    if backend == ModelBackend.PSEUDOMRI_SD:
        from inference.pseudomri.sd_backend import check_generation

        registered = model_version.config
        try:
            check_generation(
                clean.get("prompt", registered.get("prompt", "")),
                clean.get("strength", registered.get("strength", 0.0)),
                clean.get("steps", registered.get("steps", 0)),
            )
        except ValueError as exc:
            raise InferenceError(str(exc)) from exc
    return clean


def _enqueue_on_commit(job_id: uuid.UUID, queue: str, *, countdown: float = 0) -> None:
    from inference.tasks import run_inference_job

    transaction.on_commit(
        lambda: run_inference_job.apply_async(args=(str(job_id),), queue=queue, countdown=countdown)
    )


def job_create(
    *,
    actor: User | None,
    case: Case,
    source_series: Series,
    task: ModelTask | str | None = None,
    model_version: ModelVersion | None = None,
    parameters: dict[str, Any] | None = None,
    enqueue: bool = True,
) -> InferenceJob:
    """Queue a model run on a series of a case; a worker picks it up after the commit.

    Args:
        actor: Who started it.
        case: The case; ``source_series`` must belong to it.
        source_series: The CT series to run on.
        task: The task, whose active model runs, when ``model_version`` is not given.
        model_version: A specific registered model.
        parameters: Task options (pseudo-MRI: ``steps``, ``seed``).
        enqueue: Send it to the workers (``False``: the caller runs it with ``job_run``).

    Raises:
        InferenceError: If the series, model or parameters do not fit, or no model is active.
        JobConflict: If a job of this model on this series is already queued or running.
    """
    if model_version is None:
        if task is None:
            raise InferenceError("choose a model or a task")
        task = ModelTask(task)
        model_version = ModelVersion.objects.filter(task=task, is_active=True).first()
        if model_version is None:
            raise InferenceError(
                f"no {task.label} model is active: train one (manage.py train_ncctm or "
                "train_pseudomri) or register and activate one"
            )
    elif task is not None and ModelTask(task) != model_version.task:
        raise InferenceError(f"{model_version} is not a {ModelTask(task).label} model")
    task = ModelTask(model_version.task)
    if source_series.study.case_id != case.pk:
        raise InferenceError("the series does not belong to this case")
    if source_series.modality != "CT" or source_series.role not in INPUT_ROLES:
        raise InferenceError(
            f"{task.label} needs an acquired CT series; series "
            f"{source_series.series_number or source_series.series_instance_uid} is "
            f"{source_series.modality} ({source_series.get_role_display()})"
        )
    clean = _clean_parameters(model_version, parameters)
    with transaction.atomic():
        busy = InferenceJob.objects.filter(
            source_series=source_series,
            model_version=model_version,
            state__in=(JobState.PENDING, JobState.RUNNING),
        )
        if busy.exists():
            raise JobConflict("a job of this model on this series is already queued or running")
        job = InferenceJob.objects.create(
            case=case,
            source_series=source_series,
            model_version=model_version,
            parameters=clean,
            max_attempts=settings.INFERENCE_MAX_ATTEMPTS,
            created_by=actor,
            message="Waiting for a worker",
        )
        audit_event_record(
            actor=actor,
            verb="inference_job.create",
            obj=job,
            after={
                "case": case.label,
                "source_series": source_series.series_instance_uid,
                "model_version": str(model_version.pk),
                "model": f"{model_version.name} {model_version.version}",
                "parameters": clean,
            },
        )
        if enqueue:
            _enqueue_on_commit(job.pk, model_version.queue)
    return job


def job_cancel(*, actor: User | None, job: InferenceJob, reason: str = "") -> InferenceJob:
    """Cancel a queued or running job (audited).

    A running worker notices at its next progress report or heartbeat and stops; its
    outputs are never stored, because storing them requires the job still to be RUNNING.

    Raises:
        JobConflict: If the job has already finished.
    """
    with transaction.atomic():
        locked = InferenceJob.objects.select_for_update().get(pk=job.pk)
        if locked.state in TERMINAL_STATES:
            raise JobConflict(f"the job has already finished ({locked.get_state_display()})")
        before = locked.state
        now = timezone.now()
        locked.state = JobState.CANCELLED
        locked.finished_at = now
        who = actor.get_username() if actor is not None else "the system"
        locked.message = f"Cancelled by {who}"
        locked.log += f"{now:%Y-%m-%d %H:%M:%S} cancelled by {who}\n"
        locked.save(update_fields=["state", "finished_at", "message", "log"])
        audit_event_record(
            actor=actor,
            verb="inference_job.cancel",
            obj=locked,
            before={"state": before},
            after={"state": locked.state},
            reason=reason,
        )
    return locked


# --- jobs: running (in a worker) ------------------------------------------------------------------


def _worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _owner_lost(job: InferenceJob, now: dt.datetime) -> bool:
    """Whether the worker that claimed a RUNNING job is gone.

    Its heartbeat is too old, or it ran on this host in a process that no longer exists (a
    child killed by the OOM killer: the redelivered task can take over at once instead of
    waiting for the heartbeat to go stale).
    """
    stale = now - dt.timedelta(seconds=settings.INFERENCE_STALE_AFTER_SECONDS)
    if job.heartbeat_at is None or job.heartbeat_at < stale:
        return True
    host, _, pid = job.worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid():
        return not _pid_alive(int(pid))
    return False


def _stamp(now: dt.datetime, text: str) -> str:
    return f"{now:%Y-%m-%d %H:%M:%S} {text}\n"


def _job_claim(*, job_id: uuid.UUID | str) -> tuple[InferenceJob, int] | None:
    """Take a job for this worker: count an attempt and mark it RUNNING.

    Returns ``None`` when there is nothing to do: the job is gone, finished, or running in a
    live worker (a duplicate delivery).
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            job = (
                InferenceJob.objects.select_for_update(nowait=True, of=("self",))
                .select_related("model_version", "source_series__study", "case")
                .filter(pk=job_id)
                .first()
            )
            if job is None or job.state in TERMINAL_STATES:
                return None
            lost = job.state == JobState.RUNNING
            if lost and not _owner_lost(job, now):
                return None
            if job.attempts >= job.max_attempts:
                reason = (
                    f"the worker running it was lost {job.attempts} times; giving up"
                    if lost
                    else f"no attempts left ({job.attempts} of {job.max_attempts} made)"
                )
                _job_fail_locked(job, now=now, reason=reason)
                return None
            job.attempts += 1
            job.state = JobState.RUNNING
            job.started_at = now
            job.heartbeat_at = now
            job.worker = _worker_identity()
            job.progress = 0
            job.message = f"Started (attempt {job.attempts} of {job.max_attempts})"
            job.error = ""
            job.log += _stamp(
                now,
                f"attempt {job.attempts} of {job.max_attempts} on {job.worker}"
                + (" (the previous worker was lost)" if lost else ""),
            )
            job.save()
    except DatabaseError:
        # nowait: another worker holds the row right now, i.e. is claiming it.
        log.info("job %s is being claimed by another worker", job_id)
        return None
    return job, job.attempts


def _job_fail_locked(job: InferenceJob, *, now: dt.datetime, reason: str) -> None:
    job.state = JobState.FAILED
    job.error = reason
    job.message = "Failed"
    job.finished_at = now
    job.log += _stamp(now, f"failed: {reason}")
    job.save()
    audit_event_record(
        actor=None,
        verb="inference_job.fail",
        obj=job,
        before={"state": JobState.RUNNING},
        after={"state": JobState.FAILED, "error": reason[:500]},
    )


def _job_fail(*, job_id: uuid.UUID, attempt: int, reason: str, retry: bool) -> None:
    """End this attempt: retry later if allowed and attempts remain, else FAILED."""
    now = timezone.now()
    with transaction.atomic():
        job = (
            InferenceJob.objects.select_for_update().select_related("model_version").get(pk=job_id)
        )
        if job.state != JobState.RUNNING or job.attempts != attempt:
            return  # cancelled or taken over meanwhile: not ours to record
        if retry and job.attempts < job.max_attempts:
            delay = min(60, 5 * 2 ** (job.attempts - 1))
            job.state = JobState.PENDING
            job.message = f"Attempt {job.attempts} failed; retrying in {delay} s"
            job.log += _stamp(now, f"attempt {job.attempts} failed: {reason}")
            job.save()
            _enqueue_on_commit(job.pk, job.model_version.queue, countdown=delay)
            return
        _job_fail_locked(job, now=now, reason=reason)


class _Heartbeat(threading.Thread):
    """Writes the job's heartbeat while the model works; notices cancellation and takeover."""

    def __init__(self, job_id: uuid.UUID, attempt: int) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id, self.attempt = job_id, attempt
        self.lost = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.wait(settings.INFERENCE_HEARTBEAT_SECONDS):
                try:
                    beating = InferenceJob.objects.filter(
                        pk=self.job_id, state=JobState.RUNNING, attempts=self.attempt
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:
                    log.warning("heartbeat of job %s not written", self.job_id, exc_info=True)
                    continue
                if not beating:
                    self.lost.set()
                    return
        finally:
            connection.close()  # this thread's own connection

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)


class _Reporter:
    """Progress of one attempt, written to the job row only while the attempt is current."""

    def __init__(self, job: InferenceJob, attempt: int, lost: threading.Event) -> None:
        self.job_id, self.attempt, self._lost = job.pk, attempt, lost
        self.log = job.log
        self._last = (-1, "")

    def stage(self, percent: int, message: str) -> None:
        """A step of the job, logged."""
        self.log += _stamp(timezone.now(), message)
        self.progress(percent, message, force=True)

    def progress(self, percent: int, message: str, *, force: bool = False) -> None:
        """Report progress; raise ``JobStopped`` if the job was cancelled or taken over."""
        if self._lost.is_set():
            raise JobStopped
        percent = max(0, min(99, int(percent)))
        if not force and (percent, message) == self._last:
            return
        self._last = (percent, message)
        updated = InferenceJob.objects.filter(
            pk=self.job_id, state=JobState.RUNNING, attempts=self.attempt
        ).update(progress=percent, message=message[:300], heartbeat_at=timezone.now(), log=self.log)
        if not updated:
            raise JobStopped


def _outputs(job: InferenceJob, volume: Any, result: Any) -> list[tuple[SeriesRole, list[Any]]]:
    from inference import dicom_outputs
    from inference.dicom_outputs import Provenance

    model = job.model_version
    provenance = Provenance(
        job_id=str(job.pk),
        task=model.task,
        model_name=model.name,
        model_version=model.version,
        model_sha256=model.sha256,
        source_series_uid=job.source_series.series_instance_uid,
        created=timezone.now(),
    )
    if model.task == ModelTask.PSEUDO_MRI:
        return [
            (
                SeriesRole.PSEUDO_MRI,
                dicom_outputs.pseudo_mri_datasets(volume, result, provenance=provenance),
            )
        ]
    structures = tuple(model.config.get("structures", ("dural_canal", "nerve_roots")))
    seg = dicom_outputs.ncctm_segmentation(
        volume, result, provenance=provenance, structures=structures
    )
    masks = dicom_outputs.ncctm_mask_datasets(
        volume, result, provenance=provenance, structures=structures
    )
    return [(SeriesRole.NCCTM_MASK, [seg]), (SeriesRole.NCCTM_MASK, masks)]


def _job_complete(
    *,
    job_id: uuid.UUID,
    attempt: int,
    outputs: list[tuple[SeriesRole, list[Any]]],
    reporter: _Reporter,
    timings: dict[str, float],
    device: str,
) -> None:
    """Store the outputs and mark the job SUCCEEDED, in one transaction."""
    now = timezone.now()
    with transaction.atomic():
        job = (
            InferenceJob.objects.select_for_update(of=("self",))
            .select_related("case", "source_series__study", "model_version")
            .get(pk=job_id)
        )
        if job.state != JobState.RUNNING or job.attempts != attempt:
            raise JobStopped
        model = job.model_version
        provenance = {
            "job": str(job.pk),
            "task": model.task,
            "model_version": str(model.pk),
            "model": f"{model.name} {model.version}",
            "model_sha256": model.sha256,
            "source_series_uid": job.source_series.series_instance_uid,
        }
        series_uids: list[str] = []
        stored = 0
        start = time.perf_counter()
        for role, datasets in outputs:
            for dataset in datasets:
                outcome = derived_instance_store(
                    dataset=dataset,
                    case=job.case,
                    source_series=job.source_series,
                    role=role,
                    provenance=provenance,
                )
                stored += outcome.status == "stored"
                if outcome.series_instance_uid not in series_uids:
                    series_uids.append(outcome.series_instance_uid)
        job.output_series.set(Series.objects.filter(series_instance_uid__in=series_uids))
        timings = {**timings, "store_outputs_s": round(time.perf_counter() - start, 3)}
        job.state = JobState.SUCCEEDED
        job.progress = 100
        job.message = f"Done: {len(series_uids)} output series"
        job.finished_at = now
        job.heartbeat_at = now
        job.timings = timings
        job.device = device
        job.log = reporter.log + _stamp(
            now, f"stored {stored} new instances in {len(series_uids)} series"
        )
        job.save()
        audit_event_record(
            actor=None,
            verb="inference_job.succeed",
            obj=job,
            before={"state": JobState.RUNNING},
            after={"state": JobState.SUCCEEDED, "output_series": series_uids},
        )


def _job_execute(job: InferenceJob, attempt: int, reporter: _Reporter) -> None:
    from inference.runners import runner_for
    from inference.series_io import load_ct_volume

    timings: dict[str, float] = {}

    def timed(name: str, start: float) -> None:
        timings[name] = round(time.perf_counter() - start, 3)

    start = time.perf_counter()
    reporter.stage(5, "Reading the CT series")
    volume = load_ct_volume(job.source_series)
    timed("read_input_s", start)
    start = time.perf_counter()
    model = job.model_version
    reporter.stage(15, f"Loading the model {model.name} {model.version}")
    runner = runner_for(model)
    timed("load_model_s", start)
    start = time.perf_counter()
    slices = volume.hu.shape[0]
    if model.task == ModelTask.PSEUDO_MRI:
        reporter.stage(20, f"Generating {slices} pseudo-MRI slices")
        label = "pseudo-MRI slices"
    else:
        reporter.stage(20, f"Segmenting {slices} slices")
        label = "volumes segmented"

    def progress(done: int, total: int) -> None:
        reporter.progress(20 + 65 * done // max(total, 1), f"{done} of {total} {label}")

    result = runner.run(volume, parameters=job.parameters, progress=progress)
    timed("inference_s", start)
    start = time.perf_counter()
    reporter.stage(88, "Writing DICOM outputs")
    outputs = _outputs(job, volume, result)
    reporter.stage(94, "Storing the output series")
    timed("write_outputs_s", start)
    _job_complete(
        job_id=job.pk,
        attempt=attempt,
        outputs=outputs,
        reporter=reporter,
        timings=timings,
        device=str(runner.device),
    )


def job_run(*, job_id: uuid.UUID | str, heartbeat: bool = True) -> None:
    """Run a job in this process: claim it, run the model, store the outputs (idempotent).

    Called by the Celery task. A job already finished, or running in a live worker, is left
    alone. Bad input or a refused checkpoint fails the job at once with the reason; an
    unexpected error is retried until ``max_attempts`` claims were made.

    Args:
        job_id: The job.
        heartbeat: Write heartbeats from a thread while the model works (workers). A run in
            the foreground of a command (the demo) reports through its progress writes only.
    """
    claim = _job_claim(job_id=job_id)
    if claim is None:
        return
    job, attempt = claim
    beating = _Heartbeat(job.pk, attempt)
    if heartbeat:
        beating.start()
    reporter = _Reporter(job, attempt, beating.lost)
    try:
        _job_execute(job, attempt, reporter)
    except JobStopped:
        log.info("job %s stopped: cancelled or taken over", job.pk)
    except (JobInputError, CaseError) as exc:
        _job_fail(job_id=job.pk, attempt=attempt, reason=str(exc), retry=False)
    except SoftTimeLimitExceeded:
        _job_fail(
            job_id=job.pk,
            attempt=attempt,
            reason=f"the job ran past its time limit of {settings.CELERY_TASK_SOFT_TIME_LIMIT} s",
            retry=False,
        )
    except Exception as exc:  # anything unexpected: retried, and recorded on the row
        log.exception("job %s attempt %s failed", job.pk, attempt)
        _job_fail(job_id=job.pk, attempt=attempt, reason=f"{type(exc).__name__}: {exc}", retry=True)
    finally:
        if heartbeat:
            beating.stop()


def jobs_reap_stale(*, now: dt.datetime | None = None) -> list[uuid.UUID]:
    """Retry or fail RUNNING jobs whose worker is gone (heartbeat stale or process dead).

    A worker killed outright (SIGKILL, a lost machine) leaves its job RUNNING and, on some
    brokers, its message lost: this puts the job back in the queue while attempts remain, and
    fails it with the reason otherwise. Run by Celery beat, at worker start and by
    ``manage.py reap_inference_jobs``.

    Returns:
        The ids of the jobs it retried or failed.
    """
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=settings.INFERENCE_STALE_AFTER_SECONDS)
    candidates = InferenceJob.objects.filter(state=JobState.RUNNING).filter(
        Q(heartbeat_at__isnull=True)
        | Q(heartbeat_at__lt=stale)
        | Q(worker__startswith=f"{socket.gethostname()}:")
    )
    reaped = []
    for job_id in candidates.values_list("pk", flat=True):
        with transaction.atomic():
            job = (
                InferenceJob.objects.select_for_update(of=("self",))
                .select_related("model_version")
                .get(pk=job_id)
            )
            if job.state != JobState.RUNNING or not _owner_lost(job, now):
                continue
            seen = f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S}" if job.heartbeat_at else "never"
            if job.attempts < job.max_attempts:
                job.state = JobState.PENDING
                job.message = "The worker was lost; the job is queued again"
                job.log += _stamp(
                    now, f"worker {job.worker} lost (last heartbeat {seen}); queued again"
                )
                job.save()
                _enqueue_on_commit(job.pk, job.model_version.queue)
            else:
                _job_fail_locked(
                    job,
                    now=now,
                    reason=(
                        f"the worker running it stopped responding (last heartbeat {seen}) "
                        f"after {job.attempts} of {job.max_attempts} attempts"
                    ),
                )
        reaped.append(job_id)
    return reaped


#: For tests and commands that need to wait on a job's row (never used by views).
JobPredicate = Callable[[InferenceJob], bool]


def job_wait(
    *, job_id: uuid.UUID, timeout: float, until: JobPredicate | None = None
) -> InferenceJob:
    """Poll the row until ``until`` holds (default: a terminal state) or ``timeout`` passes."""
    done = until or (lambda job: job.state in TERMINAL_STATES)
    deadline = time.monotonic() + timeout
    while True:
        job = InferenceJob.objects.get(pk=job_id)
        if done(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.2)
