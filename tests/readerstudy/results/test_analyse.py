"""The study analysis over plain data: the statistic per question type, unblinding of arms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from scipy.stats import binomtest

from readerstudy import protocols
from readerstudy import questions as q
from readerstudy import statistics as stats
from readerstudy.results import analyse as an
from readerstudy.results import records

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


def _slic_data() -> records.StudyData:
    readings = []
    session2 = [(True, "C5", 2, 2), (False, "C4", 0, 0), (True, "C6", 4, 1), (False, "C3", 1, 0)]
    session1 = [(True, "C5", 2, 1), (False, "C5", 0, 0), (False, "C6", 3, 1), (False, "C7", 1, 0)]
    for index, (first, second) in enumerate(zip(session1, session2, strict=True)):
        case = f"case-{index}"
        readings.append(records.ReadingRow(1, "reader-a", case, _slic_answers(*first)))
        readings.append(records.ReadingRow(2, "reader-a", case, _slic_answers(*second)))
    return records.StudyData(
        questions=SLIC_SPECS,
        sessions={1: "Session 1", 2: "Session 2"},
        readers=["reader-a"],
        readings=readings,
        same_reader_rules=[records.SameReaderRule(1, 2)],
    )


def _row(result: records.StudyAnalysis, question: str, statistic: str) -> records.StatRow:
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


def test_wherever_kappa_is_ac1_ac2_alpha_and_pabak_are_beside_it() -> None:
    result = an.analyse(_slic_data())

    ct = [[2, 2], [0, 0], [3, 4], [1, 1]]  # the CT morphology scores of sessions 1 and 2
    scale = [0, 1, 2, 3, 4]
    for weights, name in ((None, "Gwet AC1"), ("quadratic", "Gwet AC2 (quadratic)")):
        row = _row(result, "slic_ct_morphology", name)
        expected = stats.gwet_ac(ct, categories=scale, weights=weights)
        assert (row.value, row.ci_low, row.p) == pytest.approx(
            (expected.value, expected.ci_low, expected.p)
        )
    alpha = _row(result, "slic_ct_morphology", "Krippendorff alpha (ordinal)")
    assert alpha.value == pytest.approx(stats.krippendorff_alpha(ct, level="ordinal").value)
    edema = _row(result, "cord_edema", "PABAK")  # yes/no: 2 p_o - 1, nominal alpha
    first, second = [True, False, False, False], [True, False, True, False]
    assert edema.value == pytest.approx(2 * 0.75 - 1)
    assert edema.value == pytest.approx(stats.pabak(first, second, categories=[True, False]).value)
    assert _row(result, "cord_edema", "Krippendorff alpha (nominal)").n == 4


def test_the_kappa_paradox_shows_in_the_analysis() -> None:
    # Two readers agree on 17 of 20 cases, nearly all negative: kappa is low, AC1 and PABAK
    # are not (Feinstein and Cicchetti 1990).
    spec = q.QuestionSpec(key="hematoma", type=q.YES_NO, label="Hematoma", options={})
    r1 = [True] + [False] * 19
    r2 = [False, True, True] + [False] * 17
    readings = [
        records.ReadingRow(1, reader, f"c{i:02d}", {"hematoma": value})
        for reader, values in (("r1", r1), ("r2", r2))
        for i, value in enumerate(values)
    ]
    result = an.analyse(records.StudyData([spec], {1: "S1"}, ["r1", "r2"], readings))

    kappa = _row(result, "hematoma", "kappa").value
    ac1 = _row(result, "hematoma", "Gwet AC1").value
    assert kappa < 0 < 0.8 < ac1
    assert _row(result, "hematoma", "PABAK").value == pytest.approx(2 * 17 / 20 - 1)


def test_vertebral_level_gets_exact_and_within_one_level_agreement() -> None:
    result = an.analyse(_slic_data())

    assert _row(result, "sci_level", "exact level").display == "50.0% (2/4)"
    # C5 vs C4 and C7 vs C3: only the first is within one level.
    assert _row(result, "sci_level", "within one level").display == "75.0% (3/4)"


def test_small_samples_are_warned_about() -> None:
    result = an.analyse(_slic_data())
    assert any("n=4" in warning for warning in result.warnings)


def _ncctm_data() -> records.StudyData:
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
            records.ReadingRow(1, "surgeon", f"c{index}", answers, arms={"A": in_a, "B": other})
        )
    return records.StudyData(
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
        records.ReadingRow(1, reader, f"c{i}", {"edema": value})
        for reader, values in answers.items()
        for i, value in enumerate(values)
    ]
    data = records.StudyData([spec], {1: "S1"}, list(answers), readings)

    result = an.analyse(data)

    fleiss = _row(result, "edema", "Fleiss kappa")
    expected = stats.fleiss_kappa(
        list(zip(*answers.values(), strict=True)), categories=[False, True]
    )
    assert fleiss.value == pytest.approx(expected.value)
    assert not [r for r in result.rows if r.comparison == "inter-reader" and " vs " in r.reader]

    two = records.StudyData(
        [spec], {1: "S1"}, ["r1", "r2"], [r for r in readings if r.reader != "r3"]
    )
    pair = _row(an.analyse(two), "edema", "kappa")
    assert pair.reader == "r1 vs r2"
    assert pair.value == pytest.approx(
        stats.cohen_kappa(answers["r1"], answers["r2"], categories=[False, True]).value
    )


def test_numbers_get_icc_pearson_and_bland_altman_against_entered_references() -> None:
    spec = q.QuestionSpec(key="bmd", type=q.NUMBER, label="BMD", options={})
    values = [0.8, 0.9, 1.1, 0.7, 1.0, 0.95]
    truth = [0.82, 0.88, 1.15, 0.72, 0.97, 0.9]
    readings = [records.ReadingRow(1, "r1", f"c{i}", {"bmd": v}) for i, v in enumerate(values)]
    entered = [
        records.EnteredReference(f"c{i}", "bmd", v, "consensus") for i, v in enumerate(truth)
    ]
    data = records.StudyData([spec], {1: "S1"}, ["r1"], readings, entered=entered)

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
        records.ReadingRow(1, "r1", "c0", {"edema": True}),
        records.ReadingRow(2, "r1", "c0", {"edema": True}),
        records.ReadingRow(1, "r1", "c1", {"edema": None}),
        records.ReadingRow(2, "r1", "c1", {"edema": True}),
    ]
    data = records.StudyData(
        [spec], {1: "S1", 2: "S2"}, ["r1"], readings, [records.SameReaderRule(1, 2)]
    )

    result = an.analyse(data)

    kappa = _row(result, "edema", "kappa")
    assert kappa.n == 1 and math.isnan(kappa.value) and kappa.note
    exported = [r for r in result.as_dict()["rows"] if r["statistic"] == "kappa"]
    assert exported[0]["value"] is None  # NaN becomes null in JSON, never a number


# --- ROI measurements: CNR per image, median per reconstruction, Wilcoxon between them ------

UID = "2.25.1234"
# Per case, the DC-LF CNR a reader measured on ADMIRE3, ADMIRE4 and ADMIRE5 (PROTOCOLS.md 2
# medians: 3.23, 3.52, 3.87); no ties among the paired differences, so the test is exact.
CNR_BY_RECON = {
    "ADMIRE3": [3.23, 2.91, 3.60, 3.05, 3.41, 2.70, 3.90],
    "ADMIRE4": [3.52, 3.10, 3.95, 3.30, 3.71, 2.94, 4.32],
    "ADMIRE5": [3.87, 3.44, 4.41, 3.58, 4.16, 3.25, 4.95],
}
LF_MEAN, LF_SD = 40.0, 12.5


def _roi(mean: float, sd: float, slot: str, **extra: object) -> dict[str, object]:
    return {"series": UID, "slot": slot, "slice": 3, "geometry": {}, "mean": mean, "sd": sd,
            "area": 20.0, "unit": "HU", **extra}  # fmt: skip


def _roi_spec(key: str, label: str, **options: object) -> q.QuestionSpec:
    return q.QuestionSpec(key=key, type=q.ROI, label=label, options=options)


def _side_by_side_data(
    cnrs: dict[str, list[float]] = CNR_BY_RECON, reader: str = "r1"
) -> records.StudyData:
    """One session, slots A/B/C showing the reconstructions (shuffled per case), slot questions
    ``dc_a``/``lf_a`` ... with ``cnr_background`` on each DC question."""
    slots = ("A", "B", "C")
    specs = []
    for slot in slots:
        key = slot.lower()
        specs.append(_roi_spec(f"dc_{key}", f"Dural canal {slot}", cnr_background=f"lf_{key}"))
        specs.append(_roi_spec(f"lf_{key}", f"Ligamentum flavum {slot}"))
    recons = list(cnrs)
    readings = []
    for case in range(len(cnrs[recons[0]])):
        shown = recons[case % 3 :] + recons[: case % 3]  # which reconstruction sits in A, B, C
        answers: dict[str, object] = {}
        for slot, recon in zip(slots, shown, strict=True):
            value = cnrs[recon][case]
            answers[f"dc_{slot.lower()}"] = _roi(LF_MEAN + value * LF_SD, 30.0, slot)
            answers[f"lf_{slot.lower()}"] = _roi(LF_MEAN, LF_SD, slot)
        arms = dict(zip(slots, shown, strict=True))
        readings.append(records.ReadingRow(1, reader, f"case-{case}", answers, arms=arms))
    return records.StudyData(specs, {1: "Session 1"}, [reader], readings)


def _cnr_rows(result: records.StudyAnalysis, reader: str = "r1") -> dict[str, records.StatRow]:
    return {r.statistic: r for r in result.rows if r.comparison == "cnr" and r.reader == reader}


def test_roi_cnr_has_the_median_per_reconstruction_and_wilcoxon_between_them() -> None:
    result = an.analyse(_side_by_side_data())

    rows = _cnr_rows(result)
    assert list(rows) == [
        "median CNR ADMIRE3", "median CNR ADMIRE4", "median CNR ADMIRE5",
        "Wilcoxon ADMIRE3 vs ADMIRE4 (median difference)",
        "Wilcoxon ADMIRE3 vs ADMIRE5 (median difference)",
        "Wilcoxon ADMIRE4 vs ADMIRE5 (median difference)",
    ]  # fmt: skip
    for recon, median in (("ADMIRE3", 3.23), ("ADMIRE4", 3.52), ("ADMIRE5", 3.87)):
        row = rows[f"median CNR {recon}"]
        assert row.value == pytest.approx(median)
        assert row.n == 7 and row.question == "dc/lf"
        assert (row.ci_low, row.ci_high) == pytest.approx(
            tuple(np.percentile(CNR_BY_RECON[recon], [25, 75]))
        )
        assert "interquartile" in row.note
    for first, second in (("ADMIRE3", "ADMIRE4"), ("ADMIRE3", "ADMIRE5"), ("ADMIRE4", "ADMIRE5")):
        row = rows[f"Wilcoxon {first} vs {second} (median difference)"]
        x, y = CNR_BY_RECON[first], CNR_BY_RECON[second]
        # Independently: scipy's exact test on the same CNRs, and the platform's statistic.
        assert row.p == pytest.approx(scipy_stats.wilcoxon(x, y, method="exact").pvalue)
        assert row.p == pytest.approx(stats.wilcoxon_signed_rank(x, y).p)
        assert row.p == pytest.approx(2 / 2**7)  # every case improves: the smallest exact p
        assert row.n == 7
        assert row.value == pytest.approx(float(np.median(np.subtract(x, y))))
    assert any("Small sample: dc/lf (r1, Session 1) has n=7" in w for w in result.warnings)

    images = [i for i in result.cnr_images if i.reconstruction == "ADMIRE5"]
    assert sorted(i.cnr for i in images) == pytest.approx(sorted(CNR_BY_RECON["ADMIRE5"]))
    exported = records.StudyAnalysis(rows=[], cnr_images=result.cnr_images[:1]).as_dict()
    assert exported["cnr_images"][0]["measure"] == "dc/lf"


def test_one_session_per_reconstruction_pools_sessions_per_reader() -> None:
    """Questions ``dc`` and ``lf`` without slot suffixes; each session shows one reconstruction."""
    specs = [
        _roi_spec("dc", "Dural canal", cnr_background=["lf", "ivd"]),
        _roi_spec("lf", "Ligamentum flavum"),
        _roi_spec("ivd", "Intervertebral disc"),
    ]
    recons = {1: "40 keV", 2: "100 keV", 3: "mixed"}
    cnr = {1: [4.45, 4.1, 4.9, 4.3], 2: [7.23, 6.95, 7.72, 7.01], 3: [8.59, 8.2, 9.1, 8.4]}
    readings = []
    for session, recon in recons.items():
        for case, value in enumerate(cnr[session]):
            answers = {
                "dc": _roi(LF_MEAN + value * LF_SD, 30.0, "Image"),
                "lf": _roi(LF_MEAN, LF_SD, "Image"),
                "ivd": _roi(LF_MEAN, 0.0, "Image"),  # SD 0: CNR undefined
            }
            readings.append(
                records.ReadingRow(session, "r1", f"c{case}", answers, {"Image": recon})
            )
    sessions = {order: f"Session {order}" for order in recons}
    result = an.analyse(records.StudyData(specs, sessions, ["r1"], readings))

    lf = [r for r in result.rows if r.question == "dc/lf"]
    # Natural order: 40 keV before 100 keV (not alphabetical), then mixed.
    assert [r.statistic for r in lf][:3] == [
        "median CNR 40 keV",
        "median CNR 100 keV",
        "median CNR mixed",
    ]
    assert lf[0].question_label == "CNR Dural canal / Ligamentum flavum"
    assert lf[0].sessions == "Session 1 + Session 2 + Session 3"
    assert [r.value for r in lf[:3]] == pytest.approx([4.375, 7.12, 8.495])
    wilcoxon = [r for r in lf if r.statistic.startswith("Wilcoxon 40 keV vs 100 keV")]
    assert wilcoxon[0].p == pytest.approx(
        scipy_stats.wilcoxon(cnr[1], cnr[2], method="exact").pvalue
    )

    ivd = [r for r in result.rows if r.question == "dc/ivd"]
    assert ivd and all(math.isnan(r.value) for r in ivd)
    assert "background SD is 0" in ivd[0].note and ivd[0].n == 0
    assert ivd[-1].note == "no pairs"


def test_missing_rois_and_bad_declarations_give_nan_with_a_reason_not_a_crash() -> None:
    data = _side_by_side_data()
    first = data.readings[0]
    answers = dict(first.answers)
    answers["lf_a"] = None  # the reader drew the DC but not the LF in slot A
    answers["dc_b"] = {**answers["dc_b"], "slot": "C"}  # DC of B drawn on viewport C
    answers["lf_c"] = {**answers["lf_c"], "sd": -1.0}  # not valid stored data: no crash
    readings = [records.ReadingRow(1, "r1", first.case, answers, first.arms), *data.readings[1:]]
    specs = [*data.questions, _roi_spec("ivd", "Disc", cnr_background="nowhere")]
    result = an.analyse(records.StudyData(specs, data.sessions, data.readers, readings))

    reasons = {i.reason for i in result.cnr_images if i.case == first.case}
    assert "no lf_a ROI" in reasons
    assert "the two ROIs are on different images" in reasons
    assert "the background SD is negative" in reasons
    in_a = first.arms["A"]
    median = _cnr_rows(result)[f"median CNR {in_a}"]
    assert median.n == 6 and "1 image(s) without a CNR: no lf_a ROI" in median.note
    assert median.value == pytest.approx(float(np.median(CNR_BY_RECON[in_a][1:])))
    assert any("ivd names nowhere" in w for w in result.warnings)

    nothing = an.analyse(records.StudyData(data.questions, data.sessions, data.readers, []))
    assert not nothing.rows and not nothing.cnr_images


def test_roi_options_declare_cnr_backgrounds_and_keep_existing_studies_valid() -> None:
    for options in ({}, {"unit": "HU"}, {"cnr_background": "lf"},
                    {"cnr_background": ["lf", "ivd"], "unit": "HU"}):  # fmt: skip
        q.validate_options(_roi_spec("dc", "DC", **options))
    assert q.cnr_backgrounds(_roi_spec("dc", "DC", cnr_background="lf")) == ["lf"]
    for options in ({"cnr_background": []}, {"cnr_background": ["lf", "lf"]},
                    {"cnr_background": "not a key"}, {"cnr_background": 3},
                    {"cnr_background": "dc"}):  # fmt: skip
        with pytest.raises(q.AnswerError):
            q.validate_options(_roi_spec("dc", "DC", **options))
