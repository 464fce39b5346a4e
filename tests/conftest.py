"""Shared fixtures: the fixed personas and a real Celery worker process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_create
from ops.catalogues import catalogues_compile

REPO_ROOT = Path(__file__).resolve().parents[1]
# The catalogues as `make test` compiles them, for a bare `pytest` too (and its worker processes).
catalogues_compile(REPO_ROOT / "locale")
# The Chromium ``browser`` fixture of every browser test.
pytest_plugins = ["tests.browser_support"]

PASSWORD = "correct-horse-battery-staple"


def client_login(client: Client, user: User) -> Client:
    """Django's test client, signed in as ``user`` (a persona: its password is ``PASSWORD``)."""
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _persona(username: str, roles: list[Role]) -> User:
    return user_create(actor=None, username=username, password=PASSWORD, roles=roles)


@pytest.fixture
def admin_user(db: None) -> User:
    return _persona("admin-persona", [Role.ADMIN])


@pytest.fixture
def coordinator(db: None) -> User:
    return _persona("coordinator-persona", [Role.COORDINATOR])


@pytest.fixture
def reader_a(db: None) -> User:
    return _persona("reader-a-persona", [Role.READER])


@pytest.fixture
def reader_b(db: None) -> User:
    return _persona("reader-b-persona", [Role.READER])


@pytest.fixture
def outsider(db: None) -> User:
    return _persona("outsider-persona", [])


def database_url_of_test_db() -> str:
    """A DATABASE_URL for the database the tests run against (the test database)."""
    cfg = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{cfg['NAME']}"
    if connection.vendor == "postgresql":
        auth = quote(cfg.get("USER") or "")
        if cfg.get("PASSWORD"):
            auth += ":" + quote(cfg["PASSWORD"])
        host = cfg.get("HOST") or "127.0.0.1"
        port = cfg.get("PORT") or 5432
        return f"postgres://{auth}@{host}:{port}/{cfg['NAME']}"
    raise RuntimeError(f"no worker support for {connection.vendor}")


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None, django_db_blocker: pytest.FixtureRequest
) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker process, consuming both queues, against the test database."""
    from config.celery import app

    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        database_url = database_url_of_test_db()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "platform"), str(REPO_ROOT)]),
    }
    log_path = Path(settings.VAR_DIR) / "test-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 (closed below)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
         "--concurrency=1", "-Q", "default,gpu", "--hostname=test-worker@%h",
         "--without-mingle", "--without-gossip"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: teardown stops the pool's children too
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not app.control.ping(timeout=1.0):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the Celery worker did not come up; see {log_path}:\n"
                    + log_path.read_text()[-3000:]
                )
        yield worker
    finally:
        # A child still running a task at the end would outlive a killed parent, holding a
        # connection to the test database (which then cannot be dropped) and taking tasks.
        _stop_group(worker)
        log.close()


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (a warm shutdown), then SIGKILL whatever is left of it."""
    group = os.getpgid(process.pid)
    os.killpg(group, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    # Children of a parent that exited, or a stuck parent.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    process.wait()
