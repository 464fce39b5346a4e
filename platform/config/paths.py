"""Where the source roots are, and how every entry point puts them on ``sys.path``.

``platform/`` is a *source root*, not a package: a package named ``platform`` would shadow the
standard-library module that ``uuid``, Django and Celery import. Every entry point (manage.py,
WSGI/ASGI, the Celery worker, pytest) adds ``platform/`` to ``sys.path`` so that ``config``,
``cases`` and ``accounts`` import as top-level packages, next to ``readerstudy`` and
``inference`` at the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOT = REPO_ROOT / "platform"


def add_source_roots() -> None:
    """Put the repository root and ``platform/`` on ``sys.path`` (idempotent)."""
    for root in (str(SOURCE_ROOT), str(REPO_ROOT)):
        if root not in sys.path:
            sys.path.insert(0, root)
