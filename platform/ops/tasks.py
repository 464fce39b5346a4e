"""Celery tasks of the ops app: thin adapters over ``ops.services``."""

from celery import shared_task

from ops import services


@shared_task(name=services.WORKER_PROBE_TASK)
def worker_probe_complete(probe_id: str) -> None:
    services.worker_probe_complete_in_worker(probe_id=probe_id)
