"""Gunicorn hooks for scripts/serve-prod.sh (settings themselves are on its command line).

With ``--preload`` the master imports the application once; ``when_ready`` then imports every
URL module too (Django does that lazily, on a worker's first request: with the reader-study
statistics that is seconds of CPU per worker, paid again by every recycled worker). Workers
fork from the warm master and share those pages copy-on-write.
"""

from __future__ import annotations

from typing import Any


def when_ready(server: Any) -> None:
    from django.db import connections
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (the import is the point)
    # Nothing above should have opened a database connection, but a forked worker must never
    # share one with its siblings.
    connections.close_all()
