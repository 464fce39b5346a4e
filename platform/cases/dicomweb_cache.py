"""What DICOMweb reads keep in memory between requests, per worker process.

Nothing is shared between processes, so nothing needs invalidation messages:

- Access grants (used by ``dicomweb_fast``): a request context (credentials, host, scheme,
  Accept) whose frame request of a study Django answered 200, for
  ``DICOMWEB_ACCESS_CACHE_SECONDS``.
- Frame sources: where an instance's frames lie in its stored file. Stored instances never
  change; a deleted study's files are deleted too, and a grant never outlives its seconds.
- Metadata bodies: the series and study metadata JSON (and its gzip) for a given base URL,
  keyed by the number of instances they hold: instances are only ever added to a series (or
  removed with their whole study), so a new count means new instances and a new entry.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, NamedTuple, TypeVar

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


class Grant(NamedTuple):
    """A request context's passed access check for one study (see ``dicomweb_fast``)."""

    deadline: float  # time.monotonic()
    headers: tuple[tuple[str, str], ...]  # what Django's answer carried besides its body


grants: BoundedCache[Grant] = BoundedCache(max_entries=20_000)
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


def clear() -> None:
    """Forget everything (tests, and after bulk changes made outside the services)."""
    grants.clear()
    frame_sources.clear()
    metadata_bodies.clear()
