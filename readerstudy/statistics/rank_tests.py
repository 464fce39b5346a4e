"""Wilcoxon signed-rank test for paired measurements (Likert scores, CNR across reconstructions).

Built on ``scipy.stats.wilcoxon`` and ``scipy.stats.rankdata``. Zero differences are dropped
before ranking (R ``wilcox.test``, scipy ``zero_method="wilcox"``). One piece is written here:
the exact null distribution when |differences| are tied, because scipy's ``method="exact"``
silently ignores ties and its permutation method is only exact up to n = 13.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from ._base import NAN, Result, paired_finite, to_float

Method = Literal["auto", "exact", "approx"]
Alternative = Literal["two-sided", "greater", "less"]


@dataclasses.dataclass(frozen=True, slots=True)
class Wilcoxon(Result):
    """Wilcoxon signed-rank test of ``x - y``.

    Attributes:
        statistic: R's V, the sum of the ranks of the positive differences (T+).
        p: p-value for ``alternative`` (two-sided by default).
        n: number of non-zero differences used.
        method: "exact" or "approx", the method actually used.
        alternative: "two-sided", "greater" (x > y) or "less".
        correction: whether the continuity correction was applied (approx only).
        zeros: zero differences dropped.
        ties: whether the non-zero |differences| had ties.
        reason: why the test is undefined (no non-zero difference), else None.
    """

    statistic: float
    p: float
    n: int
    method: str
    alternative: str = "two-sided"
    correction: bool = False
    zeros: int = 0
    ties: bool = False
    reason: str | None = None


def wilcoxon_signed_rank(
    x: Iterable[float],
    y: Iterable[float],
    *,
    method: Method = "auto",
    alternative: Alternative = "two-sided",
    correction: bool = True,
) -> Wilcoxon:
    """Paired Wilcoxon signed-rank test, reproducing R ``wilcox.test(x, y, paired = TRUE)``.

    Methods:
        "approx": normal approximation with the tie-corrected variance and, unless
            ``correction=False``, the continuity correction (R ``exact = FALSE``).
        "exact": the exact null distribution of T+; with tied |differences| it is the exact
            distribution conditional on the tied ranks (as ``coin::wilcoxsign_test``
            ``distribution = "exact"``), computed by convolution.
        "auto": R's default: exact when n < 50 with no ties and no zeros, else "approx".

    Incomplete pairs (NaN) are dropped.

    Args:
        x: first measurement per subject.
        y: second measurement per subject.
        method: "auto", "exact" or "approx".
        alternative: "two-sided", "greater" or "less" (for x - y).
        correction: continuity correction of the normal approximation.

    Returns:
        V, p and n; NaN statistic and p with a reason when every difference is 0.

    Raises:
        ValueError: on a length mismatch or an unknown method or alternative.
    """
    if method not in ("auto", "exact", "approx"):
        raise ValueError(f"method must be 'auto', 'exact' or 'approx', got {method!r}")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"unknown alternative {alternative!r}")
    xa, ya, _ = paired_finite(x, y)
    diff = xa - ya
    nonzero = diff[diff != 0]
    n, zeros = int(nonzero.size), int(diff.size - nonzero.size)
    if n == 0:
        reason = "no pairs" if diff.size == 0 else "all differences are zero: no test possible"
        used = "approx" if method == "auto" else method
        return Wilcoxon(NAN, NAN, 0, used, alternative, False, zeros, False, reason)
    ranks = stats.rankdata(np.abs(nonzero))
    ties = bool(np.unique(ranks).size < n)
    v = float(ranks[nonzero > 0].sum())
    if method == "auto":
        method = "exact" if n < 50 and not ties and zeros == 0 else "approx"

    with warnings.catch_warnings():
        # scipy warns that n is small for the normal approximation; R does not, and the caller
        # chose the method.
        warnings.simplefilter("ignore", UserWarning)
        if method == "approx":
            res = stats.wilcoxon(
                nonzero, method="approx", correction=correction, alternative=alternative
            )
            p = to_float(res.pvalue)
        elif not ties:
            p = to_float(stats.wilcoxon(nonzero, method="exact", alternative=alternative).pvalue)
        else:
            p = _exact_tied_p(ranks, v, alternative)
    used_cc = method == "approx" and correction
    return Wilcoxon(v, min(p, 1.0), n, method, alternative, used_cc, zeros, ties)


def _exact_tied_p(ranks: NDArray[np.float64], v: float, alternative: str) -> float:
    """Exact p of T+ given (possibly tied, mid-) ranks: each sign is + or - with probability 1/2.

    Mid-ranks are multiples of 1/2, so doubled ranks are integers and the null distribution of
    2 T+ is the convolution of n two-point distributions.
    """
    doubled = np.rint(2 * ranks).astype(np.int64)
    dist = np.zeros(int(doubled.sum()) + 1)
    dist[0] = 1.0
    for r in doubled:
        dist[r:] = 0.5 * dist[r:] + 0.5 * dist[:-r].copy()
        dist[:r] *= 0.5
    t = round(2 * v)
    lower, upper = float(dist[: t + 1].sum()), float(dist[t:].sum())
    if alternative == "greater":
        return upper
    if alternative == "less":
        return lower
    return min(1.0, 2.0 * min(lower, upper))
