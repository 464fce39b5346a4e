"""Agreement of numeric measurements: ICC, Pearson, Bland-Altman, and the ROI CNR.

Pearson is ``scipy.stats.pearsonr`` with its Fisher-z interval. No installed library has the
Shrout-Fleiss ICCs (pingouin is not a dependency), so they are written here from the two-way
ANOVA mean squares, with the F tests and intervals of Shrout and Fleiss (1979) and McGraw and
Wong (1996) exactly as R ``psych::ICC`` and ``pingouin.intraclass_corr`` compute them.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ._base import NAN, Result, paired_finite, to_float

_Z_975 = float(stats.norm.ppf(0.975))


@dataclasses.dataclass(frozen=True, slots=True)
class IccForm(Result):
    """One Shrout-Fleiss ICC form.

    Attributes:
        name: Shrout-Fleiss name, e.g. "ICC(2,1)" or "ICC(2,4)".
        mcgraw_wong_name: McGraw-Wong name, e.g. "ICC(A,1)".
        value: the coefficient.
        ci_low: lower bound of the 95% CI.
        ci_high: upper bound of the 95% CI.
        f: F statistic of the test of ICC = 0.
        df1: numerator degrees of freedom.
        df2: denominator degrees of freedom.
        p: one-sided p-value of that F test (as psych, pingouin, irr).
    """

    name: str
    mcgraw_wong_name: str
    value: float
    ci_low: float
    ci_high: float
    f: float
    df1: float
    df2: float
    p: float


@dataclasses.dataclass(frozen=True, slots=True)
class Icc(Result):
    """The six Shrout-Fleiss (1979) intraclass correlations.

    Attributes:
        icc1: ICC(1,1), one-way random, single rater.
        icc2: ICC(2,1) = ICC(A,1), two-way random, absolute agreement, single rater.
        icc3: ICC(3,1) = ICC(C,1), two-way mixed, consistency, single rater.
        icc1k: ICC(1,k), mean of k raters.
        icc2k: ICC(2,k) = ICC(A,k).
        icc3k: ICC(3,k) = ICC(C,k).
        bms: between-subjects mean square.
        wms: within-subjects mean square.
        jms: between-raters (judges) mean square.
        ems: residual mean square.
        n_subjects: complete subjects used.
        n_raters: raters k.
        reason: why the ICCs are undefined (NaN fields), else None.
    """

    icc1: IccForm
    icc2: IccForm
    icc3: IccForm
    icc1k: IccForm
    icc2k: IccForm
    icc3k: IccForm
    bms: float
    wms: float
    jms: float
    ems: float
    n_subjects: int
    n_raters: int
    reason: str | None = None

    def __getitem__(self, name: str) -> IccForm:
        """Look a form up by "ICC2", "ICC2k", "ICC(2,1)" or "ICC(2,k)" (k as letter or number)."""
        key = name.strip().lower().replace(" ", "")
        if key.startswith("icc(") and key.endswith(")"):
            model, _, raters = key[4:-1].partition(",")
            key = f"icc{model}" + ("" if raters == "1" else "k")
        forms = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not key.startswith("icc") or not isinstance(forms.get(key), IccForm):
            raise KeyError(name)
        return forms[key]


@dataclasses.dataclass(frozen=True, slots=True)
class Pearson(Result):
    """Pearson's r with the Fisher-z 95% CI and the two-sided t-test p.

    Attributes:
        value: r.
        ci_low: lower CI bound.
        ci_high: upper CI bound.
        p: two-sided p-value of r = 0.
        n: complete pairs used.
        reason: why r is undefined, else None.
    """

    value: float
    ci_low: float
    ci_high: float
    p: float
    n: int
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class BlandAltman(Result):
    """Bland-Altman bias and 95% limits of agreement of ``x - y``.

    Attributes:
        bias: mean difference.
        sd: sample SD of the differences (n - 1).
        loa_low: ``bias - 1.96 sd`` (with z = 1.959964).
        loa_high: ``bias + 1.96 sd``.
        n: complete pairs used.
        reason: why the limits are undefined, else None.
    """

    bias: float
    sd: float
    loa_low: float
    loa_high: float
    n: int
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Cnr(Result):
    """Contrast-to-noise ratio.

    Attributes:
        value: ``|mean_a - mean_b| / sd_b``.
        reason: why it is undefined (zero noise SD), else None.
    """

    value: float
    reason: str | None = None


def icc(matrix: ArrayLike) -> Icc:
    """All six Shrout-Fleiss ICCs of a subjects x raters matrix.

    Subjects with a missing value (NaN) are dropped (listwise, as psych::ICC without lmer); see
    ``n_subjects``. The ICC(2,1) interval uses the Satterthwaite df of McGraw and Wong (1996);
    the F test of every two-way form uses df2 = (n-1)(k-1), and the ICC(2,k) interval is the
    Spearman-Brown transform of the ICC(2,1) one (psych and pingouin; R ``irr::icc`` differs
    there).

    Args:
        matrix: ratings, one row per subject, one column per rater.

    Returns:
        The six forms and the ANOVA mean squares; NaN fields with a reason when undefined.

    Raises:
        ValueError: if the matrix is not two-dimensional.
    """
    data = np.asarray(matrix, dtype=float)
    if data.ndim != 2:
        raise ValueError(f"matrix must be subjects x raters, got shape {data.shape}")
    data = data[np.all(np.isfinite(data), axis=1)]
    n, k = data.shape
    if n < 2 or k < 2:
        return _undefined_icc(n, k, "needs at least two complete subjects and two raters")
    grand = data.mean()
    ss_total = float(((data - grand) ** 2).sum())
    ss_rows = k * float(((data.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((data.mean(axis=0) - grand) ** 2).sum())
    bms = ss_rows / (n - 1)
    wms = (ss_total - ss_rows) / (n * (k - 1))
    jms = ss_cols / (k - 1)
    ems = max(ss_total - ss_rows - ss_cols, 0.0) / ((n - 1) * (k - 1))
    tiny = 1e-12 * ss_total / (n * k - 1)
    ms = (bms, wms, jms, ems)
    if ss_total == 0:
        return _undefined_icc(n, k, "all values are identical: ICC is undefined", ms)
    if bms <= tiny:
        return _undefined_icc(n, k, "subjects do not differ (no between-subject variance)", ms)
    values = (
        (bms - wms) / (bms + (k - 1) * wms),
        (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n),
        (bms - ems) / (bms + (k - 1) * ems),
        (bms - wms) / bms,
        (bms - ems) / (bms + (jms - ems) / n),
        (bms - ems) / bms,
    )
    names = _form_names(k)
    df_b, df_w, df_e = n - 1, n * (k - 1), (n - 1) * (k - 1)
    dfs = (df_w, df_e, df_e, df_w, df_e, df_e)
    if wms <= tiny:
        # Exact agreement: the ICCs are 1 but every F is infinite and the intervals undefined.
        forms = [
            IccForm(sf, mw, value, NAN, NAN, NAN, float(df_b), float(dfd), NAN)
            for (sf, mw), value, dfd in zip(names, values, dfs, strict=True)
        ]
        exact = "no residual variance: ratings agree exactly, so F tests and CIs are undefined"
        return _assemble(forms, ms, n, k, exact)

    # The one-way forms (ICC(1,1), ICC(1,k)) test subjects against the within-subject variance.
    f1 = bms / wms
    p1 = float(stats.f.sf(f1, df_b, df_w))
    f1l, f1u = _f_bounds(f1, df_b, df_w)
    one_way = (
        ((f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
        (1 - 1 / f1l, 1 - 1 / f1u),
    )
    reason: str | None = None
    if ems <= tiny:
        # The raters differ by a constant offset and by nothing else: the two-way forms' F is
        # infinite and their intervals undefined; the one-way forms stay testable (psych agrees).
        f3 = p3 = NAN
        two_way = ((NAN, NAN),) * 4
        reason = (
            "no residual variance after the rater effect (the raters differ only by a constant "
            "offset): the two-way F tests and CIs are undefined; the ICC(1) forms are not"
        )
    else:
        f3 = bms / ems
        p3 = float(stats.f.sf(f3, df_b, df_e))
        f3l, f3u = _f_bounds(f3, df_b, df_e)
        l2, u2 = _icc2_interval(values[1], n, k, bms, jms, ems)
        two_way = (
            (l2, u2),
            ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
            (l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
            (1 - 1 / f3l, 1 - 1 / f3u),
        )
    cis = (one_way[0], two_way[0], two_way[1], one_way[1], two_way[2], two_way[3])
    fs, ps = (f1, f3, f3, f1, f3, f3), (p1, p3, p3, p1, p3, p3)
    forms = [
        IccForm(
            names[i][0],
            names[i][1],
            values[i],
            _finite(cis[i][0]),
            _finite(cis[i][1]),
            fs[i],
            float(df_b),
            float(dfs[i]),
            ps[i],
        )
        for i in range(6)
    ]
    return _assemble(forms, ms, n, k, reason)


def _assemble(
    forms: list[IccForm],
    ms: tuple[float, float, float, float],
    n: int,
    k: int,
    reason: str | None,
) -> Icc:
    bms, wms, jms, ems = ms
    f = forms
    return Icc(f[0], f[1], f[2], f[3], f[4], f[5], bms, wms, jms, ems, n, k, reason)


def _f_bounds(f_obs: float, dfn: float, dfd: float) -> tuple[float, float]:
    """Lower and upper 95% confidence bounds of the F ratio (Shrout and Fleiss 1979)."""
    return (
        f_obs / float(stats.f.ppf(0.975, dfn, dfd)),
        f_obs * float(stats.f.ppf(0.975, dfd, dfn)),
    )


def _icc2_interval(
    icc2: float, n: int, k: int, bms: float, jms: float, ems: float
) -> tuple[float, float]:
    """95% CI of ICC(2,1) with the Satterthwaite df of McGraw and Wong (1996)."""
    fj = jms / ems
    v_num = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v_den = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = v_num / v_den
    f_upper = float(stats.f.ppf(0.975, n - 1, v))
    f_lower = float(stats.f.ppf(0.975, v, n - 1))
    rest = k * jms + (k * n - k - n) * ems
    low = n * (bms - f_upper * ems) / (f_upper * rest + n * bms)
    high = n * (f_lower * bms - ems) / (rest + n * f_lower * bms)
    return low, high


def _finite(value: float) -> float:
    """Plain float, NaN for infinite or undefined values."""
    out = float(value)
    return out if math.isfinite(out) else NAN


def _form_names(k: int) -> list[tuple[str, str]]:
    """Shrout-Fleiss and McGraw-Wong names of the six forms, in field order."""
    return [
        ("ICC(1,1)", "ICC(1)"),
        ("ICC(2,1)", "ICC(A,1)"),
        ("ICC(3,1)", "ICC(C,1)"),
        (f"ICC(1,{k})", f"ICC({k})"),
        (f"ICC(2,{k})", f"ICC(A,{k})"),
        (f"ICC(3,{k})", f"ICC(C,{k})"),
    ]


def _undefined_icc(
    n: int, k: int, reason: str, ms: tuple[float, float, float, float] = (NAN,) * 4
) -> Icc:
    forms = [IccForm(sf, mw, NAN, NAN, NAN, NAN, NAN, NAN, NAN) for sf, mw in _form_names(k)]
    return _assemble(forms, ms, n, k, reason)


def pearson(x: Iterable[float], y: Iterable[float]) -> Pearson:
    """Pearson's correlation (``scipy.stats.pearsonr``) with its Fisher-z 95% interval.

    Incomplete pairs (NaN) are dropped.

    Args:
        x: first measurement.
        y: second measurement, paired with ``x``.

    Returns:
        r, CI and p; NaN fields with a reason for fewer than 3 pairs or a constant input.

    Raises:
        ValueError: on a length mismatch.
    """
    xa, ya, _ = paired_finite(x, y)
    n = int(xa.size)
    if n < 3:
        return Pearson(NAN, NAN, NAN, NAN, n, "needs at least three complete pairs")
    if np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return Pearson(NAN, NAN, NAN, NAN, n, "an input is constant: r is undefined")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.pearsonr(xa, ya)
        ci = res.confidence_interval(confidence_level=0.95)
    return Pearson(
        to_float(res.statistic), to_float(ci.low), to_float(ci.high), to_float(res.pvalue), n
    )


def bland_altman(x: Iterable[float], y: Iterable[float]) -> BlandAltman:
    """Bland-Altman bias and 95% limits of agreement of ``x - y``.

    Incomplete pairs (NaN) are dropped.

    Args:
        x: first method (e.g. the model).
        y: second method (e.g. the reference), paired with ``x``.

    Returns:
        Bias, SD and limits; NaN fields with a reason for fewer than two pairs.

    Raises:
        ValueError: on a length mismatch.
    """
    xa, ya, _ = paired_finite(x, y)
    diff = xa - ya
    n = int(diff.size)
    if n < 2:
        return BlandAltman(NAN, NAN, NAN, NAN, n, "needs at least two complete pairs")
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    return BlandAltman(bias, sd, bias - _Z_975 * sd, bias + _Z_975 * sd, n)


def cnr(mean_a: float, mean_b: float, sd_b: float) -> Cnr:
    """Contrast-to-noise ratio ``|mean_a - mean_b| / sd_b`` (NC-CTM: a = dural canal, b = LF/IVD).

    Args:
        mean_a: mean HU of the target ROI.
        mean_b: mean HU of the background ROI.
        sd_b: SD of the background ROI (the noise).

    Returns:
        The CNR; NaN with a reason when ``sd_b`` is 0 or an input is not finite.

    Raises:
        ValueError: if ``sd_b`` is negative.
    """
    values = (float(mean_a), float(mean_b), float(sd_b))
    if not all(math.isfinite(v) for v in values):
        return Cnr(NAN, "an input is missing or not finite")
    if values[2] < 0:
        raise ValueError(f"sd_b must be non-negative, got {sd_b}")
    if values[2] == 0:
        return Cnr(NAN, "background SD is 0: CNR is undefined")
    return Cnr(abs(values[0] - values[1]) / values[2])
