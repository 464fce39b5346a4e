"""``manage.py demo``: demo users, phantom cases, demo models, their inference jobs and the demo
reader studies (idempotent; development only).

The inference jobs go to the worker (``--run-jobs`` runs them here, before the command ends):
``make run`` serves its first page while the worker computes them, and the case pages show their
progress. Until a case's pseudo-MRI job has finished, the demo's SLIC study reads the stand-in
that ``demo.reader_studies`` makes (see its docstring).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.models_and_jobs import demo_inference_load
from demo.phantom_cases import DEMO_USERS, demo_load
from demo.reader_studies import demo_load as readerstudy_demo_load


class Command(BaseCommand):
    help = "Create demo users, phantom cases, models, jobs and reader studies (only with DEBUG on)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--run-jobs",
            action="store_true",
            help="Run the demo's inference jobs in this process instead of queueing them.",
        )

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
        self.stdout.write(f"Inference: {demo_inference_load(run_jobs=options['run_jobs'])}.")
        studies = readerstudy_demo_load(password=settings.DEMO_PASSWORD)
        self.stdout.write(f"Reader studies: {studies}.")
        names = ", ".join(user.username for user in DEMO_USERS)
        self.stdout.write(f"Logins: {names} (password from DEMO_PASSWORD).")
