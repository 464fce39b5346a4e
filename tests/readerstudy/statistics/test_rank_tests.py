"""The Wilcoxon signed-rank test (``readerstudy.statistics.rank_tests``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from readerstudy.statistics import (
    wilcoxon_signed_rank,
)

# --- Wilcoxon --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["exact", "approx", "auto"])
def test_wilcoxon_all_zero_differences(method: Any) -> None:
    res = wilcoxon_signed_rank([3, 4, 5], [3, 4, 5], method=method)
    assert res.n == 0 and res.reason
    assert math.isnan(res.p) and math.isnan(res.statistic)


def test_wilcoxon_exact_with_ties_matches_full_permutation() -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        x = rng.integers(1, 6, size=11).astype(float)
        y = rng.integers(1, 6, size=11).astype(float)
        ours = wilcoxon_signed_rank(x, y, method="exact")
        d = (x - y)[x != y]
        ref = stats.wilcoxon(d, method=stats.PermutationMethod(n_resamples=np.inf))
        assert ours.ties and ours.p == pytest.approx(ref.pvalue, abs=1e-12)


def test_wilcoxon_auto_follows_r_defaults() -> None:
    x = [1.5, 2.0, 3.5, 4.0, 6.0, 7.5]
    assert wilcoxon_signed_rank(x, [0, 0, 0, 0, 0, 0]).method == "exact"
    assert wilcoxon_signed_rank(x, [0, 0, 0, 0, 0, 7.5]).method == "approx"  # a zero
    with pytest.raises(ValueError):
        wilcoxon_signed_rank(x, x[:-1], method="exact")
    with pytest.raises(ValueError):
        wilcoxon_signed_rank(x, x, method="permutation")  # type: ignore[arg-type]
