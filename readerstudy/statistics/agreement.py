"""Chance-corrected agreement: Cohen's (weighted) kappa and Fleiss' kappa.

Cohen's kappa is computed by ``statsmodels.stats.inter_rater.cohens_kappa`` (kappa, the
Fleiss-Cohen-Everitt 1969 non-null SE and the SE under H0); Fleiss' kappa by
``statsmodels.stats.inter_rater.fleiss_kappa``. Only what statsmodels lacks is written here: the
Fleiss-Nee-Landis (1979) null SE and the category-specific kappas of Fleiss (1971).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from statsmodels.stats import inter_rater

from ._base import (
    NAN,
    Result,
    agreement_weight_matrix,
    check_categories,
    encode,
    same_length,
    to_float,
    two_sided_p,
)

Weights = str | ArrayLike | None

_Z_975 = float(stats.norm.ppf(0.975))


@dataclasses.dataclass(frozen=True, slots=True)
class CohenKappa(Result):
    """Cohen's kappa between two raters.

    Attributes:
        value: kappa (weighted kappa when weights were given).
        se: large-sample non-null SE (Fleiss, Cohen and Everitt 1969), used for the CI.
        se0: SE under H0 kappa = 0, used for ``z``.
        ci_low: lower bound of the 95% Wald CI ``value - 1.96 se``, truncated at -1.
        ci_high: upper bound of that CI, truncated at 1 (``ci_method`` says so).
        z: ``value / se0``.
        p: two-sided normal p-value of ``z``.
        p_one_sided: one-sided p-value for H1 kappa > 0.
        observed_agreement: (weighted) observed agreement p_o.
        expected_agreement: (weighted) chance agreement p_e.
        n: number of rated pairs.
        weights: "none", "linear", "quadratic", "custom disagreement" or "custom agreement".
        reason: why the statistic is undefined (NaN fields), else None.
        ci_method: how the CI was made (the Wald interval truncated to kappa's range [-1, 1]).
            Its SE is the non-null one while ``p`` uses ``se0`` (the SE under H0), so an interval
            that covers 0 beside p < 0.05 (or the reverse) is possible, not an error.
    """

    value: float
    se: float
    se0: float
    ci_low: float
    ci_high: float
    z: float
    p: float
    p_one_sided: float
    observed_agreement: float
    expected_agreement: float
    n: int
    weights: str = "none"
    reason: str | None = None
    ci_method: str = "Wald (non-null SE), truncated to [-1, 1]"


@dataclasses.dataclass(frozen=True, slots=True)
class FleissKappa(Result):
    """Fleiss' kappa for a fixed number of ratings per subject.

    Attributes:
        value: Fleiss (1971) kappa.
        se0: SE under H0 kappa = 0 (Fleiss, Nee and Landis 1979; as R ``irr::kappam.fleiss``).
        z: ``value / se0``.
        p: two-sided normal p-value of ``z``.
        p_bar: mean pairwise agreement (Fleiss P-bar), a percent agreement in [0, 1].
        p_e: chance agreement (sum of squared category shares).
        percent_all_raters_agree: share of subjects on which every rater gave the same category
            (``irr::agree``), in [0, 1].
        category_kappa: category-specific kappas in the order of ``categories`` (NaN for a
            category no one or everyone used).
        category_se0: their common SE under H0, ``sqrt(2 / (N n (n - 1)))``.
        category_z: ``category_kappa / category_se0``.
        n_subjects: number of subjects N.
        n_raters: ratings per subject n.
        reason: why the statistic is undefined (NaN fields), else None.
    """

    value: float
    se0: float
    z: float
    p: float
    p_bar: float
    p_e: float
    percent_all_raters_agree: float
    category_kappa: tuple[float, ...]
    category_se0: float
    category_z: tuple[float, ...]
    n_subjects: int
    n_raters: int
    reason: str | None = None


def cohen_kappa(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    *,
    categories: Iterable[Hashable],
    weights: Weights = None,
    agreement_weights: ArrayLike | None = None,
) -> CohenKappa:
    """Cohen's kappa of two raters over the declared categories.

    Every declared category counts, used or not: the k x k table is built over ``categories`` in
    their order, and linear or quadratic weights use the category positions 0..k-1 (the declared
    scale, as sklearn with ``labels=`` or Stata; R ``irr::kappa2`` instead weights over observed
    levels only).

    Args:
        a: ratings of the first rater (rows of the table).
        b: ratings of the second rater, paired with ``a``.
        categories: all categories of the question, in scale order.
        weights: None (unweighted), "linear" (agreement ``1 - |i-j|/(k-1)``), "quadratic"
            (``1 - (i-j)^2/(k-1)^2``), or a k x k matrix of DISAGREEMENT weights ``v`` as in
            Cohen (1968): 0 on the diagonal, larger for worse disagreement, any positive scale;
            kappa_w = 1 - sum(v p_obs) / sum(v p_exp).
        agreement_weights: instead of ``weights``, a k x k matrix of AGREEMENT weights ``w``
            as vcd, psych and SAS take them: 1 on the diagonal, in [0, 1] elsewhere (the same
            kappa as disagreement weights ``1 - w``).

    Returns:
        The kappa with its SEs, CI and test. Undefined cases give NaN kappa, SEs, CI and test
        with a ``reason`` (observed and expected agreement are still reported): no pairs, fewer
        than two categories, or a rater who used a single category (kappa would be 0 by
        construction, whatever the agreement, and its null SE 0).

    Raises:
        ValueError: on a length mismatch, a label outside ``categories``, or a bad weight matrix.
    """
    cats = check_categories(categories)
    same_length(a, b)
    index = {c: i for i, c in enumerate(cats)}
    codes_a = encode(a, index, "a")
    codes_b = encode(b, index, "b")
    table = np.zeros((len(cats), len(cats)))
    np.add.at(table, (codes_a, codes_b), 1.0)
    return cohen_kappa_from_table(table, weights=weights, agreement_weights=agreement_weights)


def cohen_kappa_from_table(
    table: ArrayLike, *, weights: Weights = None, agreement_weights: ArrayLike | None = None
) -> CohenKappa:
    """Cohen's kappa from a k x k contingency table (rater A in rows, rater B in columns).

    Args:
        table: counts; rows and columns follow the declared category order.
        weights, agreement_weights: as in :func:`cohen_kappa`.

    Returns:
        The kappa result.
    """
    tab = np.asarray(table, dtype=float)
    if tab.ndim != 2 or tab.shape[0] != tab.shape[1]:
        raise ValueError(f"table must be square, got shape {tab.shape}")
    if np.any(tab < 0) or not np.all(np.isfinite(tab)):
        raise ValueError("table must hold non-negative finite counts")
    k = tab.shape[0]
    kind, disagreement = _disagreement_weights(weights, k, agreement_weights)
    n = round(float(tab.sum()))
    if n == 0:
        return _undefined_kappa(n, kind, "no paired ratings")
    if k < 2:
        return _undefined_kappa(n, kind, "fewer than two categories: kappa is undefined")

    probs = tab / tab.sum()
    row, col = probs.sum(axis=1), probs.sum(axis=0)
    agree_w = np.eye(k) if disagreement is None else 1.0 - disagreement / disagreement.max()
    p_o = float((agree_w * probs).sum())
    p_e = float((agree_w * np.outer(row, col)).sum())
    single = [name for name, m in (("a", row), ("b", col)) if np.count_nonzero(m) < 2]
    if single:
        return _undefined_kappa(
            n,
            kind,
            f"rater {' and '.join(single)} used a single category: kappa is fixed by "
            "construction (0 or undefined) and cannot be tested",
            p_o,
            p_e,
        )
    if math.isclose(p_e, 1.0):
        return _undefined_kappa(n, kind, "chance agreement is 1: kappa is undefined", p_o, p_e)

    # statsmodels takes the square root of a variance rounding can leave a hair below 0 (see
    # _standard_error); the SE is taken from the variance here instead.
    with np.errstate(invalid="ignore"):
        if disagreement is None:
            res = inter_rater.cohens_kappa(tab)
        else:
            res = inter_rater.cohens_kappa(tab, weights=disagreement / disagreement.max())
    value, se, se0 = to_float(res.kappa), _standard_error(res.var_kappa), to_float(res.std_kappa0)
    reason = None
    if not se0 > 0:
        z = p = p_one = NAN
        reason = "the SE under H0 is 0: no test is possible"
    else:
        z = value / se0
        p, p_one = two_sided_p(z), float(stats.norm.sf(z))
    return CohenKappa(
        value=value,
        se=se,
        se0=se0,
        ci_low=max(value - _Z_975 * se, -1.0),
        ci_high=min(value + _Z_975 * se, 1.0),
        z=z,
        p=p,
        p_one_sided=p_one,
        observed_agreement=p_o,
        expected_agreement=p_e,
        n=n,
        weights=kind,
        reason=reason,
    )


def _standard_error(variance: object) -> float:
    """The SE of a variance that rounding can leave a hair below 0.

    With perfect agreement statsmodels' large-sample variance is 0 in exact arithmetic but comes
    out as about -7e-16 for some tables, and its square root as NaN; that is an SE of 0.
    """
    value = to_float(variance)
    if -1e-12 < value < 0:
        return 0.0
    return math.sqrt(value) if value >= 0 else NAN


def _disagreement_weights(
    weights: Weights, k: int, agreement: ArrayLike | None = None
) -> tuple[str, NDArray[np.float64] | None]:
    """Return the weight kind and the k x k disagreement matrix (None for unweighted)."""
    if agreement is not None:
        if weights is not None:
            raise ValueError("give either weights (disagreement) or agreement_weights, not both")
        return "custom agreement", 1.0 - _agreement_matrix(agreement, k)
    if weights is None or (isinstance(weights, str) and weights == "none"):
        return "none", None
    positions = np.arange(k, dtype=float)
    if isinstance(weights, str):
        if weights == "linear":
            return "linear", np.abs(positions[:, None] - positions)
        if weights == "quadratic":
            return "quadratic", (positions[:, None] - positions) ** 2
        raise ValueError(
            f"unknown weights {weights!r}: use None, 'linear', 'quadratic' or a matrix"
        )
    matrix = np.asarray(weights, dtype=float)
    if matrix.shape != (k, k):
        raise ValueError(f"weight matrix must be {k} x {k}, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)) or np.any(matrix < 0) or not matrix.max() > 0:
        raise ValueError("disagreement weights must be finite, non-negative and not all 0")
    if np.any(np.diag(matrix) != 0):
        raise ValueError(
            "disagreement weights need 0 on the diagonal (agreement weights, 1 on the "
            "diagonal, go to agreement_weights)"
        )
    return "custom disagreement", matrix


def _agreement_matrix(weights: ArrayLike, k: int) -> NDArray[np.float64]:
    matrix = agreement_weight_matrix(weights, k)
    if np.all(matrix == 1):
        raise ValueError("agreement weights must not all be 1: every pair would agree")
    return matrix


def _undefined_kappa(
    n: int, kind: str, reason: str, p_o: float = NAN, p_e: float = NAN
) -> CohenKappa:
    return CohenKappa(
        value=NAN,
        se=NAN,
        se0=NAN,
        ci_low=NAN,
        ci_high=NAN,
        z=NAN,
        p=NAN,
        p_one_sided=NAN,
        observed_agreement=p_o,
        expected_agreement=p_e,
        n=n,
        weights=kind,
        reason=reason,
    )


def fleiss_kappa(
    ratings: Iterable[Sequence[Hashable]], *, categories: Iterable[Hashable]
) -> FleissKappa:
    """Fleiss' kappa of many raters, with the Fleiss-Nee-Landis (1979) test of kappa = 0.

    Args:
        ratings: one list of category labels per subject, the same number of ratings per
            subject (the raters need not be the same people).
        categories: all categories of the question; unused ones still count.

    Returns:
        The kappa result; NaN fields with a reason when undefined.

    Raises:
        ValueError: when subjects have different numbers of ratings or a label is unknown.
    """
    cats = check_categories(categories)
    rows = [list(r) for r in ratings]
    k = len(cats)
    n_sub = len(rows)
    n_rat = len(rows[0]) if rows else 0
    if any(len(r) != n_rat for r in rows):
        raise ValueError("every subject needs the same number of ratings")
    if n_sub == 0 or n_rat == 0:
        return _undefined_fleiss(n_sub, n_rat, k, "no ratings")
    index = {c: i for i, c in enumerate(cats)}
    codes = np.vstack([encode(r, index, f"ratings[{i}]") for i, r in enumerate(rows)])
    if n_rat < 2:
        return _undefined_fleiss(n_sub, n_rat, k, "needs at least two ratings per subject")
    counts, _ = inter_rater.aggregate_raters(codes, n_cat=k)
    counts = counts.astype(float)
    all_agree = float(np.mean(counts.max(axis=1) == n_rat))
    p_bar = float(((counts * (counts - 1)).sum(axis=1) / (n_rat * (n_rat - 1))).mean())
    share = counts.sum(axis=0) / (n_sub * n_rat)
    p_e = float((share**2).sum())
    if math.isclose(p_e, 1.0):
        reason = "all ratings fall in one category: kappa is undefined"
        return _undefined_fleiss(n_sub, n_rat, k, reason, p_bar, p_e, all_agree)

    value = float(inter_rater.fleiss_kappa(counts, method="fleiss"))
    pq = share * (1.0 - share)
    sum_pq = float(pq.sum())
    denom = n_sub * n_rat * (n_rat - 1)
    var0 = 2.0 / (sum_pq**2 * denom) * (sum_pq**2 - float((pq * (1.0 - 2.0 * share)).sum()))
    se0 = math.sqrt(var0)
    z = value / se0
    with np.errstate(divide="ignore", invalid="ignore"):
        disagree = (counts * (n_rat - counts)).sum(axis=0)
        cat_kappa = np.where(pq > 0, 1.0 - disagree / (denom * pq), np.nan)
    cat_se0 = math.sqrt(2.0 / denom)
    return FleissKappa(
        value=value,
        se0=se0,
        z=z,
        p=two_sided_p(z),
        p_bar=p_bar,
        p_e=p_e,
        percent_all_raters_agree=all_agree,
        category_kappa=tuple(float(v) for v in cat_kappa),
        category_se0=cat_se0,
        category_z=tuple(float(v) / cat_se0 for v in cat_kappa),
        n_subjects=n_sub,
        n_raters=n_rat,
    )


def _undefined_fleiss(
    n_sub: int,
    n_rat: int,
    k: int,
    reason: str,
    p_bar: float = NAN,
    p_e: float = NAN,
    all_agree: float = NAN,
) -> FleissKappa:
    return FleissKappa(
        value=NAN,
        se0=NAN,
        z=NAN,
        p=NAN,
        p_bar=p_bar,
        p_e=p_e,
        percent_all_raters_agree=all_agree,
        category_kappa=(NAN,) * k,
        category_se0=NAN,
        category_z=(NAN,) * k,
        n_subjects=n_sub,
        n_raters=n_rat,
        reason=reason,
    )
