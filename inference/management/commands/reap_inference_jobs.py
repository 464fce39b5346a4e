"""``manage.py reap_inference_jobs``: retry or fail jobs whose worker was lost (for cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from inference.worker import jobs_reap_stale


class Command(BaseCommand):
    help = (
        "Put RUNNING inference jobs whose worker stopped sending heartbeats back in the queue "
        "(or fail them after their last attempt). Celery beat runs the same every minute."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        reaped = jobs_reap_stale()
        self.stdout.write(f"{len(reaped)} stale jobs requeued or failed.")
        for job_id in reaped:
            self.stdout.write(f"  {job_id}")
