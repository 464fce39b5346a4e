"""Argument helpers shared by the training commands."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from django.conf import settings
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


def default_version() -> str:
    """A version string from the current time, e.g. ``20240506-070809``."""
    now: dt.datetime = timezone.now()
    return now.strftime("%Y%m%d-%H%M%S")


def output_dir(task: str, name: str, version: str, out: str | None) -> Path:
    """Where a run writes its checkpoint and metrics (``--out`` or under the models dir)."""
    if out:
        return Path(out)
    return Path(settings.SAGITTAL_MODELS_DIR) / "runs" / task / f"{name}-{version}"
