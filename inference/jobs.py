"""Inference jobs from the caller's side: creating (checked inputs and parameters, queued for a
worker once the row is committed), cancelling and waiting.

A job's row is its only state; the worker's side (claiming, progress, outputs, retries, the
reaper) is ``inference.worker``. Jobs reach a worker through the broker by task name
(``RUN_JOB_TASK``), so this module does not import the Celery tasks that call the worker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import User
from accounts.services import audit_event_record
from cases.models import Case, Series, SeriesRole
from inference.errors import (
    InferenceError,
    JobConflict,
)
from inference.models import (
    TERMINAL_STATES,
    InferenceJob,
    JobState,
    ModelBackend,
    ModelTask,
    ModelVersion,
)

#: The Celery task (``inference.tasks.run_inference_job``) that runs a job in a worker.
RUN_JOB_TASK = "inference.run_job"
#: Series roles a model may read: acquired CT, never a derived output (a mask is stored as CT).
INPUT_ROLES = frozenset({SeriesRole.CT, SeriesRole.DECT_MIXED, SeriesRole.OTHER})
#: Largest number of DDIM steps a job may ask for.
MAX_SAMPLING_STEPS = 1000


# --- jobs: creating and cancelling ----------------------------------------------------------------


def _whole_number(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InferenceError(_("%(key)s must be a whole number") % {"key": key})
    try:
        number = int(value)
    except ValueError as exc:
        raise InferenceError(_("%(key)s must be a whole number") % {"key": key}) from exc
    if not low <= number <= high:
        raise InferenceError(
            _("%(key)s must lie between %(low)s and %(high)s")
            % {"key": key, "low": low, "high": high}
        )
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
        raise InferenceError(
            _("unknown parameters for %(task)s: %(names)s")
            % {"task": label, "names": ", ".join(unknown)}
        )
    clean: dict[str, Any] = {}
    for key, low, high in (("steps", 1, MAX_SAMPLING_STEPS), ("seed", 0, 2**31 - 1)):
        if key in given:
            clean[key] = _whole_number(key, given[key], low, high)
    if "prompt" in given:
        if not isinstance(given["prompt"], str):
            raise InferenceError(_("prompt must be text"))
        clean["prompt"] = given["prompt"].strip()
    if "strength" in given:
        value = given["strength"]
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InferenceError(_("strength must be a number"))
        try:
            clean["strength"] = float(value)
        except (OverflowError, ValueError) as exc:  # OverflowError: an int beyond a float
            raise InferenceError(_("strength must be a number")) from exc
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


def job_enqueue_on_commit(job_id: uuid.UUID, queue: str, *, countdown: float = 0) -> None:
    """Send the job to a worker on ``queue`` once the current transaction commits."""
    transaction.on_commit(
        lambda: current_app.send_task(
            RUN_JOB_TASK, args=(str(job_id),), queue=queue, countdown=countdown
        )
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
            raise InferenceError(_("choose a model or a task"))
        task = ModelTask(task)
        model_version = ModelVersion.objects.filter(task=task, is_active=True).first()
        if model_version is None:
            raise InferenceError(
                _(
                    "no %(task)s model is active: train one (manage.py train_ncctm or "
                    "train_pseudomri) or register and activate one"
                )
                % {"task": task.label}
            )
    elif task is not None and ModelTask(task) != model_version.task:
        raise InferenceError(
            _("%(model)s is not a %(task)s model")
            % {"model": model_version, "task": ModelTask(task).label}
        )
    task = ModelTask(model_version.task)
    if source_series.study.case_id != case.pk:
        raise InferenceError(_("the series does not belong to this case"))
    if source_series.modality != "CT" or source_series.role not in INPUT_ROLES:
        raise InferenceError(
            _("%(task)s needs an acquired CT series; series %(series)s is %(modality)s (%(role)s)")
            % {
                "task": task.label,
                "series": source_series.series_number or source_series.series_instance_uid,
                "modality": source_series.modality,
                "role": source_series.get_role_display(),
            }
        )
    clean = _clean_parameters(model_version, parameters)
    with transaction.atomic():
        busy = InferenceJob.objects.filter(
            source_series=source_series,
            model_version=model_version,
            state__in=(JobState.PENDING, JobState.RUNNING),
        )
        if busy.exists():
            raise JobConflict(_("a job of this model on this series is already queued or running"))
        job = InferenceJob.objects.create(
            case=case,
            source_series=source_series,
            model_version=model_version,
            parameters=clean,
            max_attempts=settings.INFERENCE_MAX_ATTEMPTS,
            created_by=actor,
            message=gettext_noop("Waiting for a worker"),
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
            job_enqueue_on_commit(job.pk, model_version.queue)
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
            raise JobConflict(
                _("the job has already finished (%(state)s)")
                % {"state": locked.get_state_display()}
            )
        before = locked.state
        now = timezone.now()
        locked.state = JobState.CANCELLED
        locked.finished_at = now
        who = actor.get_username() if actor is not None else "the system"
        locked.message = gettext_noop("Cancelled by %(who)s")
        locked.message_args = {"who": who}
        locked.log += f"{now:%Y-%m-%d %H:%M:%S} cancelled by {who}\n"
        locked.save(update_fields=["state", "finished_at", "message", "message_args", "log"])
        audit_event_record(
            actor=actor,
            verb="inference_job.cancel",
            obj=locked,
            before={"state": before},
            after={"state": locked.state},
            reason=reason,
        )
    return locked


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
