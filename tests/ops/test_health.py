from __future__ import annotations

import os
import subprocess

import pytest
from django.db import connection
from django.test import Client
from kombu import Connection

from config.celery import app as celery_app
from ops.models import WorkerProbe
from ops.services import worker_probe_start, worker_probe_wait


@pytest.mark.django_db(transaction=True)
def test_healthz_reports_all_up_with_a_worker(
    client: Client, celery_worker_process: subprocess.Popen[bytes]
) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True, "detail": connection.vendor}
    assert body["checks"]["broker"]["ok"] is True
    assert "test-worker@" in body["checks"]["worker"]["detail"]


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_down(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 1: the broker is unreachable.
    monkeypatch.setattr(
        celery_app, "connection_for_write", lambda: Connection("redis://127.0.0.1:1/0")
    )
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["worker"] == {"ok": False, "detail": "broker unreachable"}
    assert "127.0.0.1:1" not in response.content.decode()  # no URLs or credentials leak


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_down(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_cursor(*args: object, **kwargs: object) -> None:
        raise connection.Database.OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["ok"] is False


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("queue", ["default", "gpu"])
def test_a_task_runs_in_a_separate_worker_against_the_test_database(
    queue: str, celery_worker_process: subprocess.Popen[bytes]
) -> None:
    probe = worker_probe_start(queue=queue)
    done = worker_probe_wait(probe_id=probe.id, timeout=60)
    assert done.status == WorkerProbe.Status.SUCCEEDED
    assert done.completed_at is not None
    # It ran in the worker process, not eagerly in this one.
    assert done.worker_pid not in (None, os.getpid())
    assert celery_worker_process.poll() is None
