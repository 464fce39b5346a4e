"""Every case in ``reference_vectors.json`` (beside this file) is checked field by field within its
own tolerance. A vector field that is not checked must be listed in ``NOT_OFFERED`` with the
reason, so a new field in the vectors fails here until someone decides about it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from readerstudy.statistics import (
    cohen_kappa,
    cohen_kappa_from_table,
    fleiss_kappa,
    icc,
    mcnemar,
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
