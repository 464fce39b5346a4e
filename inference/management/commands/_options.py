"""Argument helpers shared by the training commands."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone


def int_tuple(text: str) -> tuple[int, ...]:
    """Parse ``32,96,96`` into a tuple of ints."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected integers like 32,96,96, got {text!r}") from exc
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def float_tuple(text: str) -> tuple[float, ...]:
    """Parse ``5.0,0.94,0.94`` into a tuple of floats."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from exc
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers, got {text!r}")
    return values


def hu_window(text: str) -> tuple[float, float]:
    """Parse ``-250,350`` into a (low, high) HU window."""
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH in HU, got {text!r}") from exc
    if high <= low:
        raise argparse.ArgumentTypeError(f"the window needs LOW < HIGH, got {text!r}")
    return low, high


def default_version() -> str:
    """A version string from the current time, e.g. ``20240506-070809``."""
    now: dt.datetime = timezone.now()
    return now.strftime("%Y%m%d-%H%M%S")


def output_dir(task: str, name: str, version: str, out: str | None) -> Path:
    """Where a run writes its checkpoint and metrics (``--out`` or under the models dir)."""
    if out:
        return Path(out)
    return Path(settings.SAGITTAL_MODELS_DIR) / "runs" / task / f"{name}-{version}"


# --- data sources and the shared registration tail of the training commands -----------------------


def add_data_source(group: Any, *, phantoms_help: str) -> None:
    """``--phantoms N`` | ``--cases-dir DIR`` | ``--cases all|ID,ID``: one is required."""
    source = group.add_mutually_exclusive_group(required=True)
    source.add_argument("--phantoms", type=int, help=phantoms_help)
    source.add_argument(
        "--cases-dir",
        dest="cases_dir",
        type=Path,
        help="folder of cases, one sub-folder each (ct/ with label/ or mri/; docs/inference.md)",
    )
    source.add_argument(
        "--cases",
        dest="platform_cases",
        help="train on the platform's stored cases: 'all' (those with a CT and a reference "
        "series) or case ids separated by commas",
    )


def add_registration(parser: Any, *, default_name: str) -> None:
    """Where the trained model goes and how it is registered (the same for every task)."""
    from inference.models import DeviceRequirement

    reg = parser.add_argument_group("registration")
    reg.add_argument("--name", default=default_name)
    reg.add_argument("--model-version", dest="model_version", default=None)
    reg.add_argument("--out", default=None, help="folder for checkpoint and metrics.json")
    reg.add_argument("--device", choices=DeviceRequirement.values, default="cpu")
    reg.add_argument("--activate", action="store_true")
    reg.add_argument("--no-register", action="store_true")


def read_real_data(
    options: dict[str, Any], *, task: str, structures: Sequence[str], say: Any
) -> Any:
    """The ``TrainingData`` of ``--cases-dir`` or ``--cases``, in a seeded random order.

    Raises:
        CommandError: If the data cannot be used (the reason, no traceback).
    """
    import numpy as np

    from inference.training_cases import parse_case_ids, read_platform_cases
    from inference.training_data import TrainingData, TrainingDataError, read_cases_dir

    try:
        if options["cases_dir"] is not None:
            say(f"Reading the cases in {options['cases_dir']}")
            data = read_cases_dir(options["cases_dir"], task=task, structures=structures, say=say)
        else:
            say("Reading the platform's cases")
            ids = parse_case_ids(options["platform_cases"])
            data = read_platform_cases(ids, task=task, structures=structures)
    except TrainingDataError as exc:
        raise CommandError(str(exc)) from exc
    # The held-out cases are the last ones: shuffle so they are not the last folders or labels.
    order = np.random.default_rng(options["seed"]).permutation(len(data.cases))
    say(f"{len(data.cases)} cases read")
    return TrainingData([data.cases[int(i)] for i in order], data.summary)


def register_outcome(
    command: BaseCommand,
    outcome: Any,
    *,
    task: str,
    version: str,
    options: dict[str, Any],
    description: str,
) -> None:
    """Print the checkpoint, then register it as a model version unless ``--no-register``.

    Raises:
        CommandError: If registration is refused (nothing is registered then).
    """
    from inference.errors import InferenceError
    from inference.registry import model_version_register

    command.stdout.write(f"Checkpoint {outcome.checkpoint} sha256 {outcome.sha256}")
    command.stdout.write(f"Metrics {outcome.checkpoint.parent / 'metrics.json'}")
    if options["no_register"]:
        return
    try:
        model = model_version_register(
            actor=None,
            task=task,
            name=options["name"],
            version=version,
            checkpoint=outcome.checkpoint,
            device=options["device"],
            description=description,
            activate=options["activate"],
        )
    except InferenceError as exc:
        raise CommandError(str(exc)) from exc
    state = "registered and activated" if model.is_active else "registered"
    command.stdout.write(command.style.SUCCESS(f"{model} {state} (id {model.pk})"))


def data_description(summary: dict[str, Any]) -> str:
    """A sentence for the model card saying what the model was trained on."""
    if summary.get("source") == "cases directory":
        return f"{summary['cases']} cases from the folder {summary['cases_dir']}"
    if summary.get("source") == "platform cases":
        return f"{summary['cases']} of the platform's stored cases"
    return str(summary.get("source", "unknown data"))
