"""A reader study's analysis: the right statistic per question type, per reader, per session
pair, between readers and against each reference standard.

Django-free: ``StudyData`` (plain rows loaded by ``results.load``) in, ``StudyAnalysis``
(flat ``StatRow`` tables, comparative summaries, confusion matrices) out. Blinded answers are
unblinded here and only here: "A" / "B" become the arm the reader saw in that slot for that
case (e.g. "NC-CTM" / "MRM"), and slot questions (``agreement_a``) become per-arm values.

What each question type gets:
    yes/no, single choice: Cohen's kappa and percent agreement; against a reference also
        accuracy (Wilson CI) and, for yes/no, sensitivity and specificity.
    ordinal, Likert, computed scores: unweighted, linear and quadratic weighted kappa.
    vertebral level: exact and within-one-level agreement, kappa on the exact level.
    number: ICC(A,1), Pearson r, Bland-Altman bias and limits.
    comparative: counts per arm and the two-sided sign test (in the summaries).
    slot questions (``<key>_a`` / ``<key>_b``): Wilcoxon signed-rank between arms.
    ROI with ``cnr_background``: CNR per image, median per reconstruction, Wilcoxon signed-rank
        between reconstructions (``results.analyse_cnr``).
    text, other ROIs: not summarised here (exported as raw readings).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from scipy.stats import binomtest

from readerstudy import questions as q
from readerstudy import statistics as stats
from readerstudy.results import analyse_cnr
from readerstudy.results.records import (
    ComparativeSummary,
    Confusion,
    ReadingRow,
    StatRow,
    StudyAnalysis,
    StudyData,
    median,
    slot_of,
)

SMALL_SAMPLE = 10


_PAIRED_TYPES = (q.LIKERT, q.ORDINAL, q.NUMBER, q.COMPUTED)


_NOT_ANALYSED = (q.TEXT, q.ROI)


def _level_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return f"{value['from']}-{value['to']}"
    return str(value)


def _level_positions(value: Any) -> tuple[int, int] | None:
    """A level or range as positions along the spine (``none`` has none)."""
    if value is None or value == q.NO_LEVEL:
        return None
    if isinstance(value, dict):
        low, high = (q.VERTEBRAL_LEVELS.index(value[k]) for k in ("from", "to"))
        return min(low, high), max(low, high)
    index = q.VERTEBRAL_LEVELS.index(str(value))
    return index, index


def categories_of(spec: q.QuestionSpec, observed: Iterable[Hashable] = ()) -> list[Hashable]:
    """The categories a question's answers take (used or not), for kappa tables."""
    options = spec.options
    if spec.type == q.YES_NO:
        return [False, True]
    if spec.type == q.SINGLE_CHOICE:
        return [choice["value"] for choice in options["choices"]]
    if spec.type == q.ORDINAL:
        return [value["value"] for value in options["values"]]
    if spec.type == q.LIKERT:
        return list(q.LIKERT_VALUES)
    extra = sorted({value for value in observed if value is not None}, key=str)
    if spec.type == q.COMPUTED:
        numbers = [value for value in extra if isinstance(value, int | float)]
        if numbers and all(float(value).is_integer() for value in numbers):
            return list(range(int(min(numbers)), int(max(numbers)) + 1))
        return list(extra)
    return list(extra)


def _weights_for(spec: q.QuestionSpec) -> tuple[str | None, ...]:
    if spec.type in (q.ORDINAL, q.LIKERT, q.COMPUTED):
        return (None, "linear", "quadratic")
    return (None,)


@dataclass(frozen=True)
class _Pairing:
    comparison: str
    reader: str
    sessions: str


def _proportion_row(
    pairing: _Pairing, spec: q.QuestionSpec, name: str, result: stats.WilsonInterval
) -> StatRow:
    return StatRow(
        pairing.comparison,
        spec.key,
        spec.label,
        pairing.reader,
        pairing.sessions,
        name,
        result.value,
        result.ci_low,
        result.ci_high,
        n=result.n,
        successes=result.successes,
        note=result.reason or "",
    )


def _kappa_rows(
    pairing: _Pairing, spec: q.QuestionSpec, a: list[Any], b: list[Any], cats: list[Hashable]
) -> list[StatRow]:
    rows = []
    for weights in _weights_for(spec):
        kappa = stats.cohen_kappa(a, b, categories=cats, weights=weights)
        name = "kappa" if weights is None else f"kappa ({weights})"
        rows.append(
            StatRow(
                pairing.comparison,
                spec.key,
                spec.label,
                pairing.reader,
                pairing.sessions,
                name,
                kappa.value,
                kappa.ci_low,
                kappa.ci_high,
                kappa.p,
                kappa.n,
                note=kappa.reason or "",
            )
        )
    return rows + _beyond_kappa_rows(pairing, spec, a, b, cats)


def _beyond_kappa_rows(
    pairing: _Pairing, spec: q.QuestionSpec, a: list[Any], b: list[Any], cats: list[Hashable]
) -> list[StatRow]:
    """Beside kappa, the coefficients that survive a dominant category (the kappa paradox):
    Gwet's AC1 (AC2 with the kappa's weights), Krippendorff's alpha and PABAK."""

    def row(statistic: str, value: float, *, low: float = math.nan, high: float = math.nan,
            p: float = math.nan, n: int = len(a), note: str | None = None) -> StatRow:  # fmt: skip
        return StatRow(
            pairing.comparison, spec.key, spec.label, pairing.reader, pairing.sessions,
            statistic, value, low, high, p, n, note=note or "",
        )  # fmt: skip

    pairs = [list(pair) for pair in zip(a, b, strict=True)]
    rows = []
    for weights in _weights_for(spec):
        ac = stats.gwet_ac(pairs, categories=cats, weights=weights)
        name = "Gwet AC1" if weights is None else f"Gwet AC2 ({weights})"
        rows.append(row(name, ac.value, low=ac.ci_low, high=ac.ci_high, p=ac.p, note=ac.reason))
    level = "nominal" if len(_weights_for(spec)) == 1 else "ordinal"
    alpha = stats.krippendorff_alpha([_ordered(pair, cats) for pair in pairs], level=level)
    rows.append(row(f"Krippendorff alpha ({level})", alpha.value, note=alpha.reason))
    adjusted = stats.pabak(a, b, categories=cats)
    rows.append(
        row("PABAK", adjusted.value, low=adjusted.ci_low, high=adjusted.ci_high,
            note=adjusted.reason)
    )  # fmt: skip
    return rows


def _ordered(values: Sequence[Hashable], cats: list[Hashable]) -> list[int]:
    """Category positions: ordinal alpha ranks the scale's order, not the labels' sort order."""
    return [cats.index(value) for value in values]


def compare(
    pairing: _Pairing, spec: q.QuestionSpec, judged: Sequence[Any], reference: Sequence[Any]
) -> tuple[list[StatRow], Confusion | None]:
    """Statistics of paired answers (both given), by question type."""
    pairs = [
        (a, b) for a, b in zip(judged, reference, strict=True) if a is not None and b is not None
    ]
    if not pairs:
        return [], None
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    rows: list[StatRow] = []
    confusion = None
    if spec.type == q.NUMBER:
        x, y = [float(v) for v in a], [float(v) for v in b]
        icc = stats.icc([[u, v] for u, v in zip(x, y, strict=True)])
        r = stats.pearson(x, y)
        ba = stats.bland_altman(x, y)
        common = (pairing.comparison, spec.key, spec.label, pairing.reader, pairing.sessions)
        rows += [
            StatRow(
                *common,
                "ICC(A,1)",
                icc.icc2.value,
                icc.icc2.ci_low,
                icc.icc2.ci_high,
                icc.icc2.p,
                icc.n_subjects,
                note=icc.reason or "",
            ),
            StatRow(
                *common, "Pearson r", r.value, r.ci_low, r.ci_high, r.p, r.n, note=r.reason or ""
            ),
            StatRow(
                *common,
                "Bland-Altman bias",
                ba.bias,
                ba.loa_low,
                ba.loa_high,
                n=len(x),
                note="interval: limits of agreement",
            ),
        ]
        return rows, None
    if spec.type == q.VERTEBRAL_LEVEL:
        a_text, b_text = [_level_text(v) for v in a], [_level_text(v) for v in b]
        exact = sum(u == v for u, v in zip(a_text, b_text, strict=True))
        rows.append(_proportion_row(pairing, spec, "exact level", stats.wilson_ci(exact, len(a))))
        within = sum(_within_one(u, v) for u, v in zip(a, b, strict=True))
        rows.append(
            _proportion_row(pairing, spec, "within one level", stats.wilson_ci(within, len(a)))
        )
        a, b = a_text, b_text  # kappa on the exact level
    agree = sum(u == v for u, v in zip(a, b, strict=True))
    name = "accuracy" if pairing.comparison == "reference" else "percent agreement"
    if spec.type != q.VERTEBRAL_LEVEL:
        rows.append(_proportion_row(pairing, spec, name, stats.wilson_ci(agree, len(a))))
    cats = categories_of(spec, [*a, *b])
    for value in (*a, *b):
        if value not in cats:
            cats.append(value)
    rows += _kappa_rows(pairing, spec, a, b, cats)
    if spec.type == q.YES_NO and pairing.comparison == "reference":
        accuracy = stats.diagnostic_accuracy(a, b, positive=True)
        rows.append(_proportion_row(pairing, spec, "sensitivity", accuracy.sensitivity))
        rows.append(_proportion_row(pairing, spec, "specificity", accuracy.specificity))
    index = {cat: i for i, cat in enumerate(cats)}
    matrix = [[0] * len(cats) for _ in cats]
    for u, v in zip(a, b, strict=True):
        matrix[index[u]][index[v]] += 1
    confusion = Confusion(
        spec.key,
        pairing.reader,
        pairing.sessions,
        tuple(str(c) for c in cats),
        tuple(tuple(row) for row in matrix),
    )
    return rows, confusion


def _within_one(a: Any, b: Any) -> bool:
    pa, pb = _level_positions(a), _level_positions(b)
    if pa is None or pb is None:
        return pa == pb
    return pa[0] - 1 <= pb[1] and pb[0] - 1 <= pa[1]


def _unblinded(spec: q.QuestionSpec, reading: ReadingRow) -> Any:
    value = reading.answers.get(spec.key)
    if spec.type == q.COMPARATIVE and value in ("A", "B"):
        return reading.arms.get(value, value)
    return value


Key = tuple[int, str, str]  # (session, reader, case) of a reading


@dataclass(frozen=True)
class _Plan:
    """Which answers are compared: judged readings against reference readings or values."""

    pairing: _Pairing
    judged: tuple[Key, ...]
    reference: tuple[Key, ...] = ()
    entered_cases: tuple[str, ...] = ()


def _plans(data: StudyData, cases: Mapping[tuple[int, str], set[str]]) -> list[_Plan]:
    name = data.sessions.get
    plans: list[_Plan] = []

    def paired(kind: str, reader: str, label: str, one: tuple[int, str], other: tuple[int, str]):
        common = sorted(cases.get(one, set()) & cases.get(other, set()))
        if common:
            judged = tuple((*one, c) for c in common)
            reference = tuple((*other, c) for c in common)
            plans.append(_Plan(_Pairing(kind, reader, label), judged, reference))

    ruled = set()
    for rule in data.same_reader_rules:
        ruled |= {(rule.session, rule.reference_session), (rule.reference_session, rule.session)}
        label = f"{name(rule.session)} vs {name(rule.reference_session)}"
        for reader in data.readers:
            paired(
                "reference", reader, label, (rule.session, reader), (rule.reference_session, reader)
            )
    for named in data.named_reader_rules:
        for session in [named.session] if named.session else sorted(data.sessions):
            label = f"{name(session)} vs {named.reference_reader}"
            for reader in data.readers:
                if reader != named.reference_reader:
                    paired(
                        "reference",
                        reader,
                        label,
                        (session, reader),
                        (session, named.reference_reader),
                    )
    for first, second in combinations(sorted(data.sessions), 2):
        if (first, second) not in ruled:
            for reader in data.readers:
                label = f"{name(first)} vs {name(second)}"
                paired("intra-reader", reader, label, (first, reader), (second, reader))
    for session in sorted(data.sessions):
        readers = [r for r in data.readers if cases.get((session, r))]
        if len(readers) == 2:  # more readers: Fleiss' kappa over all of them instead
            one, other = readers
            paired(
                "inter-reader",
                f"{one} vs {other}",
                str(name(session)),
                (session, one),
                (session, other),
            )
    entered_cases = tuple(sorted({ref.case for ref in data.entered}))
    if entered_cases:
        for session in sorted(data.sessions):
            for reader in data.readers:
                common = sorted(cases.get((session, reader), set()) & set(entered_cases))
                label = f"{name(session)} vs entered reference"
                judged = tuple((session, reader, c) for c in common)
                plans.append(_Plan(_Pairing("reference", reader, label), judged, (), tuple(common)))
    return plans


def analyse(data: StudyData) -> StudyAnalysis:
    """Every statistic of the study's current, submitted readings."""
    result = StudyAnalysis()
    by_key: dict[Key, ReadingRow] = {(r.session, r.reader, r.case): r for r in data.readings}
    cases: dict[tuple[int, str], set[str]] = defaultdict(set)
    for row in data.readings:
        cases[(row.session, row.reader)].add(row.case)
    plans = _plans(data, cases)
    specs = [spec for spec in data.questions if spec.type not in _NOT_ANALYSED]
    for spec in specs:
        if spec.type == q.COMPARATIVE:
            result.comparatives += _comparatives(spec, data)
        entered = {ref.case: ref.value for ref in data.entered if ref.question == spec.key}
        for plan in plans:
            judged = [_unblinded(spec, by_key[key]) for key in plan.judged]
            if plan.entered_cases:
                if not entered:
                    continue
                truth = [entered.get(case) for case in plan.entered_cases]
            else:
                truth = [_unblinded(spec, by_key[key]) for key in plan.reference]
            _add(result, compare(plan.pairing, spec, judged, truth))
        for session in sorted(data.sessions):
            readers = [r for r in data.readers if cases.get((session, r))]
            if len(readers) > 2 and spec.type != q.NUMBER:
                result.rows += _fleiss(spec, data, session, readers, by_key, cases)
    result.rows += _arm_comparisons(data, specs)
    # CNR rows come last and together (the results page shows them as one section).
    analyse_cnr.add_cnr(result, data)
    result.warnings += sorted(
        {
            f"Small sample: {row.question} ({row.reader}, {row.sessions}) has n={row.n}; "
            "read the confidence intervals, not the point estimates."
            for row in result.rows
            if 0 < row.n < SMALL_SAMPLE
        }
    )
    return result


def _add(result: StudyAnalysis, found: tuple[list[StatRow], Confusion | None]) -> None:
    rows, confusion = found
    result.rows += rows
    if confusion is not None:
        result.confusions.append(confusion)


def _fleiss(
    spec: q.QuestionSpec,
    data: StudyData,
    session: int,
    readers: list[str],
    by_key: Mapping[Key, ReadingRow],
    cases: Mapping[tuple[int, str], set[str]],
) -> list[StatRow]:
    common = set.intersection(*(cases[(session, r)] for r in readers))
    ratings = []
    for case in sorted(common):
        values = [_unblinded(spec, by_key[(session, r, case)]) for r in readers]
        if spec.type == q.VERTEBRAL_LEVEL:
            values = [_level_text(v) for v in values]
        if all(v is not None for v in values):
            ratings.append(values)
    cats = categories_of(spec, [v for row in ratings for v in row])
    for value in (v for row in ratings for v in row):
        if value not in cats:
            cats.append(value)
    fleiss = stats.fleiss_kappa(ratings, categories=cats)
    ac1 = stats.gwet_ac(ratings, categories=cats)
    alpha = stats.krippendorff_alpha(ratings)
    who, when = f"all {len(readers)} readers", data.sessions.get(session, str(session))
    return [
        StatRow("inter-reader", spec.key, spec.label, who, when, "Fleiss kappa", fleiss.value,
                p=fleiss.p, n=fleiss.n_subjects, note=fleiss.reason or ""),
        StatRow("inter-reader", spec.key, spec.label, who, when, "Gwet AC1", ac1.value,
                ac1.ci_low, ac1.ci_high, ac1.p, ac1.n_subjects, note=ac1.reason or ""),
        StatRow("inter-reader", spec.key, spec.label, who, when, "Krippendorff alpha (nominal)",
                alpha.value, n=len(ratings), note=alpha.reason or ""),
    ]  # fmt: skip


def _comparatives(spec: q.QuestionSpec, data: StudyData) -> list[ComparativeSummary]:
    summaries = []
    groups: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for row in data.readings:
        value = _unblinded(spec, row)
        if value is not None:
            groups[(row.session, row.reader)].append(value)
            groups[(row.session, "all readers")].append(value)
    for (session, reader), values in sorted(groups.items()):
        readers_in_session = sum(1 for s, r in groups if s == session and r != "all readers")
        if reader == "all readers" and readers_in_session == 1:
            continue  # one reader: the overall row would repeat that reader's row
        counts: dict[str, int] = defaultdict(int)
        for value in values:
            counts[str(value)] += 1
        arms = sorted(k for k in counts if k != "equal")
        decided = [counts[arm] for arm in arms]
        total_decided = int(sum(decided))
        p = math.nan
        note = ""
        if len(arms) == 2 and total_decided:
            p = float(binomtest(decided[0], total_decided, 0.5).pvalue)
        elif len(arms) < 2:
            note = "sign test needs answers favouring each of two arms"
        counts.setdefault("equal", 0)
        summaries.append(
            ComparativeSummary(spec.key, reader, session, dict(counts), len(values), p, note)
        )
    return summaries


def _arm_comparisons(data: StudyData, specs: Sequence[q.QuestionSpec]) -> list[StatRow]:
    """Paired slot questions (``x_a``, ``x_b``): per reader and session, arm vs arm (Wilcoxon)."""
    rows: list[StatRow] = []
    slot_specs = [spec for spec in specs if spec.type in _PAIRED_TYPES]
    groups: dict[str, list[q.QuestionSpec]] = defaultdict(list)
    for spec in slot_specs:
        prefix, _, suffix = spec.key.rpartition("_")
        if prefix and len(suffix) == 1:
            groups[prefix].append(spec)
    for prefix, members in groups.items():
        if len(members) != 2:
            continue
        per: dict[tuple[int, str], dict[str, dict[str, float]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        for reading in data.readings:
            for spec in members:
                slot = slot_of(spec, reading.arms)
                value = reading.answers.get(spec.key)
                if slot is None or value is None:
                    continue
                arm = reading.arms[slot]
                per[(reading.session, reading.reader)][reading.case][arm] = float(value)
        for (session, reader), by_case in sorted(per.items()):
            arms = sorted({arm for values in by_case.values() for arm in values})
            if len(arms) != 2:
                continue
            complete = [v for v in by_case.values() if len(v) == 2]
            x, y = [v[arms[0]] for v in complete], [v[arms[1]] for v in complete]
            test = stats.wilcoxon_signed_rank(x, y, method="auto")
            median_diff = median([u - v for u, v in zip(x, y, strict=True)])
            rows.append(
                StatRow(
                    "arms",
                    prefix,
                    f"{members[0].label} / {members[1].label}",
                    reader,
                    data.sessions.get(session, str(session)),
                    f"Wilcoxon {arms[0]} vs {arms[1]} (median difference)",
                    median_diff,
                    p=test.p,
                    n=test.n,
                    note=getattr(test, "reason", None) or "",
                )
            )
    return rows
