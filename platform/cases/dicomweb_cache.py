"""What DICOMweb reads keep in memory between requests, and for how long.

A viewer scrolling a CT asks for hundreds of frames a second with the same credentials, for the
same study. Three things make those requests cheap, each held per worker process (nothing is
shared between processes, so nothing needs invalidation messages):

- Access grants: after the full check (authentication, then the permission-scoped selector)
  allowed a credential to read a study, further reads of that study with the same credential
  (the same ``Authorization`` header and session cookie) are allowed for
  ``DICOMWEB_ACCESS_CACHE_SECONDS`` without asking the database again. Every request is still
  checked against its own study and credential; what is cached is the answer, for seconds: a
  revoked role or token takes effect on a worker within that time. ``0`` turns grants off.
  Credentials are kept only as SHA-256 digests.
- Frame sources: where an instance's frames lie in its stored file. Stored instances never
  change, and a deleted study takes its grants' answers with it once they expire.
- Metadata bodies: the series and study metadata JSON (and its gzip) for a given base URL,
  keyed by the number of instances they hold: instances are only ever added to a series (or
  removed with their whole study), so a new count means new instances and a new entry.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request

from cases.frames import FrameSource

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """A thread-safe least-recently-used map, bounded by entries and by total size."""

    def __init__(
        self, *, max_entries: int, max_size: int = 0, size: Callable[[V], int] | None = None
    ) -> None:
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries, self._max_size = max_entries, max_size
        self._size_of = size or (lambda _value: 0)
        self._total = 0

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        size = self._size_of(value)
        if self._max_size and size > self._max_size:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._total -= self._size_of(old)
            self._entries[key] = value
            self._total += size
            while len(self._entries) > self._max_entries or (
                self._max_size and self._total > self._max_size
            ):
                _, evicted = self._entries.popitem(last=False)
                self._total -= self._size_of(evicted)

    def pop(self, key: Hashable) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._total -= self._size_of(old)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._total = 0


# Deadline (time.monotonic) of each (credential digest, study UID) grant.
_grants: BoundedCache[float] = BoundedCache(max_entries=20_000)
frame_sources: BoundedCache[FrameSource] = BoundedCache(max_entries=100_000)


class MetadataBody:
    """A metadata answer as sent (UTF-8 JSON), and gzipped (compressed once, when built)."""

    __slots__ = ("gzipped", "plain")

    def __init__(self, plain: bytes) -> None:
        self.plain = plain
        self.gzipped = gzip.compress(plain, compresslevel=6, mtime=0)

    def size(self) -> int:
        return len(self.plain) + len(self.gzipped)


metadata_bodies: BoundedCache[MetadataBody] = BoundedCache(
    max_entries=512, max_size=128 * 1024 * 1024, size=MetadataBody.size
)


def _grant_seconds() -> float:
    return float(getattr(settings, "DICOMWEB_ACCESS_CACHE_SECONDS", 5))


def credential_digest(request: HttpRequest | Request) -> str | None:
    """What identifies the request's credentials (None for a request that has none)."""
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    session = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    if not authorization and not session:
        return None
    return hashlib.sha256(f"{authorization}\0{session}".encode()).hexdigest()


def grant_valid(digest: str, study_uid: str) -> bool:
    deadline = _grants.get((digest, study_uid))
    if deadline is None:
        return False
    if deadline < time.monotonic():
        _grants.pop((digest, study_uid))
        return False
    return True


def grant_record(request: HttpRequest | Request, study_uid: str) -> None:
    """Remember that the request's credentials passed the full check for ``study_uid``."""
    seconds = _grant_seconds()
    digest = credential_digest(request)
    if seconds > 0 and digest is not None:
        _grants.put((digest, study_uid), time.monotonic() + seconds)


def clear() -> None:
    """Forget everything (tests, and after bulk changes made outside the services)."""
    _grants.clear()
    frame_sources.clear()
    metadata_bodies.clear()
