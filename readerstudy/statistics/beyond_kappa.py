"""Agreement coefficients that survive the kappa paradox: Gwet's AC1/AC2, Krippendorff's alpha
and PABAK.

Kappa collapses when one category dominates (Feinstein and Cicchetti 1990: two tables with the
same 85 % agreement give kappa 0.70 and 0.32); journals therefore ask for these beside it.

* ``gwet_ac``: Gwet's AC1 (unweighted) and AC2 (weighted) for two or more raters, missing
  ratings allowed, with the linearised variance of Gwet (2014, Handbook of Inter-Rater
  Reliability, 4th ed., ch. 5), the t interval on n - 1 df and its p-value, as R ``irrCAC``.
* ``krippendorff_alpha``: Krippendorff's alpha from the coincidence matrix (Krippendorff 2011,
  "Computing Krippendorff's alpha-reliability") for nominal, ordinal, interval and ratio data,
  missing ratings allowed. No SE: Krippendorff recommends a bootstrap, which a caller can run.
* ``pabak``: the prevalence- and bias-adjusted kappa of Byrt, Bishop and Carlin (1993),
  ``(q p_o - 1) / (q - 1)``, with the Wilson interval of ``p_o`` carried through.

Ratings are subjects x raters; a missing rating is ``None`` or NaN.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from ._base import NAN, Result, agreement_weight_matrix, check_categories
from .proportions import wilson_ci

Ratings = Sequence[Sequence[Hashable | None]]


@dataclasses.dataclass(frozen=True, slots=True)
class GwetAC(Result):
    """Gwet's AC1 (unweighted) or AC2 (weighted).

    Attributes:
        value: the coefficient.
        se: SE from Gwet's linearised variance (infinite population of subjects).
        ci_low, ci_high: the 95 % t interval (n - 1 df), truncated to [-1, 1].
        p: two-sided p of ``value / se`` on the t distribution with n - 1 df.
        p_one_sided: the one-sided p for H1 AC > 0 (what irrCAC reports).
        observed_agreement: weighted percent agreement p_a.
        chance_agreement: Gwet's chance agreement p_e.
        n_subjects: subjects with at least one rating.
        weights: "none", "linear", "quadratic" or "custom agreement".
        reason: why the coefficient is undefined (NaN fields), else None.
    """

    value: float
    se: float
    ci_low: float
    ci_high: float
    p: float
    p_one_sided: float
    observed_agreement: float
    chance_agreement: float
    n_subjects: int
    weights: str = "none"
    reason: str | None = None
    ci_method: str = "t on n - 1 df (Gwet's linearised variance), truncated to [-1, 1]"


@dataclasses.dataclass(frozen=True, slots=True)
class KrippendorffAlpha(Result):
    """Krippendorff's alpha.

    Attributes:
        value: ``1 - D_o / D_e``.
        observed_disagreement, expected_disagreement: D_o and D_e.
        n_pairable: pairable values (values of units with two or more of them).
        level: "nominal", "ordinal", "interval" or "ratio".
        reason: why alpha is undefined (NaN fields), else None.
    """

    value: float
    observed_disagreement: float
    expected_disagreement: float
    n_pairable: int
    level: str
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Pabak(Result):
    """Prevalence- and bias-adjusted kappa of two raters.

    Attributes:
        value: ``(q p_o - 1) / (q - 1)`` over q categories (``2 p_o - 1`` for yes/no).
        ci_low, ci_high: the Wilson interval of p_o, transformed the same way.
        observed_agreement: p_o.
        n: rated pairs.
        reason: why it is undefined, else None.
    """

    value: float
    ci_low: float
    ci_high: float
    observed_agreement: float
    n: int
    reason: str | None = None


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _counts(ratings: Ratings, categories: Sequence[Hashable]) -> NDArray[np.float64]:
    """Subjects x categories: how many raters put each subject in each category."""
    index = {category: i for i, category in enumerate(categories)}
    rows: list[int] = []
    columns: list[int] = []
    try:
        for row, subject in enumerate(ratings):
            # ``value == value`` is False for NaN only: a missing rating, like None.
            present = [index[value] for value in subject if value is not None and value == value]
            rows += [row] * len(present)
            columns += present
    except KeyError as exc:
        raise ValueError(f"rating {exc.args[0]!r} is not one of the categories") from None
    counts = np.zeros((len(ratings), len(categories)))
    np.add.at(counts, (rows, columns), 1.0)
    return counts


def _canonical_order(counts: NDArray[np.float64]) -> NDArray[np.float64]:
    """The subjects' rows sorted: the coefficients do not depend on the subjects' order, and
    with one order their floating-point sums do not either (the same readings listed in
    another order give the same bits, as a re-imported study must)."""
    return counts[np.lexsort(counts.T[::-1])] if counts.size else counts


def _agreement_weights(weights: str | ArrayLike | None, q: int) -> tuple[str, NDArray[np.float64]]:
    positions = np.arange(q, dtype=float)
    span = max(q - 1, 1)
    if weights is None or (isinstance(weights, str) and weights == "none"):
        return "none", np.eye(q)
    if isinstance(weights, str):
        if weights == "linear":
            return "linear", 1 - np.abs(positions[:, None] - positions) / span
        if weights == "quadratic":
            return "quadratic", 1 - (positions[:, None] - positions) ** 2 / span**2
        raise ValueError(
            f"unknown weights {weights!r}: use None, 'linear', 'quadratic' or a matrix"
        )
    return "custom agreement", agreement_weight_matrix(weights, q)


def gwet_ac(
    ratings: Ratings,
    *,
    categories: Iterable[Hashable],
    weights: str | ArrayLike | None = None,
) -> GwetAC:
    """Gwet's AC1 (``weights=None``) or AC2 of subjects x raters ratings.

    Args:
        ratings: one row per subject, one column per rater; ``None`` or NaN for a missing
            rating. Subjects nobody rated are dropped; subjects with one rating count for the
            category prevalences, not for the observed agreement (as irrCAC).
        categories: all categories, in scale order (the weights use their positions).
        weights: None, "linear", "quadratic" or a q x q matrix of agreement weights.

    Returns:
        The coefficient with its SE, interval and test; NaN with a reason when undefined.
    """
    cats = check_categories(categories)
    q = len(cats)
    kind, w = _agreement_weights(weights, q)
    counts = _canonical_order(_counts(ratings, cats))
    counts = counts[counts.sum(axis=1) > 0]
    n = counts.shape[0]
    per_subject = counts.sum(axis=1)
    several = per_subject >= 2
    n_several = int(several.sum())
    if q < 2:
        return _undefined_ac(n, kind, "fewer than two categories: AC is undefined")
    if n_several == 0:
        return _undefined_ac(n, kind, "no subject was rated twice: agreement is undefined")
    weighted = counts @ w.T
    pairs = np.where(several, per_subject * (per_subject - 1), 1.0)
    pa_i = np.where(several, (counts * (weighted - 1)).sum(axis=1) / pairs, 0.0)
    pa = float(pa_i.sum() / n_several)
    prevalence = (counts / per_subject[:, None]).mean(axis=0)
    scale = float(w.sum()) / (q * (q - 1))
    pe = scale * float((prevalence * (1 - prevalence)).sum())
    if math.isclose(pe, 1.0):
        return _undefined_ac(n, kind, "chance agreement is 1: AC is undefined", pa, pe)
    value = (pa - pe) / (1 - pe)
    # Gwet's linearisation: each subject's contribution to the coefficient, corrected for the
    # estimated chance agreement.
    pe_i = scale * (counts @ (1 - prevalence)) / per_subject
    # (a subject rated once adds to the prevalences only: no agreement, no chance agreement)
    ac_i = (n / n_several) * (pa_i - np.where(several, pe, 0.0)) / (1 - pe)
    ac_i = ac_i - 2 * (1 - value) * (pe_i - pe) / (1 - pe)
    if n < 2:
        return GwetAC(value, NAN, NAN, NAN, NAN, NAN, pa, pe, n, kind, "one subject: no SE")
    se = math.sqrt(float(((ac_i - value) ** 2).sum()) / (n * (n - 1)))
    t_crit = float(stats.t.ppf(0.975, n - 1))
    if se > 0:
        p_one = float(stats.t.sf(value / se, n - 1))
        p = float(2 * stats.t.sf(abs(value / se), n - 1))
    else:
        p = p_one = (0.0 if value > 0 else NAN) if value != 0 else NAN
    return GwetAC(
        value=value,
        se=se,
        ci_low=max(value - t_crit * se, -1.0),
        ci_high=min(value + t_crit * se, 1.0),
        p=p,
        p_one_sided=p_one,
        observed_agreement=pa,
        chance_agreement=pe,
        n_subjects=n,
        weights=kind,
    )


def _undefined_ac(n: int, kind: str, reason: str, pa: float = NAN, pe: float = NAN) -> GwetAC:
    return GwetAC(NAN, NAN, NAN, NAN, NAN, NAN, pa, pe, n, kind, reason)


LEVELS = ("nominal", "ordinal", "interval", "ratio")


def krippendorff_alpha(ratings: Ratings, *, level: str = "nominal") -> KrippendorffAlpha:
    """Krippendorff's alpha of subjects x raters ratings (missing values allowed).

    Args:
        ratings: one row per subject (unit), one column per rater (coder); ``None`` or NaN for
            a missing value. Ordinal values are ranked by their order; interval and ratio
            values must be numbers.
        level: "nominal", "ordinal", "interval" or "ratio" (the difference function).

    Returns:
        Alpha with its disagreements; NaN with a reason when undefined.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    units = [[v for v in row if not _missing(v)] for row in ratings]
    units = [values for values in units if len(values) >= 2]
    if not units:
        return KrippendorffAlpha(NAN, NAN, NAN, 0, level, "no unit has two values")
    values = sorted({v for unit in units for v in unit}, key=_sort_key)
    index = {v: i for i, v in enumerate(values)}
    size = len(values)
    counts = np.zeros((len(units), size))
    for row, unit in enumerate(units):
        for value in unit:
            counts[row, index[value]] += 1
    # Each unit adds (c c^T - diag(c)) / (m_u - 1): its ordered pairs of values from different
    # coders, weighted by 1 / (m_u - 1). Summed over units as one matrix product.
    counts = _canonical_order(counts)
    weighted = counts / (counts.sum(axis=1) - 1)[:, None]
    coincidences = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    totals = coincidences.sum(axis=1)
    n = float(totals.sum())
    delta = _differences(values, totals, level)
    observed = float((coincidences * delta).sum()) / n
    expected = float((np.outer(totals, totals) * delta).sum()) / (n * (n - 1))
    if expected == 0:
        return KrippendorffAlpha(
            NAN, observed, expected, int(n), level, "all values are the same: alpha is undefined"
        )
    return KrippendorffAlpha(1 - observed / expected, observed, expected, int(n), level)


def _sort_key(value: Hashable) -> tuple[int, object]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def _differences(
    values: Sequence[Hashable], totals: NDArray[np.float64], level: str
) -> NDArray[np.float64]:
    """The squared difference function delta^2 between every two values."""
    size = len(values)
    if level == "nominal":
        return 1.0 - np.eye(size)
    if level == "ordinal":
        # The ranks' distance: the values between c and k, ends counted half.
        cumulative = np.concatenate([[0.0], np.cumsum(totals)])
        delta = np.zeros((size, size))
        for c in range(size):
            for k in range(size):
                low, high = min(c, k), max(c, k)
                between = cumulative[high + 1] - cumulative[low]
                delta[c, k] = (between - (totals[c] + totals[k]) / 2) ** 2
        return delta
    try:
        numbers = np.array([float(v) for v in values])  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{level} alpha needs numeric values") from exc
    difference = numbers[:, None] - numbers
    if level == "interval":
        return difference**2
    total = numbers[:, None] + numbers
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(total == 0, 0.0, difference / total)
    return ratio**2


def pabak(a: Sequence[Hashable], b: Sequence[Hashable], *, categories: Iterable[Hashable]) -> Pabak:
    """PABAK of two raters over the declared categories (pairs with a missing rating dropped)."""
    cats = check_categories(categories)
    if len(a) != len(b):
        raise ValueError(f"a and b differ in length ({len(a)} != {len(b)})")
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if not (_missing(x) or _missing(y))]
    for x, y in pairs:
        if x not in cats or y not in cats:
            raise ValueError(f"rating {x if x not in cats else y!r} is not one of the categories")
    n, q = len(pairs), len(cats)
    if n == 0 or q < 2:
        reason = "no paired ratings" if n == 0 else "fewer than two categories"
        return Pabak(NAN, NAN, NAN, NAN, n, reason)
    agreements = sum(x == y for x, y in pairs)
    p_o = agreements / n
    interval = wilson_ci(agreements, n)

    def adjusted(share: float) -> float:
        return (q * share - 1) / (q - 1)

    return Pabak(adjusted(p_o), adjusted(interval.ci_low), adjusted(interval.ci_high), p_o, n)
