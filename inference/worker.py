"""Inference jobs on the worker's side: claim, run, report progress, store outputs, retry, reap.

A worker claims a job by counting an attempt, writes progress only while the job is RUNNING
under that attempt (so cancelling, or a takeover after a lost worker, wins over a late writer),
and stores its outputs in the same transaction that marks it SUCCEEDED. ``inference.tasks``
calls ``job_run`` and ``jobs_reap_stale``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.services import audit_event_record
from cases.errors import CaseError
from cases.ingest import derived_instance_store
from cases.models import Series, SeriesRole
from inference.errors import (
    JobInputError,
    JobStopped,
)
from inference.jobs import job_enqueue_on_commit
from inference.models import (
    TERMINAL_STATES,
    InferenceJob,
    JobState,
    ModelTask,
)

log = logging.getLogger(__name__)


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
            job.message = gettext_noop("Started (attempt %(attempt)s of %(attempts)s)")
            job.message_args = {"attempt": job.attempts, "attempts": job.max_attempts}
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
    job.message, job.message_args = gettext_noop("Failed"), {}
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


def error_is_transient(exc: BaseException) -> bool:
    """Whether another attempt of the same job could succeed where this one failed.

    Lost connections and locks (database, storage, broker), a full disk and memory exhaustion
    (torch's out-of-memory errors are RuntimeErrors that say so) pass; anything else the same
    input and model raise again, so the job fails at once instead of three times.
    """
    if isinstance(exc, (OperationalError, InterfaceError, OSError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


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
            job.message = gettext_noop("Attempt %(attempt)s failed; retrying in %(seconds)s s")
            job.message_args = {"attempt": job.attempts, "seconds": delay}
            job.log += _stamp(now, f"attempt {job.attempts} failed: {reason}")
            job.save()
            job_enqueue_on_commit(job.pk, job.model_version.queue, countdown=delay)
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
        self._last: tuple[int, str, dict[str, object]] = (-1, "", {})

    def stage(self, percent: int, message: str, **args: object) -> None:
        """A step of the job, logged (in English; ``message`` is a msgid, see the model)."""
        self.log += _stamp(timezone.now(), message % args if args else message)
        self.progress(percent, message, force=True, **args)

    def progress(self, percent: int, message: str, *, force: bool = False, **args: object) -> None:
        """Report progress; raise ``JobStopped`` if the job was cancelled or taken over."""
        if self._lost.is_set():
            raise JobStopped
        percent = max(0, min(99, int(percent)))
        if not force and (percent, message, args) == self._last:
            return
        self._last = (percent, message, args)
        updated = InferenceJob.objects.filter(
            pk=self.job_id, state=JobState.RUNNING, attempts=self.attempt
        ).update(
            progress=percent,
            message=message[:300],
            message_args=args,
            heartbeat_at=timezone.now(),
            log=self.log,
        )
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
        job.message = gettext_noop("Done: %(count)s output series")
        job.message_args = {"count": len(series_uids)}
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
    reporter.stage(5, gettext_noop("Reading the CT series"))
    volume = load_ct_volume(job.source_series)
    timed("read_input_s", start)
    start = time.perf_counter()
    model = job.model_version
    reporter.stage(
        15,
        gettext_noop("Loading the model %(name)s %(version)s"),
        name=model.name,
        version=model.version,
    )
    runner = runner_for(model)
    timed("load_model_s", start)
    start = time.perf_counter()
    slices = volume.hu.shape[0]
    if model.task == ModelTask.PSEUDO_MRI:
        reporter.stage(20, gettext_noop("Generating %(slices)s pseudo-MRI slices"), slices=slices)
        label = gettext_noop("%(done)s of %(total)s pseudo-MRI slices")
    else:
        reporter.stage(20, gettext_noop("Segmenting %(slices)s slices"), slices=slices)
        label = gettext_noop("%(done)s of %(total)s volumes segmented")

    def progress(done: int, total: int) -> None:
        reporter.progress(20 + 65 * done // max(total, 1), label, done=done, total=total)

    result = runner.run(volume, parameters=job.parameters, progress=progress)
    timed("inference_s", start)
    start = time.perf_counter()
    reporter.stage(88, gettext_noop("Writing DICOM outputs"))
    try:
        outputs = _outputs(job, volume, result)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # The model ran; what fails here is this CT's headers (pydicom and highdicom check
        # them): the same input fails again, so the job fails once and says why.
        log.exception("job %s: outputs could not be written", job.pk)
        raise JobInputError(
            f"the outputs could not be written from this CT's DICOM headers "
            f"({type(exc).__name__}: {exc}); check the source series' header values"
        ) from exc
    reporter.stage(94, gettext_noop("Storing the output series"))
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
    alone. Bad input, a refused checkpoint or an error that another attempt would raise again
    fails the job at once with the reason; a transient error (``error_is_transient``) is
    retried until ``max_attempts`` claims were made.

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
    except Exception as exc:  # anything unexpected: recorded on the row, retried if transient
        log.exception("job %s attempt %s failed", job.pk, attempt)
        _job_fail(
            job_id=job.pk,
            attempt=attempt,
            reason=f"{type(exc).__name__}: {exc}",
            retry=error_is_transient(exc),
        )
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
                job.message = gettext_noop("The worker was lost; the job is queued again")
                job.message_args = {}
                job.log += _stamp(
                    now, f"worker {job.worker} lost (last heartbeat {seen}); queued again"
                )
                job.save()
                job_enqueue_on_commit(job.pk, job.model_version.queue)
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
