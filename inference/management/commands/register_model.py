"""``manage.py register_model``: register a checkpoint of our commands or a local SD pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.errors import InferenceError
from inference.management.commands._options import hu_window
from inference.models import DeviceRequirement, ModelTask
from inference.registry import model_version_register


class Command(BaseCommand):
    help = (
        "Verify a checkpoint written by train_ncctm or train_pseudomri (it must load as a model "
        "of the task), copy it into SAGITTAL_MODELS_DIR and register it with its sha256. A "
        "folder is a fine-tuned Stable Diffusion img2img pipeline saved in diffusers format "
        "(pseudo-MRI, loaded with local_files_only): its sha256 is that of the sorted manifest "
        "of its files, and the --prompt/--strength/... options become its settings."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("checkpoint", type=Path)
        parser.add_argument("--task", choices=ModelTask.values, required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--model-version", dest="model_version", required=True)
        parser.add_argument("--device", choices=DeviceRequirement.values, default="cpu")
        parser.add_argument("--description", default="")
        parser.add_argument("--activate", action="store_true")
        sd = parser.add_argument_group("Stable Diffusion pipeline folders (pseudo-MRI)")
        sd.add_argument("--prompt", help="the prompt it was fine-tuned with")
        sd.add_argument("--strength", type=float, help="img2img strength in (0, 1] (0.6)")
        sd.add_argument("--steps", type=int, help="scheduler steps (30)")
        sd.add_argument("--guidance-scale", type=float, help="1 disables guidance (1)")
        sd.add_argument("--resolution", type=int, help="side the slices are resized to (512)")
        sd.add_argument("--window", type=hu_window, help="HU window LOW,HIGH (-250,350)")
        sd.add_argument("--intensity-scale", type=float, help="stored value of white (4095)")

    def handle(self, *args: Any, **options: Any) -> None:
        keys = (
            "prompt",
            "strength",
            "steps",
            "guidance_scale",
            "resolution",
            "window",
            "intensity_scale",
        )
        settings = {key: options[key] for key in keys if options[key] is not None}
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
                settings_=settings,
            )
        except InferenceError as exc:
            raise CommandError(str(exc)) from exc
        state = "registered and activated" if model.is_active else "registered"
        self.stdout.write(self.style.SUCCESS(f"{model} {state}: sha256 {model.sha256}"))
