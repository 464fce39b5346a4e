"""ICC, Pearson, Bland-Altman and CNR (``readerstudy.statistics.continuous``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from readerstudy.statistics import (
    bland_altman,
    cnr,
    icc,
    pearson,
)

# --- Numeric agreement -----------------------------------------------------------------------


def test_icc_lookup_and_degenerate_matrices() -> None:
    res = icc([[1, 2], [3, 5], [4, 4], [6, 8]])
    assert res["ICC2"] is res.icc2 and res["ICC(3,k)"] is res.icc3k and res["ICC(1,2)"] is res.icc1k
    with pytest.raises(KeyError):
        res["ICC4"]
    constant = icc([[3, 3], [3, 3], [3, 3]])
    assert constant.reason and math.isnan(constant.icc2.value)
    assert icc([[1, 2]]).reason  # one subject
    same_subjects = icc([[1, 2], [2, 1]])
    assert same_subjects.reason and math.isnan(same_subjects.icc1.value)


def test_icc_of_a_pure_rater_offset_keeps_the_one_way_test() -> None:
    # Rater 2 = rater 1 + 1: no residual variance after the rater effect, but the subjects differ
    # from the within-subject variance: ICC(1) has F = bms / wms = 5 / 0.5 = 10 on (4, 5) df and
    # a finite interval (psych::ICC gives the same); only the two-way forms' tests are undefined.
    res = icc([[1, 2], [2, 3], [5, 6], [3, 4], [4, 5]])
    assert res.bms == pytest.approx(5.0) and res.wms == pytest.approx(0.5)
    one_way = res.icc1
    assert one_way.f == pytest.approx(10.0) and (one_way.df1, one_way.df2) == (4.0, 5.0)
    assert one_way.p == pytest.approx(float(stats.f.sf(10.0, 4, 5)))
    assert one_way.value == pytest.approx((5 - 0.5) / (5 + 0.5))
    assert 0 < one_way.ci_low < one_way.value < one_way.ci_high < 1
    assert math.isfinite(res.icc1k.ci_low) and math.isfinite(res.icc1k.f)
    assert res.icc3.value == pytest.approx(1.0) and math.isnan(res.icc3.f)
    assert math.isnan(res.icc2.ci_low) and math.isnan(res.icc2k.p)
    assert res.reason and "offset" in res.reason and "agree exactly" not in res.reason


def test_icc_perfect_agreement_is_one_without_interval() -> None:
    res = icc([[1, 1], [2, 2], [4, 4]])
    assert res.icc2.value == pytest.approx(1.0) and res.icc3.value == pytest.approx(1.0)
    assert res.reason and math.isnan(res.icc2.ci_low) and math.isnan(res.icc2.p)


def test_icc_drops_incomplete_subjects() -> None:
    rows = [[9.0, 2.0, 5.0], [6.0, 1.0, 3.0], [8.0, 4.0, 6.0], [7.0, 1.0, 2.0]]
    full = icc(rows)
    with_gap = icc([*rows, [5.0, math.nan, 4.0]])
    assert with_gap.n_subjects == 4 and with_gap.icc2 == full.icc2


def test_pearson_fisher_interval_and_degenerate_input() -> None:
    x = [0.61, 0.72, 0.80, 0.95, 1.02, 1.10, 1.21]
    y = [0.60, 0.70, 0.85, 0.90, 1.05, 1.05, 1.30]
    res = pearson(x, y)
    r, n = np.corrcoef(x, y)[0, 1], len(x)
    half = stats.norm.ppf(0.975) / math.sqrt(n - 3)
    assert res.value == pytest.approx(r, abs=1e-12)
    assert res.ci_low == pytest.approx(math.tanh(math.atanh(r) - half), abs=1e-9)
    assert res.ci_high == pytest.approx(math.tanh(math.atanh(r) + half), abs=1e-9)
    assert res.p == pytest.approx(stats.pearsonr(x, y).pvalue, abs=1e-12)
    assert pearson([1, 2], [2, 1]).reason
    constant = pearson([1, 1, 1, 1], [1, 2, 3, 4])
    assert constant.reason and math.isnan(constant.value)
    assert pearson([*x, math.nan], [*y, 1.0]).n == n


def test_bland_altman_limits() -> None:
    res = bland_altman([10, 12, 11, 14], [9, 12, 10, 12])
    diff = np.array([1, 0, 1, 2])
    assert res.bias == pytest.approx(1.0) and res.sd == pytest.approx(diff.std(ddof=1))
    assert res.loa_low == pytest.approx(1.0 - 1.959963984540054 * res.sd)
    assert res.loa_high == pytest.approx(1.0 + 1.959963984540054 * res.sd)
    assert bland_altman([1], [2]).reason and math.isnan(bland_altman([1], [2]).sd)
    with pytest.raises(ValueError):
        bland_altman([1, 2], [1])


def test_cnr_formula_of_protocol_2() -> None:
    assert cnr(40.0, -60.0, 25.0).value == pytest.approx(4.0)
    assert cnr(-60.0, 40.0, 25.0).value == pytest.approx(4.0)
    zero = cnr(40.0, 10.0, 0.0)
    assert zero.reason and math.isnan(zero.value)
    with pytest.raises(ValueError):
        cnr(40.0, 10.0, -1.0)
