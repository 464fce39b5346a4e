"""Overlap metrics per structure, computed by the statistics module's single implementation."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from readerstudy.statistics import segmentation_overlap

MEASURES = ("dice", "jaccard", "precision", "recall")
#: Key of the union of all structures (the NC-CTM mask as a whole).
FOREGROUND = "foreground"

Metrics = dict[str, dict[str, float]]


def structure_metrics(
    pred: npt.NDArray[np.integer], ref: npt.NDArray[np.integer], structures: Sequence[str]
) -> Metrics:
    """Dice, Jaccard, precision and recall for each structure and for their union.

    Args:
        pred: Predicted label map, ``i + 1`` = ``structures[i]``.
        ref: Reference label map on the same grid.
        structures: Structure names in label order.

    Returns:
        ``{name: {measure: value}}`` with one entry per structure plus ``"foreground"``.
    """
    masks = {name: (pred == i + 1, ref == i + 1) for i, name in enumerate(structures)}
    if len(structures) > 1:
        masks[FOREGROUND] = (pred > 0, ref > 0)
    out: Metrics = {}
    for name, (p, r) in masks.items():
        overlap = segmentation_overlap(p, r)
        out[name] = {m: float(getattr(overlap, m)) for m in MEASURES}
    if FOREGROUND not in out:
        out[FOREGROUND] = out[structures[0]]
    return out


def mean_metrics(per_case: Sequence[Metrics]) -> Metrics:
    """Average per-case metrics, ignoring undefined (NaN) values such as precision of nothing."""
    if not per_case:
        return {}
    out: Metrics = {}
    for name in per_case[0]:
        out[name] = {}
        for measure in MEASURES:
            values = [m[name][measure] for m in per_case if not math.isnan(m[name][measure])]
            out[name][measure] = float(np.mean(values)) if values else math.nan
    return out
