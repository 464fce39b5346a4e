"""``manage.py compile_catalogues [--force]``: compile locale/*/LC_MESSAGES/*.po (no msgfmt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ops.catalogues import catalogues_compile


class Command(BaseCommand):
    help = "Compile the translation catalogues (.po to .mo) that changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="compile all of them")

    def handle(self, *args: Any, force: bool, **options: Any) -> None:
        written = []
        for locale_dir in settings.LOCALE_PATHS:
            written += catalogues_compile(Path(locale_dir), force=force)
        for path in written:
            self.stdout.write(f"compiled {path}")
