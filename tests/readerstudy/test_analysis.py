"""The study analysis over plain data: the statistic per question type, unblinding of arms."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest

from readerstudy import analysis as an
from readerstudy import protocols
from readerstudy import questions as q
from readerstudy import statistics as stats

SLIC_SPECS = protocols.SLIC.questions
FINDINGS = ("retropharyngeal_hematoma", "disc_injury", "cord_edema", "canal_stenosis")


def _slic_answers(truth: bool, level: str, ct: int, mri: int) -> dict[str, object]:
    answers: dict[str, object] = {key: truth for key in FINDINGS}
    answers.update(
        interspinous_ligament_injury=not truth,
        sci_level=level,
        slic_ct_morphology=ct,
        slic_mri_dlc=mri,
        slic_total=ct + mri,
    )
    return answers


def _slic_data() -> an.StudyData:
    readings = []
    session2 = [(True, "C5", 2, 2), (False, "C4", 0, 0), (True, "C6", 4, 1), (False, "C3", 1, 0)]
    session1 = [(True, "C5", 2, 1), (False, "C5", 0, 0), (False, "C6", 3, 1), (False, "C7", 1, 0)]
    for index, (first, second) in enumerate(zip(session1, session2, strict=True)):
        case = f"case-{index}"
        readings.append(an.ReadingRow(1, "reader-a", case, _slic_answers(*first)))
        readings.append(an.ReadingRow(2, "reader-a", case, _slic_answers(*second)))
    return an.StudyData(
        questions=SLIC_SPECS,
        sessions={1: "Session 1", 2: "Session 2"},
        readers=["reader-a"],
        readings=readings,
        same_reader_rules=[an.SameReaderRule(1, 2)],
    )


def _row(result: an.StudyAnalysis, question: str, statistic: str) -> an.StatRow:
    (row,) = [r for r in result.rows if r.question == question and r.statistic == statistic]
    return row


def test_findings_get_accuracy_with_wilson_ci_and_sensitivity_against_the_rule() -> None:
    result = an.analyse(_slic_data())

    accuracy = _row(result, "cord_edema", "accuracy")
    assert (accuracy.successes, accuracy.n) == (3, 4)
    assert accuracy.display == "75.0% (3/4)"
    expected = stats.wilson_ci(3, 4)
    assert (accuracy.ci_low, accuracy.ci_high) == (expected.ci_low, expected.ci_high)
    assert accuracy.comparison == "reference" and accuracy.sessions == "Session 1 vs Session 2"
    sensitivity = _row(result, "cord_edema", "sensitivity")
    assert (sensitivity.successes, sensitivity.n) == (1, 2)
    assert _row(result, "cord_edema", "specificity").display == "100.0% (2/2)"
    # The session pair that the rule covers is not repeated as an intra-reader comparison.
    assert not [r for r in result.rows if r.comparison == "intra-reader"]


def test_ordinal_and_computed_scores_get_unweighted_and_weighted_kappa() -> None:
    result = an.analyse(_slic_data())

    ct = [2, 0, 3, 1], [2, 0, 4, 1]
    for weights, name in (
        (None, "kappa"),
        ("linear", "kappa (linear)"),
        ("quadratic", "kappa (quadratic)"),
    ):
        row = _row(result, "slic_ct_morphology", name)
        expected = stats.cohen_kappa(*ct, categories=[0, 1, 2, 3, 4], weights=weights)
        assert row.value == pytest.approx(expected.value)
        assert row.p == pytest.approx(expected.p, nan_ok=True)
    total = _row(result, "slic_total", "kappa")
    assert total.n == 4
    assert {c.question for c in result.confusions} >= {"slic_total", "slic_ct_morphology"}


def test_vertebral_level_gets_exact_and_within_one_level_agreement() -> None:
    result = an.analyse(_slic_data())

    assert _row(result, "sci_level", "exact level").display == "50.0% (2/4)"
    # C5 vs C4 and C7 vs C3: only the first is within one level.
    assert _row(result, "sci_level", "within one level").display == "75.0% (3/4)"


def test_small_samples_are_warned_about() -> None:
    result = an.analyse(_slic_data())
    assert any("n=4" in warning for warning in result.warnings)


def _ncctm_data() -> an.StudyData:
    readings = []
    # Per case: which arm sat in slot A, the answer to "closer", and the Likert of A and B.
    cases = [
        ("NC-CTM", "A", 5, 3), ("MRM", "A", 5, 2), ("MRM", "B", 3, 4), ("NC-CTM", "equal", 4, 4),
        ("NC-CTM", "B", 2, 5), ("MRM", "B", 2, 4), ("NC-CTM", "A", 4, 2), ("MRM", "equal", 3, 3),
    ]  # fmt: skip
    for index, (in_a, closer, likert_a, likert_b) in enumerate(cases):
        other = "MRM" if in_a == "NC-CTM" else "NC-CTM"
        answers = {"closer": closer, "agreement_a": likert_a, "agreement_b": likert_b}
        readings.append(
            an.ReadingRow(1, "surgeon", f"c{index}", answers, arms={"A": in_a, "B": other})
        )
    return an.StudyData(
        questions=protocols.NCCTM.questions,
        sessions={1: "Session 1"},
        readers=["surgeon"],
        readings=readings,
    )


def test_comparative_answers_are_unblinded_to_arms_with_a_sign_test() -> None:
    result = an.analyse(_ncctm_data())

    (summary,) = result.comparatives
    # A/B mean different arms per case: closer=A on case 0 is NC-CTM, on case 1 MRM.
    assert dict(summary.counts) == {"NC-CTM": 4, "MRM": 2, "equal": 2}
    assert summary.n == 8
    assert summary.sign_test_p == pytest.approx(binomtest(2, 6, 0.5).pvalue)


def test_slot_questions_are_compared_between_arms_with_wilcoxon() -> None:
    result = an.analyse(_ncctm_data())

    (row,) = [r for r in result.rows if r.comparison == "arms"]
    # Per case, the Likert given to the NC-CTM image and to the MRM image.
    ncctm = [5, 2, 4, 4, 2, 4, 4, 3]
    mrm = [3, 5, 3, 4, 5, 2, 2, 3]
    expected = stats.wilcoxon_signed_rank(mrm, ncctm, method="auto")
    assert row.statistic.startswith("Wilcoxon MRM vs NC-CTM")
    assert row.p == pytest.approx(expected.p)
    assert row.n == expected.n


def test_three_readers_get_fleiss_kappa_and_two_get_pairwise_cohen() -> None:
    spec = q.QuestionSpec(key="edema", type=q.YES_NO, label="Edema", options={})
    answers = {"r1": [True, True, False, False, True], "r2": [True, False, False, False, True],
               "r3": [True, True, False, True, True]}  # fmt: skip
    readings = [
        an.ReadingRow(1, reader, f"c{i}", {"edema": value})
        for reader, values in answers.items()
        for i, value in enumerate(values)
    ]
    data = an.StudyData([spec], {1: "S1"}, list(answers), readings)

    result = an.analyse(data)

    fleiss = _row(result, "edema", "Fleiss kappa")
    expected = stats.fleiss_kappa(
        list(zip(*answers.values(), strict=True)), categories=[False, True]
    )
    assert fleiss.value == pytest.approx(expected.value)
    assert not [r for r in result.rows if r.comparison == "inter-reader" and " vs " in r.reader]

    two = an.StudyData([spec], {1: "S1"}, ["r1", "r2"], [r for r in readings if r.reader != "r3"])
    pair = _row(an.analyse(two), "edema", "kappa")
    assert pair.reader == "r1 vs r2"
    assert pair.value == pytest.approx(
        stats.cohen_kappa(answers["r1"], answers["r2"], categories=[False, True]).value
    )


def test_numbers_get_icc_pearson_and_bland_altman_against_entered_references() -> None:
    spec = q.QuestionSpec(key="bmd", type=q.NUMBER, label="BMD", options={})
    values = [0.8, 0.9, 1.1, 0.7, 1.0, 0.95]
    truth = [0.82, 0.88, 1.15, 0.72, 0.97, 0.9]
    readings = [an.ReadingRow(1, "r1", f"c{i}", {"bmd": v}) for i, v in enumerate(values)]
    entered = [an.EnteredReference(f"c{i}", "bmd", v, "consensus") for i, v in enumerate(truth)]
    data = an.StudyData([spec], {1: "S1"}, ["r1"], readings, entered=entered)

    result = an.analyse(data)

    assert _row(result, "bmd", "Pearson r").value == pytest.approx(
        stats.pearson(values, truth).value
    )
    bias = _row(result, "bmd", "Bland-Altman bias")
    assert bias.value == pytest.approx(stats.bland_altman(values, truth).bias)
    icc = _row(result, "bmd", "ICC(A,1)")
    assert 0 < icc.value < 1


def test_unanswered_and_degenerate_input_give_nan_with_a_reason_not_a_crash() -> None:
    spec = q.QuestionSpec(key="edema", type=q.YES_NO, label="Edema", options={})
    readings = [
        an.ReadingRow(1, "r1", "c0", {"edema": True}),
        an.ReadingRow(2, "r1", "c0", {"edema": True}),
        an.ReadingRow(1, "r1", "c1", {"edema": None}),
        an.ReadingRow(2, "r1", "c1", {"edema": True}),
    ]
    data = an.StudyData([spec], {1: "S1", 2: "S2"}, ["r1"], readings, [an.SameReaderRule(1, 2)])

    result = an.analyse(data)

    kappa = _row(result, "edema", "kappa")
    assert kappa.n == 1 and math.isnan(kappa.value) and kappa.note
    exported = [r for r in result.as_dict()["rows"] if r["statistic"] == "kappa"]
    assert exported[0]["value"] is None  # NaN becomes null in JSON, never a number
