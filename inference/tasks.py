"""Celery tasks of the inference app: thin adapters over ``inference.services``.

Tasks take ids, never model instances; the job row carries attempts and state, so a message
delivered twice (``acks_late`` after a lost worker) does no harm: the claim skips finished
jobs and jobs that a live worker runs.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_ready

from config.celery import ReliableTask, app
from inference import services

log = logging.getLogger(__name__)


@app.task(name="inference.run_job", base=ReliableTask)
def run_inference_job(job_id: str) -> None:
    """Run one inference job (see ``services.job_run``)."""
    services.job_run(job_id=job_id)


@app.task(name="inference.reap_stale_jobs", base=ReliableTask)
def reap_stale_inference_jobs() -> int:
    """Retry or fail jobs whose worker was lost; return how many."""
    return len(services.jobs_reap_stale())


@worker_ready.connect
def _reap_on_worker_start(**_: Any) -> None:
    # A worker that restarts after a crash finds its own orphaned jobs at once, without
    # waiting for beat (the embedded setup runs none).
    try:
        reaped = services.jobs_reap_stale()
    except Exception:  # never keep a worker from starting
        log.exception("reaping stale inference jobs at worker start failed")
        return
    if reaped:
        log.warning("requeued or failed %d inference jobs of lost workers", len(reaped))
