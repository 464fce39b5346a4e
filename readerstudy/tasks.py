"""Celery tasks of the reader-study app: thin adapters over its services."""

from __future__ import annotations

from config.celery import ReliableTask, app
from readerstudy import export_files


@app.task(name="readerstudy.build_exports", base=ReliableTask)
def build_study_exports(study_id: str) -> str | None:
    """Build the study's export files for its current version (idempotent)."""
    return export_files.exports_build(study_id=study_id)
