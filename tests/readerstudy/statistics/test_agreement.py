"""Cohen's and Fleiss' kappa (``readerstudy.statistics.agreement``): edge cases and input errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from readerstudy.statistics import (
    cohen_kappa,
    fleiss_kappa,
)

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
    assert custom.weights == "custom disagreement"
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


def test_agreement_weights_give_the_kappa_of_their_disagreement_weights() -> None:
    # vcd, psych and SAS take agreement weights w (1 on the diagonal); Cohen (1968) wrote
    # disagreement weights v. Same kappa, SEs and test for w = 1 - v / max(v).
    cats = list(range(1, 7))
    v = np.array([[abs(i - j) ** 1.5 for j in range(6)] for i in range(6)])
    by_disagreement = cohen_kappa(ANX_A, ANX_B, categories=cats, weights=v)
    w = 1 - v / v.max()
    by_agreement = cohen_kappa(ANX_A, ANX_B, categories=cats, agreement_weights=w)
    assert by_agreement.weights == "custom agreement"
    for field in ("value", "se", "se0", "z", "p", "ci_low", "ci_high"):
        assert getattr(by_agreement, field) == pytest.approx(getattr(by_disagreement, field))
    linear = 1 - np.abs(np.subtract.outer(range(6), range(6))) / 5
    assert cohen_kappa(
        ANX_A, ANX_B, categories=cats, agreement_weights=linear
    ).value == pytest.approx(cohen_kappa(ANX_A, ANX_B, categories=cats, weights="linear").value)


@pytest.mark.parametrize(
    ("weights", "agreement", "message"),
    [
        (None, np.zeros((6, 6)), "1 on the diagonal"),
        (None, np.full((6, 6), 1.5), r"\[0, 1\]"),
        (None, np.ones((6, 6)), "not all be 1"),
        (None, np.eye(3), "6 x 6"),
        ("linear", np.eye(6), "not both"),
    ],
)
def test_bad_agreement_weights_are_rejected(weights: Any, agreement: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cohen_kappa(
            ANX_A, ANX_B, categories=range(1, 7), weights=weights, agreement_weights=agreement
        )


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
@pytest.mark.parametrize(
    "ratings", [[0, 0, 0, 0, 1, 2], [0, 1, 2, 2, 1, 0, 0], [1, 1, 2, 2], [0, 2, 0, 2, 0, 2, 1]]
)
def test_perfect_agreement_has_se_zero_and_a_point_interval(
    ratings: list[int], weights: str | None
) -> None:
    # statsmodels' variance comes out about -7e-16 for some of these tables (its SE was NaN).
    res = cohen_kappa(ratings, ratings, categories=[0, 1, 2], weights=weights)
    assert res.value == pytest.approx(1.0) and res.reason is None
    assert res.se == pytest.approx(0.0, abs=1e-7)
    assert res.ci_low == pytest.approx(1.0) and res.ci_high == 1.0
    assert res.p < 0.05


def test_kappa_intervals_stay_within_minus_one_and_one_and_say_so() -> None:
    a, b = [0] * 5 + [1] * 5, [0] * 4 + [1] * 6
    res = cohen_kappa(a, b, categories=[0, 1])
    assert res.value + 1.96 * res.se > 1  # the Wald interval would pass 1 ...
    assert res.ci_high == 1.0 and res.ci_low == pytest.approx(res.value - 1.96 * res.se, rel=1e-3)
    assert "truncated to [-1, 1]" in res.ci_method  # ... and the result says how it was cut


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
