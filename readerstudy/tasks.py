"""Celery tasks of the reader-study app (thin adapters over ``readerstudy.results.files``) and
the debounced scheduling of export builds that services and pages call after a change."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from readerstudy.results import files


@shared_task(name="readerstudy.build_exports")
def build_study_exports(study_id: str) -> str | None:
    """Build the study's export files for its current version (idempotent)."""
    return files.exports_build(study_id=study_id)


def exports_schedule(*, study_id: object) -> None:
    """After the current transaction commits, ask a worker to build the study's exports.

    Debounced per study: one build ``READERSTUDY_EXPORT_DELAY_SECONDS`` after the first change
    of a burst covers the whole burst (a later change schedules the next build). A broker that
    cannot be reached never fails the change that asked: the download then builds the file.
    """
    delay = settings.READERSTUDY_EXPORT_DELAY_SECONDS

    def send() -> None:
        if not cache.add(f"readerstudy-export-scheduled:{study_id}", True, timeout=delay):
            return
        build_study_exports.apply_async((str(study_id),), countdown=delay)

    transaction.on_commit(send, robust=True)
