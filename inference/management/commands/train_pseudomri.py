"""``manage.py train_pseudomri``: train, evaluate and register a pseudo-MRI model."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.management.commands._options import (
    add_data_source,
    add_registration,
    data_description,
    default_version,
    int_tuple,
    output_dir,
    read_real_data,
    register_outcome,
)
from inference.models import ModelTask


class Command(BaseCommand):
    help = (
        "Train the image-conditioned diffusion model (CT slice in, T2-weighted-like slice out) "
        "on synthetic cervical CT / MRI pairs (--phantoms), a folder of paired cases "
        "(--cases-dir: ct/ and mri/ on one grid) or the platform's stored cases (--cases), "
        "compare it with an intensity-mapping baseline on held-out cases (MAE, PSNR, SSIM), "
        "save a checksummed checkpoint with a metrics JSON and register it as a model version."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        data = parser.add_argument_group("data")
        add_data_source(data, phantoms_help="number of training phantoms")
        data.add_argument("--held-out", type=int, default=2, help="cases kept for testing")
        data.add_argument("--seed", type=int, default=0, help="first phantom seed; split seed")
        data.add_argument("--shape", type=int_tuple, default=(32, 64, 64), help="phantoms")
        net = parser.add_argument_group("network and training")
        net.add_argument("--iterations", type=int, default=400)
        net.add_argument("--channels", type=int_tuple, default=(16, 32, 64))
        net.add_argument("--batch-size", type=int, default=8)
        net.add_argument("--learning-rate", type=float, default=2e-3)
        net.add_argument("--steps", type=int, default=2, help="default DDIM sampling steps")
        net.add_argument("--threads", type=int, default=settings.INFERENCE_TORCH_THREADS)
        add_registration(parser, default_name="pseudomri-ddim")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.common import limit_threads
        from inference.pseudomri import PseudoMRIConfig
        from inference.training_runs import (
            PseudoMRIRun,
            pseudomri_phantom_data,
            run_pseudomri,
            split_pairs,
        )

        limit_threads(options["threads"])
        say = self.stdout.write
        try:
            config = PseudoMRIConfig(
                block_out_channels=options["channels"],
                inference_steps=options["steps"],
                iterations=options["iterations"],
                batch_size=options["batch_size"],
                learning_rate=options["learning_rate"],
                seed=options["seed"],
            )
            run = PseudoMRIRun(config=config)
            if options["phantoms"] is not None:
                say(
                    f"Generating {options['phantoms']} + {options['held_out']} cervical "
                    f"phantoms {options['shape']}"
                )
                train, test, summary = pseudomri_phantom_data(
                    options["phantoms"],
                    options["held_out"],
                    shape=options["shape"],
                    seed=options["seed"],
                )
            else:
                data = read_real_data(options, task="pseudomri", structures=(), say=say)
                train, test = split_pairs(data.cases, options["held_out"])
                summary = data.summary
        except (TypeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        version = options["model_version"] or default_version()
        out = output_dir("pseudomri", options["name"], version, options["out"])
        try:
            outcome = run_pseudomri(train, test, summary, run, out=out, say=say)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        register_outcome(
            self,
            outcome,
            task=ModelTask.PSEUDO_MRI,
            version=version,
            options=options,
            description=(
                f"Trained by manage.py train_pseudomri on {data_description(summary)} (CT / T2 "
                "MRI pairs). Its images are synthetic: never a substitute for an acquired MRI."
            ),
        )
