"""``manage.py import_dicom PATH [PATH ...]``: ingest DICOM files or directory trees."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.dicom_io import MAX_FILE_BYTES
from cases.ingest import IngestBatch, IngestOutcome

BATCH = 50  # files per IngestBatch (and per report flush)


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise CommandError(f"{path} does not exist")
    return found


class Command(BaseCommand):
    help = "Validate, de-identify and store DICOM files; studies wait for a coordinator's case."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path)

    def handle(self, *args: Any, paths: list[Path], **options: Any) -> None:
        counts: Counter[str] = Counter()
        files = _files(paths)
        # Batches of files share patient, study and series look-ups and are indexed together.
        for start in range(0, len(files), BATCH):
            chunk = files[start : start + BATCH]
            with IngestBatch() as batch:
                for path in chunk:
                    if path.stat().st_size > MAX_FILE_BYTES:
                        reason = "larger than the 1 GiB limit"
                        batch.add_outcome(IngestOutcome("rejected", reason=reason))
                    else:
                        batch.add(path.read_bytes())
            for path, outcome in zip(chunk, batch.outcomes, strict=True):
                counts[outcome.status] += 1
                if outcome.status in ("rejected", "quarantined"):
                    self.stderr.write(f"{outcome.status} {path}: {outcome.reason}")
        summary = ", ".join(
            f"{counts[k]} {k}" for k in ("stored", "duplicate", "quarantined", "rejected")
        )
        self.stdout.write(f"import_dicom: {summary}")
