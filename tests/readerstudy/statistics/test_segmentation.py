"""Overlap of segmentations (``readerstudy.statistics.segmentation``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score

from readerstudy.statistics import (
    segmentation_overlap,
)

# --- Segmentation ----------------------------------------------------------------------------


def test_segmentation_both_empty_is_defined_as_perfect() -> None:
    res = segmentation_overlap(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)))
    assert (res.dice, res.jaccard, res.precision, res.recall) == (1.0, 1.0, 1.0, 1.0)
    assert res.reason and "empty" in res.reason


def test_segmentation_one_empty_mask() -> None:
    ref = np.zeros(10, bool)
    ref[:3] = True
    empty_pred = segmentation_overlap(np.zeros(10, bool), ref)
    assert empty_pred.dice == 0.0 and empty_pred.recall == 0.0
    assert math.isnan(empty_pred.precision) and empty_pred.reason
    empty_ref = segmentation_overlap(ref, np.zeros(10, bool))
    assert empty_ref.precision == 0.0 and math.isnan(empty_ref.recall)
    with pytest.raises(ValueError):
        segmentation_overlap(np.zeros(3), np.zeros(4))


def test_segmentation_reproduces_protocol_2_figures() -> None:
    # 11 voxels found, 1 false positive, 1 missed: the published NC-CTM U-Net figures.
    ref = np.zeros(20, bool)
    ref[:12] = True
    pred = np.zeros(20, bool)
    pred[1:13] = True
    res = segmentation_overlap(pred, ref)
    assert (round(res.precision, 3), round(res.recall, 3)) == (0.917, 0.917)
    assert (round(res.jaccard, 3), round(res.dice, 3)) == (0.846, 0.917)


def test_segmentation_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    pred, ref = rng.random((8, 8, 8)) > 0.6, rng.random((8, 8, 8)) > 0.5
    res = segmentation_overlap(pred, ref)
    assert res.dice == pytest.approx(f1_score(ref.ravel(), pred.ravel()), abs=1e-12)
    assert res.jaccard == pytest.approx(jaccard_score(ref.ravel(), pred.ravel()), abs=1e-12)
