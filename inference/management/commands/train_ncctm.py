"""``manage.py train_ncctm``: train, evaluate and register an NC-CTM segmentation model."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.management.commands._options import (
    add_data_source,
    add_registration,
    data_description,
    default_version,
    float_tuple,
    int_tuple,
    output_dir,
    read_real_data,
    register_outcome,
)
from inference.models import ModelTask


class Command(BaseCommand):
    help = (
        "Train the NC-CTM 3D U-Net (dural canal and nerve roots) on synthetic lumbar phantoms "
        "(--phantoms), a folder of cases (--cases-dir: CT plus SEG or label-mask series) or the "
        "platform's stored cases (--cases), evaluate it on held-out cases (optionally with "
        "k-fold cross-validation and a shuffled-label control), save a checksummed checkpoint "
        "with a metrics JSON and register it as a model version."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        data = parser.add_argument_group("data")
        add_data_source(data, phantoms_help="number of synthetic lumbar phantoms")
        data.add_argument("--held-out", type=int, default=8, help="cases kept for testing")
        data.add_argument("--folds", type=int, default=0, help="k-fold CV (0: none; protocol: 5)")
        data.add_argument("--seed", type=int, default=0, help="first phantom seed; split seed")
        data.add_argument("--shape", type=int_tuple, default=(32, 192, 192), help="phantoms")
        data.add_argument("--crop", type=int_tuple, default=(32, 128, 128), help="phantoms")
        data.add_argument("--control", action="store_true", help="also train on shuffled labels")
        net = parser.add_argument_group("network and training")
        net.add_argument("--iterations", type=int, default=2000)
        net.add_argument("--channels", type=int_tuple, default=(16, 32, 64))
        net.add_argument("--patch", type=int_tuple, default=(16, 64, 64))
        net.add_argument("--spacing", type=float_tuple, default=(5.0, 0.9375, 0.9375))
        net.add_argument("--batch-size", type=int, default=2)
        net.add_argument("--learning-rate", type=float, default=3e-3)
        net.add_argument("--threads", type=int, default=settings.INFERENCE_TORCH_THREADS)
        add_registration(parser, default_name="ncctm-unet")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.common import limit_threads
        from inference.ncctm import NCCTMConfig
        from inference.training_runs import (
            NCCTMRun,
            check_ncctm_split,
            ncctm_phantom_data,
            run_ncctm,
        )

        limit_threads(options["threads"])
        say = self.stdout.write
        channels = options["channels"]
        try:
            config = NCCTMConfig(
                target_spacing=options["spacing"],
                patch_size=options["patch"],
                channels=channels,
                strides=(2,) * (len(channels) - 1),
                iterations=options["iterations"],
                batch_size=options["batch_size"],
                learning_rate=options["learning_rate"],
                seed=options["seed"],
            )
            run = NCCTMRun(
                held_out=options["held_out"],
                folds=options["folds"],
                control=options["control"],
                seed=options["seed"],
                config=config,
            )
            if options["phantoms"] is not None:
                check_ncctm_split(options["phantoms"], run)
        except (TypeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if options["phantoms"] is not None:
            say(
                f"Generating {options['phantoms']} lumbar phantoms {options['shape']} "
                f"(crop {options['crop']})"
            )
            try:
                cases, summary = ncctm_phantom_data(
                    options["phantoms"],
                    shape=options["shape"],
                    crop=options["crop"],
                    seed=options["seed"],
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        else:
            data = read_real_data(options, task="ncctm", structures=config.structures, say=say)
            cases, summary = data.cases, data.summary
        version = options["model_version"] or default_version()
        out = output_dir("ncctm", options["name"], version, options["out"])
        try:
            outcome = run_ncctm(cases, summary, run, out=out, say=say)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        register_outcome(
            self,
            outcome,
            task=ModelTask.NCCTM,
            version=version,
            options=options,
            description=f"Trained by manage.py train_ncctm on {data_description(summary)}.",
        )
