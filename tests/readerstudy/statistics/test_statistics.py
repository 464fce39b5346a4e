"""Tests of readerstudy.statistics against the published reference cases and edge cases.

Every case in ``reference_vectors.json`` (beside this file) is checked field by field within its own
tolerance. A vector field that is not checked must be listed in ``NOT_OFFERED`` with the reason,
so a new field in the vectors fails here until someone decides about it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score, f1_score, jaccard_score

from readerstudy.statistics import (
    Result,
    bland_altman,
    cnr,
    cohen_kappa,
    cohen_kappa_from_table,
    diagnostic_accuracy,
    fleiss_kappa,
    icc,
    mcnemar,
    pearson,
    segmentation_overlap,
    wilcoxon_signed_rank,
    wilson_ci,
)

# The reference cases, each with its source citation (``source``, ``published``, ``notes``):
# published values from the literature and R/statsmodels/scipy test suites, kept in the repo.
VECTORS_PATH = Path(__file__).with_name("reference_vectors.json")


def _load_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return vectors


VECTORS = _load_vectors()

# Vector fields the platform deliberately does not offer, with the reason.
NOT_OFFERED: dict[str, dict[str, str]] = {
    "mcnemar": {
        "p_midp": "mid-p McNemar is not offered: the issue asks for the exact binomial test "
        "and R's chi-square",
        "df": "the McNemar chi-square always has 1 degree of freedom",
    },
    "proportion_wilson_ci": {
        "cc_variant": "the continuity-corrected Wilson interval is not offered (issue: Wilson)",
    },
    "icc": {
        "alt_irr_mcgraw_wong": "irr's Satterthwaite-df alternative; the platform follows the "
        "vectors' primary reference psych::ICC / pingouin",
    },
}


def _flatten(expected: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in expected.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _weights(params: dict[str, Any], key: str = "weight_matrix_disagreement") -> Any:
    kind = params.get("weights", "none")
    if kind == "custom":
        return params[key]
    return None if kind == "none" else kind


def _expand_table(table: Sequence[Sequence[int]], cats: Sequence[Hashable]) -> tuple[list, list]:
    a: list[Hashable] = []
    b: list[Hashable] = []
    for i, row in enumerate(table):
        for j, count in enumerate(row):
            a += [cats[i]] * count
            b += [cats[j]] * count
    return a, b


def _kappa_fields(res: Any) -> dict[str, Any]:
    return {
        f: getattr(res, f)
        for f in (
            "value",
            "se",
            "se0",
            "ci_low",
            "ci_high",
            "z",
            "p",
            "p_one_sided",
            "observed_agreement",
            "expected_agreement",
        )
    }


def _actual_cohen(vector: dict[str, Any]) -> dict[str, Any]:
    inp, params = vector["input"], vector["params"]
    if inp["format"] == "contingency_table":
        cats = inp["categories_in_order"]
        a, b = _expand_table(inp["table"], cats)
        assert len(a) == inp["n"]
    else:
        cats, a, b = params["levels"], inp["rater_a"], inp["rater_b"]
    res = cohen_kappa(a, b, categories=cats, weights=_weights(params))
    actual = _kappa_fields(res)
    if inp["format"] == "contingency_table":
        from_table = cohen_kappa_from_table(inp["table"], weights=_weights(params))
        assert from_table == res
    if "weight_matrix_disagreement_nonsymmetric" in params:
        other = _weights(params, "weight_matrix_disagreement_nonsymmetric")
        actual["value_nonsymmetric_weights"] = cohen_kappa(
            a, b, categories=cats, weights=other
        ).value
    return actual


def _fleiss_ratings(inp: dict[str, Any]) -> tuple[list[list[Hashable]], list[Hashable]]:
    if inp["format"] == "subject_by_category_counts":
        counts = inp["counts"]
        cats: list[Hashable] = list(range(len(counts[0])))
        ratings = [[c for c, m in zip(cats, row, strict=True) for _ in range(m)] for row in counts]
        return ratings, cats
    ratings = inp["ratings"]
    if isinstance(inp.get("categories"), dict):
        cats = [int(c) for c in inp["categories"]]
    else:
        cats = sorted({r for row in ratings for r in row})
    return ratings, cats


def _actual_fleiss(vector: dict[str, Any]) -> dict[str, Any]:
    ratings, cats = _fleiss_ratings(vector["input"])
    res = fleiss_kappa(ratings, categories=cats)
    fields = ("value", "p_bar", "p_e", "se0", "z", "p", "category_kappa", "category_se0")
    actual = {f: getattr(res, f) for f in fields}
    actual["category_z"] = res.category_z
    actual["percent_all_raters_agree"] = res.percent_all_raters_agree
    return actual


def _actual_percent_agreement(vector: dict[str, Any]) -> dict[str, Any]:
    ratings, cats = _fleiss_ratings(vector["input"])
    res = fleiss_kappa(ratings, categories=cats)
    return {
        "all_raters_agree": res.percent_all_raters_agree,
        "all_raters_agree_percent": 100 * res.percent_all_raters_agree,
        "mean_pairwise": res.p_bar,
    }


def _actual_icc(vector: dict[str, Any]) -> dict[str, Any]:
    res = icc(vector["input"]["matrix"])
    actual: dict[str, Any] = {
        "anova_mean_squares.BMS": res.bms,
        "anova_mean_squares.WMS": res.wms,
        "anova_mean_squares.JMS": res.jms,
        "anova_mean_squares.EMS": res.ems,
    }
    for name in vector["expected"]:
        if not name.startswith("ICC("):
            continue
        form = res[name]
        actual.update(
            {
                f"{name}.shrout_fleiss_name": form.name,
                f"{name}.mcgraw_wong_name": form.mcgraw_wong_name,
                f"{name}.value": form.value,
                f"{name}.F": form.f,
                f"{name}.df1": form.df1,
                f"{name}.df2": form.df2,
                f"{name}.p": form.p,
                f"{name}.ci_low": form.ci_low,
                f"{name}.ci_high": form.ci_high,
            }
        )
    return actual


def _actual_wilcoxon(vector: dict[str, Any]) -> dict[str, Any]:
    x, y = vector["input"]["x"], vector["input"]["y"]
    approx = wilcoxon_signed_rank(x, y, method="approx")
    exact = wilcoxon_signed_rank(x, y, method="exact")
    n, v = approx.n, approx.statistic
    assert exact.statistic == v and exact.n == n
    t_minus = n * (n + 1) / 2 - v
    return {
        "n_nonzero": n,
        "T_plus": v,
        "T_minus": t_minus,
        "signed_rank_sum_W": v - t_minus,
        "statistic_scipy_two_sided": min(v, t_minus),
        "p_two_sided_cc": approx.p,
        "p_two_sided_no_cc": wilcoxon_signed_rank(x, y, method="approx", correction=False).p,
        "p_greater_no_cc": wilcoxon_signed_rank(
            x, y, method="approx", correction=False, alternative="greater"
        ).p,
        "p_exact": exact.p,
        "p_exact_conditional_permutation": exact.p,
    }


def _actual_mcnemar(vector: dict[str, Any]) -> dict[str, Any]:
    a, b = _expand_table(vector["input"]["table"], [True, False])
    cc = mcnemar(a, b, exact=False)
    no_cc = mcnemar(a, b, exact=False, correction=False)
    return {
        "b_discordant_01": cc.b,
        "c_discordant_10": cc.c,
        "chi2_cc": cc.statistic,
        "p_cc": cc.p,
        "chi2_no_cc": no_cc.statistic,
        "p_no_cc": no_cc.p,
        "p_exact": mcnemar(a, b, exact=True).p,
    }


def _actual_wilson(vector: dict[str, Any]) -> dict[str, Any]:
    res = wilson_ci(vector["input"]["successes"], vector["input"]["n"])
    return {"proportion": res.value, "ci_low": res.ci_low, "ci_high": res.ci_high}


ACTUAL: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "cohen_kappa": _actual_cohen,
    "weighted_cohen_kappa": _actual_cohen,
    "fleiss_kappa": _actual_fleiss,
    "percent_agreement": _actual_percent_agreement,
    "icc": _actual_icc,
    "wilcoxon_signed_rank": _actual_wilcoxon,
    "mcnemar": _actual_mcnemar,
    "proportion_wilson_ci": _actual_wilson,
}


def test_every_reference_vector_cites_its_source() -> None:
    assert len(VECTORS) >= 28
    for vector in VECTORS:
        assert "expected" in vector and vector.get("source"), vector["id"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_reference_vector(vector: dict[str, Any]) -> None:
    metric = vector["metric"]
    assert metric in ACTUAL, f"no test mapping for metric {metric!r} ({vector['id']})"
    actual = ACTUAL[metric](vector)
    tol = vector["tolerance"]
    rtol, atol = float(tol.get("rel", 0.0)), float(tol.get("abs", 0.0))
    skipped = NOT_OFFERED.get(metric, {})
    checked = 0
    for key, expected in _flatten(vector["expected"]):
        if any(part in skipped for part in key.split(".")):
            continue
        assert key in actual, f"{vector['id']}: expected field {key!r} is not checked"
        got = actual[key]
        if isinstance(expected, str):
            assert got == expected, f"{vector['id']}.{key}: {got!r} != {expected!r}"
        else:
            ok = np.isclose(np.asarray(got, float), np.asarray(expected, float), rtol, atol)
            assert np.all(ok), f"{vector['id']}.{key}: {got!r} != {expected!r}"
        checked += 1
    assert checked > 0


# --- Cohen's kappa ---------------------------------------------------------------------------

ANX_A = [3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4]
ANX_B = [2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2]


def test_unused_categories_count_for_weighted_kappa() -> None:
    declared = cohen_kappa(ANX_A, ANX_B, categories=range(1, 7), weights="quadratic")
    observed = cohen_kappa(ANX_A, ANX_B, categories=[1, 2, 3, 4, 6], weights="quadratic")
    assert declared.value != pytest.approx(observed.value)
    sk = cohen_kappa_score(ANX_A, ANX_B, labels=list(range(1, 7)), weights="quadratic")
    assert declared.value == pytest.approx(sk, abs=1e-12)


def test_unused_category_leaves_unweighted_kappa_unchanged() -> None:
    with_unused = cohen_kappa(ANX_A, ANX_B, categories=range(1, 7))
    without = cohen_kappa(ANX_A, ANX_B, categories=[1, 2, 3, 4, 6])
    assert with_unused.value == pytest.approx(without.value, abs=1e-12)
    assert with_unused.se == pytest.approx(without.se, abs=1e-12)


def test_weight_matrix_is_disagreement_and_scale_free() -> None:
    cats = list(range(1, 7))
    linear = cohen_kappa(ANX_A, ANX_B, categories=cats, weights="linear")
    matrix = [[3.0 * abs(i - j) for j in range(6)] for i in range(6)]
    custom = cohen_kappa(ANX_A, ANX_B, categories=cats, weights=matrix)
    assert custom.weights == "custom"
    for field in ("value", "se", "se0", "z", "p", "observed_agreement", "expected_agreement"):
        assert getattr(custom, field) == pytest.approx(getattr(linear, field), abs=1e-12)


@pytest.mark.parametrize(
    "weights",
    [
        np.eye(3),  # agreement weights: 1 on the diagonal
        np.ones((2, 2)) - np.eye(2),  # wrong size
        -(np.ones((3, 3)) - np.eye(3)),  # negative
        np.zeros((3, 3)),
        "cubic",
    ],
)
def test_bad_weights_are_rejected(weights: Any) -> None:
    with pytest.raises(ValueError):
        cohen_kappa([1, 2, 3], [1, 2, 2], categories=[1, 2, 3], weights=weights)


def test_cohen_input_errors() -> None:
    with pytest.raises(ValueError, match="same length"):
        cohen_kappa([1, 2], [1], categories=[1, 2])
    with pytest.raises(ValueError, match="not one of the categories"):
        cohen_kappa([1, 3], [1, 2], categories=[1, 2])
    with pytest.raises(ValueError, match="duplicates"):
        cohen_kappa([1, 2], [1, 2], categories=[1, 2, 2])


@pytest.mark.parametrize(
    ("a", "b", "cats"),
    [
        ([], [], ["yes", "no"]),  # empty
        (["yes"] * 5, ["yes"] * 5, ["yes", "no"]),  # one category only
        (["yes"] * 4, ["yes", "no", "yes", "no"], ["yes", "no"]),  # one rater constant
        (["yes", "yes"], ["yes", "yes"], ["yes"]),  # a single declared category
    ],
)
@pytest.mark.parametrize("weights", [None, "linear"])
def test_cohen_degenerate_input_gives_nan_with_reason(
    a: list[str], b: list[str], cats: list[str], weights: str | None
) -> None:
    res = cohen_kappa(a, b, categories=cats, weights=weights)
    assert res.reason
    for field in ("value", "se", "se0", "ci_low", "ci_high", "z", "p"):
        assert math.isnan(getattr(res, field)), field
    assert res.n == len(a)


def test_cohen_perfect_agreement_is_one_with_a_test() -> None:
    res = cohen_kappa(["a", "b", "a", "b"], ["a", "b", "a", "b"], categories=["a", "b", "c"])
    assert res.value == 1.0 and res.reason is None
    assert res.observed_agreement == 1.0 and res.p < 0.05


# --- Fleiss' kappa ---------------------------------------------------------------------------


def test_fleiss_unused_category_counts_but_keeps_kappa() -> None:
    ratings = [["a", "a", "b"], ["b", "b", "b"], ["a", "b", "a"], ["a", "a", "a"]]
    used = fleiss_kappa(ratings, categories=["a", "b"])
    declared = fleiss_kappa(ratings, categories=["a", "b", "c"])
    assert declared.value == pytest.approx(used.value, abs=1e-12)
    assert len(declared.category_kappa) == 3 and math.isnan(declared.category_kappa[2])


@pytest.mark.parametrize(
    "ratings",
    [[], [["a"], ["b"], ["a"]], [["a", "a"], ["a", "a"], ["a", "a"]]],
    ids=["empty", "one-rater", "one-category"],
)
def test_fleiss_degenerate_input_gives_nan_with_reason(ratings: list[list[str]]) -> None:
    res = fleiss_kappa(ratings, categories=["a", "b"])
    assert res.reason
    assert math.isnan(res.value) and math.isnan(res.z) and math.isnan(res.p)


def test_fleiss_unequal_ratings_per_subject_is_an_error() -> None:
    with pytest.raises(ValueError):
        fleiss_kappa([["a", "b"], ["a"]], categories=["a", "b"])


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


@pytest.mark.parametrize("exact", [True, False])
def test_mcnemar_without_discordant_pairs_is_nan(exact: bool) -> None:
    res = mcnemar([True, False, True], [True, False, True], exact=exact)
    assert res.reason and math.isnan(res.p) and math.isnan(res.statistic)


def test_mcnemar_exact_is_the_sign_test_of_protocol_2() -> None:
    # NC-CTM closer 5/25, MRM closer 8/25, equal 12/25: the sign test on the 13 untied cases.
    nc_ctm_closer = [True] * 5 + [False] * 8 + [False] * 12
    mrm_closer = [False] * 5 + [True] * 8 + [False] * 12
    res = mcnemar(nc_ctm_closer, mrm_closer, exact=True)
    assert (res.b, res.c) == (5, 8)
    assert res.p == pytest.approx(stats.binomtest(5, 13).pvalue, abs=1e-12)


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
