"""``manage.py register_model``: register a checkpoint trained elsewhere by our commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.errors import InferenceError
from inference.models import DeviceRequirement, ModelTask
from inference.services import model_version_register


class Command(BaseCommand):
    help = (
        "Verify a checkpoint written by train_ncctm or train_pseudomri (it must load as a model "
        "of the task), copy it into SAGITTAL_MODELS_DIR and register it with its sha256."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("checkpoint", type=Path)
        parser.add_argument("--task", choices=ModelTask.values, required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--model-version", dest="model_version", required=True)
        parser.add_argument("--device", choices=DeviceRequirement.values, default="cpu")
        parser.add_argument("--description", default="")
        parser.add_argument("--activate", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            model = model_version_register(
                actor=None,
                task=options["task"],
                name=options["name"],
                version=options["model_version"],
                checkpoint=options["checkpoint"],
                device=options["device"],
                description=options["description"],
                activate=options["activate"],
            )
        except InferenceError as exc:
            raise CommandError(str(exc)) from exc
        state = "registered and activated" if model.is_active else "registered"
        self.stdout.write(self.style.SUCCESS(f"{model} {state}: sha256 {model.sha256}"))
