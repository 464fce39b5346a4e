"""The Celery application, configured for long machine-learning jobs.

Settings live in ``config.settings`` under the ``CELERY_`` prefix. Workers start with
``PYTHONPATH=platform celery -A config worker`` (see the Makefile); the ``gpu`` queue is consumed
by workers on machines with an accelerator.
"""

from __future__ import annotations

import os

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class ReliableTask(Task):
    """Base of every Sagittal task.

    A message is acknowledged only after the task finished (``acks_late``) and is re-queued if
    the worker process dies mid-task (``reject_on_worker_lost``), so a killed training job runs
    again instead of vanishing. Tasks must therefore be idempotent: they take ids, lock their
    job row and skip terminal states.
    """

    acks_late = True
    reject_on_worker_lost = True


app = Celery("sagittal", task_cls=ReliableTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["accounts", "cases", "ops", "readerstudy", "inference"])
