"""Wilson intervals, diagnostic accuracy and McNemar (``readerstudy.statistics.proportions``)."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from readerstudy.statistics import (
    diagnostic_accuracy,
    mcnemar,
    wilson_ci,
)

# --- Proportions -----------------------------------------------------------------------------


def test_wilson_zero_successes_starts_at_exactly_zero() -> None:
    res = wilson_ci(0, 7)
    assert (res.value, res.ci_low) == (0.0, 0.0)
    assert 0.0 < res.ci_high < 1.0 and res.reason is None


def test_wilson_all_successes_ends_at_exactly_one() -> None:
    res = wilson_ci(7, 7)
    assert (res.value, res.ci_high) == (1.0, 1.0)
    assert 0.0 < res.ci_low < 1.0


def test_wilson_n_zero_is_nan_with_reason() -> None:
    res = wilson_ci(0, 0)
    assert res.reason and math.isnan(res.value) and math.isnan(res.ci_low)


@pytest.mark.parametrize(("s", "n"), [(-1, 5), (6, 5), (1, -1)])
def test_wilson_invalid_counts_raise(s: int, n: int) -> None:
    with pytest.raises(ValueError):
        wilson_ci(s, n)


def test_wilson_matches_the_closed_form() -> None:
    z = stats.norm.ppf(0.975)
    s, n = 5, 7
    p = s / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    res = wilson_ci(s, n)
    assert (res.ci_low, res.ci_high) == pytest.approx((centre - half, centre + half), abs=1e-12)


# Reader A and B accuracies of PROTOCOLS.md section 1 (session 1 against session 2).
READER_A = [(7, 7), (5, 7), (7, 7), (4, 7), (5, 7), (5, 7)]
READER_B = [(6, 7), (3, 7), (4, 7), (2, 7), (4, 7), (4, 7)]


@pytest.mark.parametrize(
    ("counts", "percents"),
    [
        (READER_A, ["100%", "71.4%", "100%", "57.1%", "71.4%", "71.4%"]),
        (READER_B, ["85.7%", "42.9%", "57.1%", "28.6%", "57.1%", "57.1%"]),
    ],
    ids=["reader-A", "reader-B"],
)
def test_protocol_reader_accuracies(counts: list[tuple[int, int]], percents: list[str]) -> None:
    for (correct, n), published in zip(counts, percents, strict=True):
        reference = [True] * 4 + [False] * 3
        answers = [r if i < correct else not r for i, r in enumerate(reference)]
        res = diagnostic_accuracy(answers, reference, positive=True).accuracy
        assert (res.successes, res.n) == (correct, n)
        shown = f"{100 * res.value:.1f}%".replace("100.0%", "100%")
        assert shown == published
        assert res.ci_low <= res.value <= res.ci_high


def test_protocol_reader_a_disc_injury_wilson_interval() -> None:
    res = wilson_ci(5, 7)
    assert f"{100 * res.value:.1f}% ({res.successes}/{res.n})" == "71.4% (5/7)"
    assert (round(res.ci_low, 3), round(res.ci_high, 3)) == (0.359, 0.918)


@pytest.mark.parametrize(
    ("s", "n", "published"),
    [(722, 749, 96.4), (700, 749, 93.5), (671, 749, 89.6), (77, 107, 72.0), (98, 107, 91.6)],
)
def test_protocol_inversion_time_percentages(s: int, n: int, published: float) -> None:
    assert round(100 * wilson_ci(s, n).value, 1) == published


def test_diagnostic_accuracy_table_and_empty_denominators() -> None:
    pred = ["injury", "injury", "intact", "intact", "injury", "intact"]
    ref = ["injury", "intact", "intact", "injury", "injury", "intact"]
    res = diagnostic_accuracy(pred, ref, positive="injury")
    assert (res.tp, res.fp, res.tn, res.fn) == (2, 1, 2, 1)
    assert res.sensitivity.value == pytest.approx(2 / 3)
    assert res.specificity.value == pytest.approx(2 / 3)
    assert res.ppv.value == pytest.approx(2 / 3) and res.npv.value == pytest.approx(2 / 3)
    no_positive = diagnostic_accuracy(["intact"] * 3, ["intact"] * 3, positive="injury")
    assert no_positive.accuracy.value == 1.0
    assert math.isnan(no_positive.sensitivity.value) and no_positive.sensitivity.reason
    assert diagnostic_accuracy([], [], positive=True).reason
    with pytest.raises(ValueError):
        diagnostic_accuracy([True], [True, False], positive=True)


def test_mcnemar_b_equals_c_is_not_corrected() -> None:
    a = [True, True, False, False, True, False]
    b = [False, False, True, True, True, False]
    chi = mcnemar(a, b, exact=False)
    assert (chi.b, chi.c, chi.statistic, chi.p, chi.corrected) == (2, 2, 0.0, 1.0, False)
    assert mcnemar(a, b, exact=True).p == 1.0


def test_mcnemar_without_discordant_pairs_exact_p_is_one_chi_square_undefined() -> None:
    # The exact test conditions on the discordant pairs: with none, the one possible outcome
    # was observed (p = 1). The chi-square is 0/0.
    exact = mcnemar([True, False, True], [True, False, True], exact=True)
    assert exact.p == 1.0 and exact.statistic == 0.0 and exact.reason is None
    approx = mcnemar([True, False, True], [True, False, True], exact=False)
    assert math.isnan(approx.p) and math.isnan(approx.statistic)
    assert approx.reason and "exact test gives p = 1" in approx.reason


def test_mcnemar_exact_is_the_sign_test_of_protocol_2() -> None:
    # NC-CTM closer 5/25, MRM closer 8/25, equal 12/25: the sign test on the 13 untied cases.
    nc_ctm_closer = [True] * 5 + [False] * 8 + [False] * 12
    mrm_closer = [False] * 5 + [True] * 8 + [False] * 12
    res = mcnemar(nc_ctm_closer, mrm_closer, exact=True)
    assert (res.b, res.c) == (5, 8)
    assert res.p == pytest.approx(stats.binomtest(5, 13).pvalue, abs=1e-12)
