"""``manage.py healthcheck [--roundtrip]``: the /healthz checks from the command line."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ops.models import WorkerProbe
from ops.services import health_report, worker_probe_start, worker_probe_wait


class Command(BaseCommand):
    help = "Check database, broker and workers; --roundtrip also runs a task on each queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--roundtrip", action="store_true")
        parser.add_argument("--timeout", type=float, default=30.0)

    def handle(self, *args: Any, roundtrip: bool, timeout: float, **options: Any) -> None:
        healthy, report = health_report()
        if roundtrip:
            queues = [settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_GPU_QUEUE]
            for queue in queues:
                probe = worker_probe_wait(
                    probe_id=worker_probe_start(queue=queue).id, timeout=timeout
                )
                ok = probe.status == WorkerProbe.Status.SUCCEEDED
                healthy = healthy and ok
                report[f"roundtrip_{queue}"] = {"ok": ok, "worker": probe.worker_hostname}
        self.stdout.write(json.dumps(report, indent=2))
        if not healthy:
            raise CommandError("unhealthy")
