"""Health checks of the components the platform needs, and worker round-trip probes."""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from celery import current_app as celery_app  # config.celery's app: Django loads it first
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ops.models import WorkerProbe


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str


def check_database() -> CheckResult:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down", reported, never raised
        return CheckResult(False, f"{connection.vendor}: {type(exc).__name__}")
    return CheckResult(True, connection.vendor)


def _broker_transport() -> str:
    # Only the scheme: the URL may carry credentials.
    return str(settings.CELERY_BROKER_URL).split("://", 1)[0]


def check_broker(*, timeout: int = 2) -> CheckResult:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # connection errors differ per transport
        return CheckResult(False, f"{_broker_transport()}: {type(exc).__name__}")
    return CheckResult(True, _broker_transport())


def check_workers(*, timeout: float = 1.0) -> CheckResult:
    try:
        replies = celery_app.control.ping(timeout=timeout) or []
    except Exception as exc:
        return CheckResult(False, f"ping failed: {type(exc).__name__}")
    names = sorted(name for reply in replies for name in reply)
    if not names:
        return CheckResult(False, "no worker answered")
    return CheckResult(True, ", ".join(names))


#: The Celery task (``ops.tasks.worker_probe_complete``) a probe is sent to, by name.
WORKER_PROBE_TASK = "ops.worker_probe_complete"


def health_report() -> tuple[bool, dict[str, Any]]:
    """Check database, broker and workers; return (all up, JSON-ready report)."""
    checks = {"database": check_database(), "broker": check_broker()}
    # Asking workers needs the broker; skip the wait when it is down.
    checks["worker"] = (
        check_workers() if checks["broker"].ok else CheckResult(False, "broker unreachable")
    )
    healthy = all(check.ok for check in checks.values())
    report = {
        "status": "ok" if healthy else "unavailable",
        "checks": {name: asdict(check) for name, check in checks.items()},
    }
    return healthy, report


def worker_probe_start(*, queue: str = settings.CELERY_TASK_DEFAULT_QUEUE) -> WorkerProbe:
    """Create a probe and send it to a worker on ``queue`` once the row is committed."""
    with transaction.atomic():
        probe = WorkerProbe.objects.create(queue=queue)
        transaction.on_commit(
            lambda: celery_app.send_task(WORKER_PROBE_TASK, args=(str(probe.id),), queue=queue)
        )
    return probe


def worker_probe_complete_in_worker(*, probe_id: uuid.UUID | str) -> None:
    """Mark the probe done with this worker's identity (idempotent)."""
    with transaction.atomic():
        probe = WorkerProbe.objects.select_for_update().filter(pk=probe_id).first()
        if probe is None or probe.status == WorkerProbe.Status.SUCCEEDED:
            return
        probe.status = WorkerProbe.Status.SUCCEEDED
        probe.completed_at = timezone.now()
        probe.worker_hostname = socket.gethostname()
        probe.worker_pid = os.getpid()
        probe.save(update_fields=["status", "completed_at", "worker_hostname", "worker_pid"])


def worker_probe_wait(*, probe_id: uuid.UUID, timeout: float) -> WorkerProbe:
    """Poll the database until a worker completed the probe or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        probe = WorkerProbe.objects.get(pk=probe_id)
        if probe.status == WorkerProbe.Status.SUCCEEDED or time.monotonic() > deadline:
            return probe
        time.sleep(0.2)
