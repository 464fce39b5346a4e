"""``manage.py train_pseudomri``: train, evaluate and register a pseudo-MRI model."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.errors import InferenceError
from inference.management.commands._options import default_version, int_tuple, output_dir
from inference.models import DeviceRequirement, ModelTask
from inference.services import model_version_register


class Command(BaseCommand):
    help = (
        "Train the image-conditioned diffusion model (CT slice in, T2-weighted-like slice out) "
        "on synthetic cervical CT / MRI pairs, compare it with an intensity-mapping baseline on "
        "held-out phantoms (MAE, PSNR, SSIM), save a checksummed checkpoint with a metrics JSON "
        "and register it as a model version."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        data = parser.add_argument_group("data")
        data.add_argument("--phantoms", type=int, required=True, help="training phantoms")
        data.add_argument("--held-out", type=int, default=2, help="phantoms kept for testing")
        data.add_argument("--seed", type=int, default=0, help="first phantom seed")
        data.add_argument("--shape", type=int_tuple, default=(32, 64, 64))
        net = parser.add_argument_group("network and training")
        net.add_argument("--iterations", type=int, default=400)
        net.add_argument("--channels", type=int_tuple, default=(16, 32, 64))
        net.add_argument("--batch-size", type=int, default=8)
        net.add_argument("--learning-rate", type=float, default=2e-3)
        net.add_argument("--steps", type=int, default=2, help="default DDIM sampling steps")
        net.add_argument("--threads", type=int, default=settings.INFERENCE_TORCH_THREADS)
        reg = parser.add_argument_group("registration")
        reg.add_argument("--name", default="pseudomri-ddim")
        reg.add_argument("--model-version", dest="model_version", default=None)
        reg.add_argument("--out", default=None, help="folder for checkpoint and metrics.json")
        reg.add_argument("--device", choices=DeviceRequirement.values, default="cpu")
        reg.add_argument("--activate", action="store_true")
        reg.add_argument("--no-register", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.common import limit_threads
        from inference.pseudomri import PseudoMRIConfig
        from inference.training_runs import PseudoMRIPhantomRun, run_pseudomri_on_phantoms

        limit_threads(options["threads"])
        try:
            config = PseudoMRIConfig(
                block_out_channels=options["channels"],
                inference_steps=options["steps"],
                iterations=options["iterations"],
                batch_size=options["batch_size"],
                learning_rate=options["learning_rate"],
                seed=options["seed"],
            )
            run = PseudoMRIPhantomRun(
                phantoms=options["phantoms"],
                held_out=options["held_out"],
                shape=options["shape"],
                seed=options["seed"],
                config=config,
            )
        except (TypeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        version = options["model_version"] or default_version()
        out = output_dir("pseudomri", options["name"], version, options["out"])
        try:
            outcome = run_pseudomri_on_phantoms(run, out=out, say=self.stdout.write)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Checkpoint {outcome.checkpoint} sha256 {outcome.sha256}")
        if options["no_register"]:
            return
        try:
            model = model_version_register(
                actor=None,
                task=ModelTask.PSEUDO_MRI,
                name=options["name"],
                version=version,
                checkpoint=outcome.checkpoint,
                device=options["device"],
                description=(
                    "Trained by manage.py train_pseudomri on synthetic cervical CT / T2 MRI "
                    "pairs. Its images are synthetic: never a substitute for an acquired MRI."
                ),
                activate=options["activate"],
            )
        except InferenceError as exc:
            raise CommandError(str(exc)) from exc
        state = "registered and activated" if model.is_active else "registered"
        self.stdout.write(self.style.SUCCESS(f"{model} {state} (id {model.pk})"))
