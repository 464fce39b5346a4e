"""Celery tasks of the ops app: thin adapters over ``ops.services``."""

from config.celery import app
from ops import services


@app.task(name="ops.worker_probe_complete")
def worker_probe_complete(probe_id: str) -> None:
    services.worker_probe_complete_in_worker(probe_id=probe_id)
