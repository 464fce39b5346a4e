"""ROI measurements: the contrast-to-noise ratio per image and its comparison across
reconstructions (PROTOCOLS.md 2: CNR = |HU_DC - HU_X| / SD_X, X = ligamentum flavum or disc,
Wilcoxon signed-rank between reconstructions, median CNR per reconstruction).

A coordinator declares a CNR on the target ROI question: ``{"cnr_background": "lf"}`` or
``{"cnr_background": ["lf", "ivd"]}`` on the dural canal question ``dc``. Each declared pair
gives, for every reader:

* one ``CnrImage`` per image; an image is (reader, case, reconstruction), and the
  reconstruction is the arm of the viewport slot the ROIs were drawn on (the ROI answer's
  ``slot``, else the question's slot suffix, else the reading's only slot; a slot without an
  arm counts as its label);
* per reconstruction, the median CNR with its interquartile range and the number of images;
* per pair of reconstructions, the Wilcoxon signed-rank test paired by case (exact for small
  samples without ties, as ``statistics.wilcoxon_signed_rank`` decides) and the median of the
  paired differences.

A reading holds one answer per question, so each reconstruction a reader measures needs its own
ROI questions. Two designs fit the model without special cases:

* one session whose hanging protocol shows the reconstructions side by side (slots ``A``,
  ``B``, ``C`` with arms ``ADMIRE3``, ``ADMIRE4``, ``ADMIRE5``) and slot questions ``dc_a`` /
  ``lf_a``, ``dc_b`` / ``lf_b``, ... (the ``agreement_a`` convention; ``dc_a`` names
  ``lf_a`` as its background), or
* one session per reconstruction, each showing one slot whose arm names the reconstruction,
  with the questions ``dc`` and ``lf`` (``dc`` names ``lf``).

Slot suffixes are dropped from the measure's name, so both give the rows of "dc/lf". Readings of
every session are pooled per reader; an image measured twice (two sessions) keeps the later
measurement and is warned about.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from readerstudy import questions as q
from readerstudy import statistics as stats
from readerstudy.results.records import (
    CnrImage,
    ReadingRow,
    StatRow,
    StudyAnalysis,
    StudyData,
    median,
    slot_of,
)

NAN = math.nan


@dataclass(frozen=True)
class _Pair:
    target: q.QuestionSpec
    background: q.QuestionSpec


def cnr_pairs(specs: Sequence[q.QuestionSpec]) -> tuple[list[_Pair], list[str]]:
    """The declared target/background pairs, and a warning for each one that cannot be used."""
    rois = {spec.key: spec for spec in specs if spec.type == q.ROI}
    pairs, warnings = [], []
    for spec in rois.values():
        for key in q.cnr_backgrounds(spec):
            if key in rois and key != spec.key:
                pairs.append(_Pair(spec, rois[key]))
            else:
                warnings.append(
                    f"CNR: {spec.key} names {key} as its background, which is not another ROI "
                    "question of this study; no CNR for it."
                )
    return pairs, warnings


def _base_key(spec: q.QuestionSpec, reading: ReadingRow) -> str:
    """The key without a slot suffix (``dc_a`` -> ``dc`` where the reading has a slot A)."""
    slot = slot_of(spec, reading.arms)
    return spec.key.rpartition("_")[0] if slot is not None else spec.key


def _reconstruction(spec: q.QuestionSpec, answer: Mapping[str, Any], reading: ReadingRow) -> str:
    """The arm of the slot an ROI was drawn on; "" when the reading does not say."""
    slot = answer.get("slot") or ""
    if slot in reading.arms:
        return reading.arms[slot]
    suffix_slot = slot_of(spec, reading.arms)
    if suffix_slot is not None:
        return reading.arms[suffix_slot]
    if len(reading.arms) == 1:
        return next(iter(reading.arms.values()))
    return ""


def _number(answer: Any, key: str) -> float:
    value = answer.get(key) if isinstance(answer, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else NAN


def image_cnr(pair: _Pair, reading: ReadingRow, session: str) -> tuple[str, str, CnrImage] | None:
    """(measure, label, image) of one reading for one pair; None if neither ROI was drawn."""
    target, background = (reading.answers.get(s.key) for s in (pair.target, pair.background))
    if not isinstance(target, Mapping) and not isinstance(background, Mapping):
        return None
    t_base, b_base = _base_key(pair.target, reading), _base_key(pair.background, reading)
    measure = f"{t_base}/{b_base}"
    names = [
        spec.label if base == spec.key else base
        for spec, base in ((pair.target, t_base), (pair.background, b_base))
    ]
    label = f"CNR {names[0]} / {names[1]}"
    recons = {
        _reconstruction(spec, answer, reading)
        for spec, answer in ((pair.target, target), (pair.background, background))
        if isinstance(answer, Mapping)
    }
    reconstruction = recons.pop() if len(recons) == 1 else ""
    t_mean, b_mean = _number(target, "mean"), _number(background, "mean")
    b_sd = _number(background, "sd")
    reason = ""
    if not isinstance(target, Mapping):
        reason = f"no {pair.target.key} ROI"
    elif not isinstance(background, Mapping):
        reason = f"no {pair.background.key} ROI"
    elif recons:  # two different reconstructions were left in the set
        reason = "the two ROIs are on different images"
    elif not reconstruction:
        reason = "the ROI's slot is not one of the case's viewports"
    elif len(units := {str(a.get("unit")) for a in (target, background) if a.get("unit")}) > 1:
        reason = f"the ROIs are in different units ({', '.join(sorted(units))})"
    elif b_sd < 0:  # stored answers are validated (SD >= 0); older data is not trusted blindly
        reason = "the background SD is negative"
    value = NAN
    if not reason:
        found = stats.cnr(t_mean, b_mean, b_sd)
        value, reason = found.value, found.reason or ""
    image = CnrImage(
        measure, reading.reader, session, reading.case, reconstruction, t_mean, b_mean, b_sd,
        value, reason,
    )  # fmt: skip
    return measure, label, image


def _natural(text: str) -> tuple[tuple[int, Any], ...]:
    """Sort key that orders "40 keV" before "100 keV" and "ADMIRE3" before "ADMIRE5"."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in re.split(r"(\d+)", text)
        if part
    )


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return NAN, NAN
    low, high = np.percentile(values, [25, 75])  # R's default (type 7)
    return float(low), float(high)


def _rows(
    measure: str, label: str, reader: str, images: list[CnrImage], sessions: str
) -> list[StatRow]:
    """Median CNR per reconstruction and Wilcoxon between each pair, for one reader."""
    common = ("cnr", measure, label, reader, sessions)
    by_recon: dict[str, dict[str, CnrImage]] = defaultdict(dict)
    for image in images:
        if image.reconstruction:
            by_recon[image.reconstruction][image.case] = image
    recons = sorted(by_recon, key=_natural)
    rows = []
    for recon in recons:
        found = [i.cnr for i in by_recon[recon].values() if not math.isnan(i.cnr)]
        missing = sorted({i.reason for i in by_recon[recon].values() if math.isnan(i.cnr)})
        low, high = _quartiles(found)
        note = "interval: interquartile range"
        if missing:
            without = len(by_recon[recon]) - len(found)
            note += f"; {without} image(s) without a CNR: {'; '.join(missing)}"
        rows.append(
            StatRow(*common, f"median CNR {recon}", median(found), low, high, n=len(found),
                    note=note)
        )  # fmt: skip
    for first, second in combinations(recons, 2):
        cases = sorted(
            case
            for case in set(by_recon[first]) & set(by_recon[second])
            if not math.isnan(by_recon[first][case].cnr)
            and not math.isnan(by_recon[second][case].cnr)
        )
        x = [by_recon[first][case].cnr for case in cases]
        y = [by_recon[second][case].cnr for case in cases]
        test = stats.wilcoxon_signed_rank(x, y, method="auto")
        note = test.reason or f"{test.method} p; {len(cases)} cases paired"
        if test.zeros:
            note += f"; {test.zeros} zero differences dropped"
        rows.append(
            StatRow(
                *common,
                f"Wilcoxon {first} vs {second} (median difference)",
                median([u - v for u, v in zip(x, y, strict=True)]),
                p=test.p,
                n=test.n,
                note=note,
            )
        )
    return rows


def add_cnr(result: StudyAnalysis, data: StudyData) -> None:
    """CNR images, rows and warnings of every declared pair, added to ``result``."""
    pairs, warnings = cnr_pairs(data.questions)
    result.warnings += warnings
    if not pairs:
        return
    labels: dict[str, str] = {}
    # (measure, reader) -> (case, reconstruction) -> image, readings in session order.
    images: dict[tuple[str, str], dict[tuple[str, str], CnrImage]] = defaultdict(dict)
    twice: set[str] = set()
    for reading in sorted(data.readings, key=lambda r: r.session):
        session = data.sessions.get(reading.session, str(reading.session))
        for pair in pairs:
            found = image_cnr(pair, reading, session)
            if found is None:
                continue
            measure, label, image = found
            labels.setdefault(measure, label)
            result.cnr_images.append(image)
            if not image.reconstruction:
                result.warnings.append(
                    f"CNR {measure} ({reading.reader}, {session}, case {reading.case}): "
                    f"{image.reason}; left out."
                )
                continue
            mine = images[(measure, reading.reader)]
            key = (reading.case, image.reconstruction)
            if key in mine:
                twice.add(f"{measure} ({reading.reader})")
            mine[key] = image
    result.warnings += [
        f"CNR {name}: an image was measured more than once; the later measurement is used."
        for name in sorted(twice)
    ]
    readers = {reader: index for index, reader in enumerate(data.readers)}
    measures = {measure: index for index, measure in enumerate(labels)}
    for (measure, reader), mine in sorted(
        images.items(), key=lambda item: (measures[item[0][0]], readers.get(item[0][1], -1))
    ):
        kept = list(mine.values())
        sessions = " + ".join(dict.fromkeys(image.session for image in kept))
        result.rows += _rows(measure, labels[measure], reader, kept, sessions)
