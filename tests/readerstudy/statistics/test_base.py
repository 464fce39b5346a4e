"""The result objects every statistic returns (``readerstudy.statistics._base``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from readerstudy.statistics import (
    Result,
    bland_altman,
    cnr,
    cohen_kappa,
    diagnostic_accuracy,
    fleiss_kappa,
    gwet_ac,
    icc,
    krippendorff_alpha,
    mcnemar,
    pabak,
    pearson,
    segmentation_overlap,
    wilcoxon_signed_rank,
    wilson_ci,
)
from tests.readerstudy.statistics.test_agreement import ANX_A, ANX_B

# --- Result objects --------------------------------------------------------------------------


def _all_results() -> list[Result]:
    return [
        cohen_kappa(ANX_A, ANX_B, categories=range(1, 7), weights="linear"),
        fleiss_kappa([["a", "a", "b"], ["b", "b", "b"]], categories=["a", "b"]),
        wilson_ci(5, 7),
        diagnostic_accuracy([True, False, True], [True, True, False], positive=True),
        icc([[9, 2, 5], [6, 1, 3], [8, 4, 6], [7, 1, 2]]),
        pearson([1, 2, 3, 4], [1, 3, 2, 4]),
        bland_altman([1, 2, 3], [1, 2, 4]),
        wilcoxon_signed_rank([1, 2, 3, 4], [2, 2, 5, 7], method="approx"),
        mcnemar([True, False, True], [False, False, True], exact=True),
        segmentation_overlap([1, 1, 0], [1, 0, 0]),
        cnr(1.0, 0.0, 1.0),
        gwet_ac([[1, 1], [1, 2], [2, 2]], categories=[1, 2], weights="linear"),
        krippendorff_alpha([[1, 1], [1, 2], [2, 2]], level="ordinal"),
        pabak([1, 1, 2], [1, 2, 2], categories=[1, 2]),
    ]


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_plain(v) for v in value.values())
    if isinstance(value, tuple | list):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (float, int, str, bool)


@pytest.mark.parametrize("result", _all_results(), ids=lambda r: type(r).__name__)
def test_results_are_frozen_plain_data(result: Result) -> None:
    assert dataclasses.is_dataclass(result) and not hasattr(result, "__dict__")
    data = result.as_dict()
    assert _plain(data), data
    assert "reason" in data
    json.dumps(data)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.reason = "changed"  # type: ignore[attr-defined]
