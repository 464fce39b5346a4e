"""A study's export files (XLSX workbook, CSV ZIP), kept on disk per study version.

An export is a pure function of the study version it carries (the time of the study's last
change), so it is built once per version and kept as a file under ``VAR_DIR/exports/<study>/``.
Building one for a large study takes seconds (docs/performance.md), so a worker builds them
shortly after readings or references change (``exports_schedule``, debounced: readings come in
bursts); a download finds the file ready, and builds it itself only when no worker got there
first. Files of older versions are removed when a newer one is written.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.utils.text import slugify

from readerstudy.models import ReaderStudy
from readerstudy.results import load, sheets

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class ExportKind:
    extension: str
    content_type: str
    build: Callable[[sheets.Sheets], bytes]


KINDS = {
    "xlsx": ExportKind("xlsx", XLSX_TYPE, sheets.workbook_bytes),
    "zip": ExportKind("zip", "application/zip", sheets.csv_zip_bytes),
}


@dataclass(frozen=True)
class ExportFile:
    path: Path
    filename: str
    content_type: str


def _folder(study_id: object) -> Path:
    return Path(settings.VAR_DIR) / "exports" / str(study_id)


def _stamp(version: str) -> str:
    # "2026-11-21T08:00:00.000001+00:00" -> "2026-11-21T080000.000001Z": safe in file names on
    # every system, and in the order of the times.
    return version.replace(":", "").replace("+0000", "Z")


def download_stem(study: ReaderStudy) -> str:
    """The study's title as the start of a download's name, in its own script (a Japanese
    title stays Japanese; responses send it as RFC 6266 ``filename*``)."""
    return slugify(study.title, allow_unicode=True) or "study"


def export_filename(*, study: ReaderStudy, version: str, extension: str) -> str:
    """The download name: the study's title and the version the file carries."""
    return f"{download_stem(study)}-{_stamp(version)}.{extension}"


def _write_atomically(path: Path, content: bytes) -> None:
    # A reader never sees half a file: write beside it, then rename over it.
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as handle:
        handle.write(content)
    os.replace(handle.name, path)


#: A ``.part`` file older than this was left by a build that died (a live one takes seconds).
STALE_PART_SECONDS = 3600


def _remove_older(folder: Path, keep_stamp: str) -> None:
    """Remove the files of versions before ``keep_stamp`` (stamps sort as times do), never a
    newer version's that a later build wrote meanwhile, and half-written files of dead builds."""
    for item in folder.iterdir():
        if item.name.endswith(".part"):
            if time.time() - item.stat().st_mtime > STALE_PART_SECONDS:
                item.unlink(missing_ok=True)
        elif item.name.rsplit(".", 1)[0] < keep_stamp:
            item.unlink(missing_ok=True)


def _build(study: ReaderStudy, extensions: list[str]) -> str:
    """Build the given kinds for the study's current version; return that version."""
    results = load.study_results(study=study)
    tables = sheets.export_sheets(results)  # built once for every kind
    stamp = _stamp(results.version)
    folder = _folder(study.pk)
    for extension in extensions:
        _write_atomically(folder / f"{stamp}.{extension}", KINDS[extension].build(tables))
    _remove_older(folder, stamp)
    return results.version


def export_file(*, study: ReaderStudy, extension: str) -> ExportFile:
    """The export file of the study's current version, built now if no worker built it yet."""
    kind = KINDS[extension]
    version = load.study_version(study=study)
    path = _folder(study.pk) / f"{_stamp(version)}.{extension}"
    if not path.is_file():
        version = _build(study, [extension])
        path = _folder(study.pk) / f"{_stamp(version)}.{extension}"
    return ExportFile(
        path=path,
        filename=export_filename(study=study, version=version, extension=extension),
        content_type=kind.content_type,
    )


def export_open(*, study: ReaderStudy, extension: str) -> tuple[BinaryIO, ExportFile]:
    """Open the current export file (a newer build may remove it between lookup and open)."""
    for _ in range(3):
        found = export_file(study=study, extension=extension)
        try:
            return found.path.open("rb"), found
        except FileNotFoundError:
            continue
    raise RuntimeError(f"the {extension} export of study {study.pk} kept changing; try again")


def exports_build(*, study_id: str) -> str | None:
    """Build every export kind of the study's current version that is not on disk yet.

    Returns the version built (or found), ``None`` if the study no longer exists.
    """
    study = ReaderStudy.objects.filter(pk=study_id).first()
    if study is None:
        return None
    version = load.study_version(study=study)
    missing = [
        extension
        for extension in KINDS
        if not (_folder(study.pk) / f"{_stamp(version)}.{extension}").is_file()
    ]
    return _build(study, missing) if missing else version
