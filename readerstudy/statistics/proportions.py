"""Proportions: Wilson intervals, diagnostic accuracy against a reference, McNemar's test.

Built on ``statsmodels.stats.proportion.proportion_confint(method="wilson")`` and
``statsmodels.stats.contingency_tables.mcnemar``. The 2 x 2 table of two boolean arrays is four
NumPy counts: ``sklearn.metrics.confusion_matrix`` gives the same table but spends about 2 ms
per call validating its input, which a study analysis calls hundreds of times.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Hashable, Sequence

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from ._base import NAN, Result, same_length, to_float


@dataclasses.dataclass(frozen=True, slots=True)
class WilsonInterval(Result):
    """A proportion with its Wilson score interval (no continuity correction).

    Attributes:
        value: ``successes / n``.
        ci_low: lower bound, exactly 0 when ``successes == 0``.
        ci_high: upper bound, exactly 1 when ``successes == n``.
        successes: numerator.
        n: denominator.
        confidence: confidence level of the interval.
        reason: why the proportion is undefined (``n == 0``), else None.
    """

    value: float
    ci_low: float
    ci_high: float
    successes: int
    n: int
    confidence: float = 0.95
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class DiagnosticAccuracy(Result):
    """Accuracy measures of a dichotomised answer against a reference standard.

    Attributes:
        accuracy: (TP + TN) / n.
        sensitivity: TP / (TP + FN).
        specificity: TN / (TN + FP).
        ppv: TP / (TP + FP).
        npv: TN / (TN + FN).
        tp: true positives.
        fp: false positives.
        tn: true negatives.
        fn: false negatives.
        reason: why nothing could be computed, else None (each measure has its own reason).
    """

    accuracy: WilsonInterval
    sensitivity: WilsonInterval
    specificity: WilsonInterval
    ppv: WilsonInterval
    npv: WilsonInterval
    tp: int
    fp: int
    tn: int
    fn: int
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class McNemar(Result):
    """McNemar's test of paired proportions.

    Attributes:
        statistic: chi-square (``exact=False``) or min(b, c) (``exact=True``, the binomial count).
        p: two-sided p-value.
        b: pairs positive on ``a`` only.
        c: pairs positive on ``b`` only.
        exact: whether the binomial test was used.
        corrected: whether the continuity correction was applied.
        reason: why the test is undefined (no discordant pairs), else None.
    """

    statistic: float
    p: float
    b: int
    c: int
    exact: bool
    corrected: bool
    reason: str | None = None


def wilson_ci(successes: int, n: int, *, confidence: float = 0.95) -> WilsonInterval:
    """Proportion with the Wilson score interval (R ``prop.test(correct=FALSE)``).

    Args:
        successes: number of successes, 0 <= successes <= n.
        n: number of trials.
        confidence: confidence level in (0, 1).

    Returns:
        The proportion and interval; NaN fields with a reason when ``n == 0``.

    Raises:
        ValueError: on negative counts, ``successes > n`` or a confidence outside (0, 1).
        TypeError: if a count is not an integer.
    """
    s, total = operator.index(successes), operator.index(n)
    if total < 0 or s < 0 or s > total:
        raise ValueError(f"need 0 <= successes <= n, got {s}/{total}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if total == 0:
        return WilsonInterval(NAN, NAN, NAN, s, total, confidence, "no observations (n = 0)")
    low, high = proportion_confint(s, total, alpha=1.0 - confidence, method="wilson")
    # Clip the floating-point dust so 0/n starts at exactly 0 and n/n ends at exactly 1.
    low = 0.0 if s == 0 else min(max(to_float(low), 0.0), 1.0)
    high = 1.0 if s == total else min(max(to_float(high), 0.0), 1.0)
    return WilsonInterval(s / total, low, high, s, total, confidence)


def diagnostic_accuracy(
    predicted: Sequence[Hashable], reference: Sequence[Hashable], *, positive: Hashable
) -> DiagnosticAccuracy:
    """Accuracy, sensitivity, specificity, PPV and NPV with Wilson 95% intervals.

    Both inputs are dichotomised as ``label == positive``; accuracy is therefore the share of
    cases on the right side of that cut (for exact-match accuracy of a multi-class answer use
    :func:`wilson_ci` on the number of matches).

    Args:
        predicted: the reader's or model's answers.
        reference: the reference standard, paired with ``predicted``.
        positive: the label that counts as positive.

    Returns:
        The five measures; a measure with an empty denominator is NaN with its own reason.

    Raises:
        ValueError: on a length mismatch.
    """
    same_length(predicted, reference, "predicted and reference")
    pred = np.fromiter((p == positive for p in predicted), dtype=bool, count=len(predicted))
    ref = np.fromiter((r == positive for r in reference), dtype=bool, count=len(reference))
    tp = int(np.count_nonzero(pred & ref))
    fp = int(np.count_nonzero(pred & ~ref))
    fn = int(np.count_nonzero(~pred & ref))
    tn = int(np.count_nonzero(~pred & ~ref))
    return DiagnosticAccuracy(
        accuracy=wilson_ci(tp + tn, tp + tn + fp + fn),
        sensitivity=wilson_ci(tp, tp + fn),
        specificity=wilson_ci(tn, tn + fp),
        ppv=wilson_ci(tp, tp + fp),
        npv=wilson_ci(tn, tn + fn),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        reason="no cases" if pred.size == 0 else None,
    )


def mcnemar(
    a: Sequence[bool], b: Sequence[bool], *, exact: bool, correction: bool = True
) -> McNemar:
    """McNemar's test on paired booleans (e.g. correct/incorrect of two readers on each case).

    ``exact=True`` is the two-sided binomial test on the discordant pairs (R ``binom.test``);
    ``exact=False`` is the chi-square of R ``mcnemar.test``: continuity-corrected unless
    ``correction=False``, and never corrected when b == c (R does the same; the correction would
    otherwise give a spurious chi-square). With no discordant pairs the exact test's p is 1 and
    the chi-square is undefined.

    Args:
        a: first member of each pair.
        b: second member of each pair.
        exact: binomial test instead of the chi-square.
        correction: continuity correction of the chi-square.

    Returns:
        The statistic and p-value; for the chi-square NaN with a reason when b = c = 0.

    Raises:
        ValueError: on a length mismatch.
    """
    same_length(a, b)
    xa = np.fromiter((bool(v) for v in a), dtype=bool, count=len(a))
    xb = np.fromiter((bool(v) for v in b), dtype=bool, count=len(b))
    n_b, n_c = int(np.sum(xa & ~xb)), int(np.sum(~xa & xb))
    if n_b + n_c == 0:
        if exact:
            # The conditional binomial test on zero discordant pairs: the only possible outcome
            # was observed, so p = 1 (statistic min(b, c) = 0).
            return McNemar(0.0, 1.0, n_b, n_c, exact, False)
        reason = "no discordant pairs: the chi-square is 0/0 (the exact test gives p = 1)"
        return McNemar(NAN, NAN, n_b, n_c, exact, False, reason)
    table = [[int(np.sum(xa & xb)), n_b], [n_c, int(np.sum(~xa & ~xb))]]
    corrected = bool(not exact and correction and n_b != n_c)
    res = _sm_mcnemar(table, exact=exact, correction=corrected)
    return McNemar(
        to_float(res.statistic), min(to_float(res.pvalue), 1.0), n_b, n_c, exact, corrected
    )
