"""Uploads of many files at once: browser files and folders, ZIP archives, STOW-RS bodies.

The files of an upload go through one ``ingest.IngestBatch``; a file that fails gets a reason
in the report and the rest of the upload proceeds. Archives are checked against their entry
count and declared uncompressed size before anything is extracted, entries are read into memory
(never written under their own names), and nested archives are not opened.
"""

from __future__ import annotations

import mmap
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import User
from cases.dicom_io import MAX_FILE_BYTES, DicomRejected
from cases.ingest import IngestBatch, IngestOutcome, rejected
from cases.models import Case, SeriesRole

_ZIP_MAGIC = b"PK\x03\x04"
# Entries that archives from PACS exports and desktop tools carry besides the images.
_SKIPPED_NAMES = ("DICOMDIR",)
_SKIPPED_PREFIXES = ("__MACOSX/",)


class UploadRefused(ValueError):
    """The whole upload is refused (too large, malformed); ``status`` is the HTTP status."""

    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UploadItem:
    """One file of an upload and what became of it."""

    name: str
    outcome: IngestOutcome


def _display_name(name: str) -> str:
    # Names are only ever shown, never used as paths; keep them printable and short.
    printable = "".join(ch if ch.isprintable() else "?" for ch in name)
    return printable[-200:]


def _rejected(name: str, reason: str, **params: object) -> UploadItem:
    """A file of the upload refused before ingest; ``reason`` is a msgid with ``params``."""
    return UploadItem(_display_name(name), rejected(DicomRejected(reason, params=params)))


def is_zip(head: bytes) -> bool:
    return head.startswith(_ZIP_MAGIC)


def _zip_entries(archive: zipfile.ZipFile, *, name: str) -> list[zipfile.ZipInfo]:
    """The archive's file entries, after the limits are checked on its central directory."""
    entries = [
        info
        for info in archive.infolist()
        if not info.is_dir()
        and not info.filename.startswith(_SKIPPED_PREFIXES)
        and info.filename.rsplit("/", 1)[-1] not in _SKIPPED_NAMES
    ]
    max_entries = settings.SAGITTAL_ZIP_MAX_ENTRIES
    if len(entries) > max_entries:
        raise UploadRefused(
            _("%(name)s: %(count)s files in the archive, more than the limit of %(limit)s")
            % {"name": name, "count": len(entries), "limit": max_entries},
            status=413,
        )
    declared = sum(info.file_size for info in entries)
    max_total = settings.SAGITTAL_ZIP_MAX_UNCOMPRESSED_BYTES
    if declared > max_total:
        raise UploadRefused(
            _("%(name)s: the archive expands to %(bytes)s bytes, more than the limit of %(limit)s")
            % {"name": name, "bytes": declared, "limit": max_total},
            status=413,
        )
    return entries


def _zip_items(fileobj: IO[bytes], *, name: str) -> Iterator[tuple[str, bytes] | UploadItem]:
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        yield _rejected(name, gettext_noop("not a readable ZIP archive: %(error)s"), error=exc)
        return
    with archive:
        for info in _zip_entries(archive, name=name):
            entry_name = f"{name}/{info.filename}"
            if info.file_size > MAX_FILE_BYTES:
                yield _rejected(entry_name, gettext_noop("file is larger than the 1 GiB limit"))
                continue
            if info.flag_bits & 0x1:
                yield _rejected(
                    entry_name, gettext_noop("encrypted archive entries are not accepted")
                )
                continue
            try:
                # ZipExtFile stops at the declared size, so a lying header cannot inflate more.
                with archive.open(info) as entry:
                    data = entry.read(info.file_size + 1)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
                yield _rejected(
                    entry_name,
                    gettext_noop("archive entry could not be read: %(error)s"),
                    error=exc,
                )
                continue
            if is_zip(data[:4]):
                yield _rejected(entry_name, gettext_noop("archives inside archives are not opened"))
                continue
            yield entry_name, data


def upload_ingest(
    *,
    files: Iterable[tuple[str, IO[bytes]]],
    actor: User | None,
    case: Case | None = None,
    role: SeriesRole | None = None,
) -> list[UploadItem]:
    """Ingest uploaded files (DICOM files or ZIP archives of them), one report line per file.

    Raises ``UploadRefused`` before anything is stored when an archive exceeds the limits.
    """
    # Check every archive's limits first: an upload refused for its size stores nothing.
    materialized: list[tuple[str, IO[bytes]]] = list(files)
    for name, fileobj in materialized:
        head = fileobj.read(4)
        fileobj.seek(0)
        if is_zip(head):
            try:
                archive = zipfile.ZipFile(fileobj)
            except (zipfile.BadZipFile, OSError, ValueError):
                archive = None  # reported per file below
            if archive is not None:
                with archive:
                    _zip_entries(archive, name=_display_name(name))
            fileobj.seek(0)

    # One batch for the upload: its files share the patient, study and series look-ups and
    # are indexed together; each keeps its own outcome.
    batch = IngestBatch(actor=actor, case=case, role=role)
    names: list[str] = []
    for name, fileobj in materialized:
        head = fileobj.read(4)
        fileobj.seek(0)
        if is_zip(head):
            for item in _zip_items(fileobj, name=_display_name(name)):
                if isinstance(item, UploadItem):
                    batch.add_outcome(item.outcome)
                    names.append(item.name)
                else:
                    entry_name, data = item
                    batch.add(data)
                    names.append(_display_name(entry_name))
            continue
        data = fileobj.read(MAX_FILE_BYTES + 1)
        batch.add(data)
        names.append(_display_name(name))
    return [UploadItem(name, outcome) for name, outcome in zip(names, batch.outcomes, strict=True)]


# --- multipart/related (STOW-RS) ------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    content_type: str
    data: bytes


class Readable(Protocol):
    def read(self, *args: Any, **kwargs: Any) -> bytes: ...


def spool_body(stream: Readable, *, content_length: int) -> IO[bytes]:
    """Copy a request body of known length to a temporary file (never all into memory)."""
    spooled = tempfile.TemporaryFile()  # noqa: SIM115 (the caller closes it)
    shutil.copyfileobj(stream, spooled, length=1024 * 1024)
    if spooled.tell() != content_length:
        spooled.close()
        raise UploadRefused(_("the request body is shorter than its Content-Length"))
    spooled.seek(0)
    return spooled


def _part_headers(block: bytes) -> dict[str, str]:
    headers = {}
    for line in block.split(b"\r\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(b":")
        if not sep:
            raise UploadRefused(_("a multipart part has a malformed header line"))
        headers[key.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers


def multipart_related_parts(body: IO[bytes], *, boundary: str) -> Iterator[Part]:
    """Split a multipart/related body into parts, one in memory at a time.

    The whole structure is checked before the first part is yielded: a body that is not
    well-formed raises ``UploadRefused`` (400) and nothing of it is stored.
    """
    if not boundary or len(boundary) > 70 or not boundary.isascii():
        raise UploadRefused(
            _("the multipart boundary is missing, longer than 70 characters or not ASCII")
        )
    delimiter = b"--" + boundary.encode("latin-1")
    if body.seek(0, 2) == 0:
        raise UploadRefused(_("the request body is empty"))
    body.seek(0)
    with mmap.mmap(body.fileno(), 0, access=mmap.ACCESS_READ) as view:
        position = view.find(delimiter)
        if position < 0:
            raise UploadRefused(_("the body does not contain the multipart boundary"))
        spans: list[tuple[dict[str, str], int, int]] = []
        position += len(delimiter)
        while True:
            if view[position : position + 2] == b"--":
                break  # the close delimiter
            if view[position : position + 2] != b"\r\n":
                raise UploadRefused(_("a multipart boundary is not followed by a line break"))
            headers_end = view.find(b"\r\n\r\n", position)
            if headers_end < 0:
                raise UploadRefused(_("a multipart part has no end of headers"))
            headers = _part_headers(view[position + 2 : headers_end])
            start = headers_end + 4
            end = view.find(b"\r\n" + delimiter, start)
            if end < 0:
                raise UploadRefused(_("the multipart body is not closed by its boundary"))
            spans.append((headers, start, end))
            position = end + 2 + len(delimiter)
        if not spans:
            raise UploadRefused(_("the multipart body has no parts"))
        for headers, start, end in spans:
            yield Part(headers.get("content-type", "").lower(), bytes(view[start:end]))
