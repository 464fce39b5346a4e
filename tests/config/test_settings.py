"""Settings come from the environment; production refuses unsafe defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from config.celery import ReliableTask
from config.celery import app as celery_app
from ops.tasks import worker_probe_complete

REPO_ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3Y-" + "Zq8rT2vLm9XwP4sN7bJc1HfD6gA0eR5uYiOoKtWnVxC-_aSdFgHjKl"


def _run_manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "DEIDENTIFICATION_SECRET"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT, env={**base, **env}, capture_output=True, text=True, check=False,
        timeout=120,
    )  # fmt: skip


def test_missing_secret_key_in_production_stops_startup_with_a_clear_message() -> None:
    result = _run_manage(["check"], {"DEBUG": "0", "ALLOWED_HOSTS": "sagittal.example.org"})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_missing_deidentification_secret_in_production_stops_startup() -> None:
    result = _run_manage(
        ["check"],
        {"DEBUG": "0", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "sagittal.example.org"},
    )
    assert result.returncode != 0
    assert "DEIDENTIFICATION_SECRET is not set" in result.stderr


def test_production_profile_passes_check_deploy() -> None:
    result = _run_manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        {
            "DEBUG": "0",
            "SECRET_KEY": STRONG_KEY,
            "DEIDENTIFICATION_SECRET": STRONG_KEY[::-1],
            "ALLOWED_HOSTS": "sagittal.example.org",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_development_profile_is_flagged_by_check_deploy() -> None:
    # The check must be able to fail: the development defaults are not production-safe.
    result = _run_manage(["check", "--deploy", "--fail-level", "WARNING"], {"DEBUG": "1"})
    assert result.returncode != 0
    assert "security.W018" in result.stderr + result.stdout  # DEBUG on


def test_database_url_selects_postgresql_through_psycopg3() -> None:
    code = (
        "from django.conf import settings; from django.db import connections;"
        "print(settings.DATABASES['default']['ENGINE']);"
        "import psycopg; print(connections['default'].Database.__name__)"
    )
    result = _run_manage(
        ["shell", "--no-imports", "-c", code],
        {"DEBUG": "1", "DATABASE_URL": "postgres://someone@db.invalid:5432/sagittal"},
    )
    assert result.returncode == 0, result.stderr
    engine, driver = result.stdout.split()
    assert engine == "django.db.backends.postgresql"
    assert driver == "psycopg"


def test_embedded_defaults_need_no_server(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings;"
        "print(settings.DATABASES['default']['ENGINE'], settings.DATABASES['default']['NAME'],"
        " settings.CELERY_BROKER_URL)"
    )
    env = {"DEBUG": "1", "SAGITTAL_VAR_DIR": str(tmp_path)}
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code], cwd=REPO_ROOT,
        env={**base, **env}, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    engine, name, broker = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert Path(name).parent == tmp_path
    assert broker == "filesystem://"
    assert (tmp_path / "celery-broker" / "queue").is_dir()


def test_soft_time_limit_must_be_below_the_hard_limit() -> None:
    result = _run_manage(
        ["check"],
        {"DEBUG": "1", "CELERY_TASK_TIME_LIMIT": "600", "CELERY_TASK_SOFT_TIME_LIMIT": "600"},
    )
    assert result.returncode != 0
    assert "CELERY_TASK_SOFT_TIME_LIMIT" in result.stderr


def test_celery_is_configured_for_long_ml_jobs() -> None:
    conf = celery_app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.worker_prefetch_multiplier == 1
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert {"default", "gpu"} <= set(conf.task_queues)
    task = worker_probe_complete
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert settings.CELERY_TASK_ALWAYS_EAGER is False


def test_tasks_sent_by_name_are_registered_and_reliable() -> None:
    # Services send tasks by name (no import of the task module: no cycles); a misspelt name
    # would queue messages no worker runs.
    from inference import jobs
    from ops import services as ops_services

    celery_app.loader.import_default_modules()
    for name in (jobs.RUN_JOB_TASK, ops_services.WORKER_PROBE_TASK, "readerstudy.build_exports"):
        task = celery_app.tasks[name]
        assert isinstance(task, ReliableTask), name
        assert task.acks_late and task.reject_on_worker_lost, name
