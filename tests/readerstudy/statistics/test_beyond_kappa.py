"""Gwet's AC1/AC2, Krippendorff's alpha and PABAK (``readerstudy.statistics.beyond_kappa``)
against published worked examples.

Sources (data and printed results):
* ``RAW_4_RATERS``: irrCAC's ``cac.raw4raters`` (Gwet 2014, Handbook of Inter-Rater
  Reliability, 4th ed.; the same 4 coders x 12 units as Krippendorff 2011), results as printed
  in kgwet/irrCAC README.md and vignettes/weighting.html (commit b1cb7f8).
* ``DISTRIB_6_RATERS``: irrCAC's ``distrib.6raters`` (15 psychiatric patients, 6 raters, 5
  diagnoses: Fleiss 1971), results from the same README and vignette.
* Krippendorff K (2011) "Computing Krippendorff's alpha-reliability", Annenberg School for
  Communication, example C: alpha nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797.
* Feinstein AR, Cicchetti DV (1990) J Clin Epidemiol 43:543-549, the kappa paradox: two tables
  with p_o = 0.85 and kappa 0.70 and 0.32; Byrt, Bishop and Carlin (1993) J Clin Epidemiol
  46:423-429 for PABAK = 2 p_o - 1.
"""

from __future__ import annotations

import math

import pytest

from readerstudy.statistics import cohen_kappa, gwet_ac, krippendorff_alpha, pabak

N = None
RAW_4_RATERS = [
    [1, 1, N, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
    [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [N, 5, 5, 5], [N, N, 1, 1], [N, N, 3, N],
]  # fmt: skip
DISTRIB_6_RATERS = [
    [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
]  # fmt: skip


def _raw_from_distribution(rows: list[list[int]]) -> list[list[int]]:
    return [[k for k, count in enumerate(row) for _ in range(count)] for row in rows]


@pytest.mark.parametrize(
    ("weights", "value", "se", "pa", "pe", "ci", "p"),
    [
        # gwet.ac1.raw(cac.raw4raters): AC1 0.77544, se 0.14295, (0.461, 1), p 0.000208721
        (None, 0.77544, 0.14295, 0.8181818, 0.1903212, (0.461, 1.0), 0.000208721),
        # gwet.ac1.raw(cac.raw4raters, weights = "quadratic"): AC2 0.914, se 0.10396
        ("quadratic", 0.914, 0.10396, 0.9753788, 0.7137044, (0.685, 1.0), 2.634438e-06),
    ],
)
def test_gwet_ac_of_four_raters_with_missing_ratings_matches_irrcac(
    weights: str | None,
    value: float,
    se: float,
    pa: float,
    pe: float,
    ci: tuple[float, float],
    p: float,
) -> None:
    res = gwet_ac(RAW_4_RATERS, categories=[1, 2, 3, 4, 5], weights=weights)
    assert res.value == pytest.approx(value, abs=5e-6)
    assert res.se == pytest.approx(se, abs=5e-6)
    assert res.observed_agreement == pytest.approx(pa, abs=5e-8)
    assert res.chance_agreement == pytest.approx(pe, abs=5e-8)
    assert (round(res.ci_low, 3), round(res.ci_high, 3)) == ci
    assert res.p == pytest.approx(p, rel=1e-5)
    assert res.n_subjects == 12 and res.reason is None


@pytest.mark.parametrize(
    ("weights", "value", "se", "pa", "pe", "p"),
    [
        (None, 0.4448007, 0.08418757, 0.5511111, 0.1914815, 0.0001155927),
        ("quadratic", 0.4837438, 0.1058227, 0.8544444, 0.7180556, 0.0004356618),
    ],
)
def test_gwet_ac_of_six_raters_matches_irrcac(
    weights: str | None, value: float, se: float, pa: float, pe: float, p: float
) -> None:
    res = gwet_ac(_raw_from_distribution(DISTRIB_6_RATERS), categories=range(5), weights=weights)
    assert res.value == pytest.approx(value, abs=5e-8)
    assert res.se == pytest.approx(se, abs=5e-8)
    assert (res.observed_agreement, res.chance_agreement) == pytest.approx((pa, pe), abs=5e-8)
    assert res.p == pytest.approx(p, rel=1e-6)


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_alpha_matches_krippendorffs_worked_example(
    level: str, published: float
) -> None:
    res = krippendorff_alpha(RAW_4_RATERS, level=level)
    assert round(res.value, 3) == published and res.n_pairable == 40


def test_krippendorff_alpha_matches_irrcac_to_its_printed_digits() -> None:
    assert krippendorff_alpha(RAW_4_RATERS).value == pytest.approx(0.74342, abs=5e-6)
    six = krippendorff_alpha(_raw_from_distribution(DISTRIB_6_RATERS))
    assert six.value == pytest.approx(0.4204384, abs=5e-8)


def test_the_kappa_paradox_moves_kappa_not_pabak_or_ac1() -> None:
    # Feinstein and Cicchetti (1990): both tables agree on 85 of 100 cases.
    def pairs(a: int, b: int, c: int, d: int) -> tuple[list[str], list[str]]:
        cells = [("y", "y")] * a + [("y", "n")] * b + [("n", "y")] * c + [("n", "n")] * d
        return [x for x, _ in cells], [y for _, y in cells]

    balanced, skewed = pairs(40, 9, 6, 45), pairs(80, 10, 5, 5)
    kappas = [cohen_kappa(*t, categories=["y", "n"]).value for t in (balanced, skewed)]
    assert kappas == pytest.approx([0.70, 0.32], abs=0.005)
    adjusted = [pabak(*t, categories=["y", "n"]) for t in (balanced, skewed)]
    assert [r.value for r in adjusted] == pytest.approx([0.70, 0.70])  # 2 * 0.85 - 1
    assert all(r.ci_low < 0.70 < r.ci_high for r in adjusted)
    ac1 = gwet_ac([list(pair) for pair in zip(*skewed, strict=True)], categories=["y", "n"])
    assert ac1.value == pytest.approx((0.85 - 0.21875) / (1 - 0.21875))  # stays high


def test_pabak_over_more_categories_and_undefined_input() -> None:
    res = pabak([1, 2, 3, 3], [1, 2, 3, 1], categories=[1, 2, 3])
    assert res.value == pytest.approx((3 * 0.75 - 1) / 2) and res.n == 4
    assert pabak([1, None], [None, 2], categories=[1, 2]).reason == "no paired ratings"
    with pytest.raises(ValueError, match="not one of"):
        pabak([1], [7], categories=[1, 2])


def test_undefined_coefficients_carry_a_reason() -> None:
    once = gwet_ac([[1, None], [2, None]], categories=[1, 2])
    assert math.isnan(once.value) and once.reason and "rated twice" in once.reason
    same = krippendorff_alpha([[1, 1], [1, 1]])
    assert math.isnan(same.value) and same.reason and "same" in same.reason
    with pytest.raises(ValueError, match="numeric"):
        krippendorff_alpha([["a", "b"], ["b", "b"]], level="interval")
    with pytest.raises(ValueError, match="not one of"):
        gwet_ac([[1, 9]], categories=[1, 2])


def test_the_subjects_order_changes_no_bit() -> None:
    # A re-imported study lists its readings in another order; its statistics must be equal.
    rows = _raw_from_distribution(DISTRIB_6_RATERS)
    shuffled = rows[7:] + rows[:7]
    for weights in (None, "linear"):
        first = gwet_ac(rows, categories=range(5), weights=weights)
        again = gwet_ac(shuffled[::-1], categories=range(5), weights=weights)
        assert first == again
    assert krippendorff_alpha(rows) == krippendorff_alpha(shuffled[::-1])
