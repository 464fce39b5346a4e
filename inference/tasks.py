"""Celery tasks of the inference app: thin adapters over ``inference.worker``.

Tasks take ids, never model instances; the job row carries attempts and state, so a message
delivered twice (``acks_late`` after a lost worker) does no harm: the claim skips finished
jobs and jobs that a live worker runs.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

from inference import jobs, worker

log = logging.getLogger(__name__)


@shared_task(name=jobs.RUN_JOB_TASK)
def run_inference_job(job_id: str) -> None:
    """Run one inference job (see ``worker.job_run``)."""
    worker.job_run(job_id=job_id)


@shared_task(name="inference.reap_stale_jobs")
def reap_stale_inference_jobs() -> int:
    """Retry or fail jobs whose worker was lost; return how many."""
    return len(worker.jobs_reap_stale())


@worker_ready.connect
def _reap_on_worker_start(**_: Any) -> None:
    # A worker that restarts after a crash finds its own orphaned jobs at once, without
    # waiting for beat (the embedded setup runs none).
    try:
        reaped = worker.jobs_reap_stale()
    except Exception:  # never keep a worker from starting
        log.exception("reaping stale inference jobs at worker start failed")
        return
    if reaped:
        log.warning("requeued or failed %d inference jobs of lost workers", len(reaped))
