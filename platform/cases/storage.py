"""Content-addressed storage of DICOM files through Django's storage API.

Keys derive from the sha256 of the bytes, never from a filename or a DICOM UID, so an upload
cannot choose where it lands and the same bytes are stored once. The backend is ``default`` in
``STORAGES``: a directory under MEDIA_ROOT, or S3-compatible storage by configuration.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.core.files.base import ContentFile, File
from django.core.files.storage import storages


def content_key(data: bytes, *, prefix: str = "dicom") -> tuple[str, str]:
    digest = hashlib.sha256(data).hexdigest()
    return digest, f"{prefix}/{digest[:2]}/{digest[2:4]}/{digest}.dcm"


def store_bytes(data: bytes, *, prefix: str = "dicom") -> tuple[str, str]:
    """Store ``data`` under its content address (idempotent); return (sha256, key)."""
    digest, key = content_key(data, prefix=prefix)
    storage = storages["default"]
    if not storage.exists(key):
        saved = storage.save(key, ContentFile(data))
        if saved != key:  # a concurrent writer won the race; the bytes are identical
            storage.delete(saved)
    return digest, key


def open_stored(key: str) -> File:
    return storages["default"].open(key, "rb")


def delete_stored(keys: Iterable[str]) -> None:
    """Remove stored files (after the rows that named them are gone); missing ones are fine."""
    storage = storages["default"]
    for key in keys:
        storage.delete(key)
