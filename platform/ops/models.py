"""Operational records: probes that prove the queue and a worker reach the database."""

from __future__ import annotations

import uuid

from django.db import models


class WorkerProbe(models.Model):
    """A round trip web -> broker -> worker -> database, for deep health checks after deploys."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    queue = models.CharField(max_length=50)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)
    worker_pid = models.IntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"probe {self.id} on {self.queue}: {self.status}"
