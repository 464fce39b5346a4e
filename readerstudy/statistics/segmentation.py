"""Overlap of a predicted segmentation mask with a reference mask (NC-CTM dural canal)."""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from ._base import NAN, Result


@dataclasses.dataclass(frozen=True, slots=True)
class SegmentationOverlap(Result):
    """Voxel overlap of two binary masks.

    Attributes:
        dice: ``2 TP / (2 TP + FP + FN)``.
        jaccard: ``TP / (TP + FP + FN)``.
        precision: ``TP / (TP + FP)``.
        recall: ``TP / (TP + FN)``.
        tp: voxels in both masks.
        fp: voxels in the prediction only.
        fn: voxels in the reference only.
        reason: a note when a measure is defined by convention or undefined, else None.
    """

    dice: float
    jaccard: float
    precision: float
    recall: float
    tp: int
    fp: int
    fn: int
    reason: str | None = None


def segmentation_overlap(pred: ArrayLike, ref: ArrayLike) -> SegmentationOverlap:
    """Dice, Jaccard, precision and recall of two binary masks of the same shape.

    Conventions: when BOTH masks are empty the prediction is exactly right, so all four measures
    are 1.0 (with a note in ``reason``; MONAI ``ignore_empty=False`` does the same). When only
    the prediction is empty precision is NaN (nothing was predicted), when only the reference
    is empty recall is NaN; Dice and Jaccard are then 0.

    Args:
        pred: predicted mask (non-zero = foreground).
        ref: reference mask (non-zero = foreground).

    Returns:
        The four overlap measures and the voxel counts.

    Raises:
        ValueError: if the shapes differ.
    """
    p = np.asarray(pred).astype(bool, copy=False)
    r = np.asarray(ref).astype(bool, copy=False)
    if p.shape != r.shape:
        raise ValueError(f"pred and ref must have the same shape, got {p.shape} and {r.shape}")
    tp = int(np.count_nonzero(p & r))
    fp = int(np.count_nonzero(p)) - tp
    fn = int(np.count_nonzero(r)) - tp
    if tp + fp + fn == 0:
        note = "both masks are empty: overlap defined as perfect (1.0)"
        return SegmentationOverlap(1.0, 1.0, 1.0, 1.0, 0, 0, 0, note)
    reason = None
    if tp + fp == 0:
        reason = "prediction is empty: precision is undefined"
    elif tp + fn == 0:
        reason = "reference is empty: recall is undefined"
    return SegmentationOverlap(
        dice=2 * tp / (2 * tp + fp + fn),
        jaccard=tp / (tp + fp + fn),
        precision=tp / (tp + fp) if tp + fp else NAN,
        recall=tp / (tp + fn) if tp + fn else NAN,
        tp=tp,
        fp=fp,
        fn=fn,
        reason=reason,
    )
