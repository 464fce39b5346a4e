"""``manage.py demo``: demo users and phantom cases (idempotent; development only)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cases.demo import DEMO_USERS, demo_load
from inference.demo import demo_inference_load
from readerstudy.demo import demo_load as readerstudy_demo_load


class Command(BaseCommand):
    help = "Create demo users and synthetic phantom cases (only with DEBUG on)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "Refusing to load demo data with DEBUG off: demo users have a known password. "
                "Set DEBUG=1 on a development machine."
            )
        report = demo_load(password=settings.DEMO_PASSWORD)
        self.stdout.write(
            f"Demo: {report.users_created} users, {report.cases_created} cases and "
            f"{report.instances_stored} instances created (existing ones kept)."
        )
        self.stdout.write(f"Inference: {demo_inference_load()}.")
        studies = readerstudy_demo_load(password=settings.DEMO_PASSWORD)
        self.stdout.write(f"Reader studies: {studies}.")
        names = ", ".join(user.username for user in DEMO_USERS)
        self.stdout.write(f"Logins: {names} (password from DEMO_PASSWORD).")
