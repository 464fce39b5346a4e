"""The plain records of a study's analysis (Django-free): what ``load`` reads from the database
(``StudyData`` of ``ReadingRow`` and reference rules) and what ``analyse`` returns
(``StudyAnalysis`` of flat ``StatRow`` tables, comparative summaries, confusion matrices and CNR
images), with the two helpers both analysis steps use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from readerstudy import questions as q


@dataclass(frozen=True)
class ReadingRow:
    """One submitted, current reading: answers (computed ones included) and the slot arms."""

    session: int
    reader: str
    case: str
    answers: Mapping[str, Any]
    arms: Mapping[str, str] = field(default_factory=dict)  # slot label -> arm


@dataclass(frozen=True)
class SameReaderRule:
    session: int
    reference_session: int
    provenance: str = ""


@dataclass(frozen=True)
class NamedReaderRule:
    reference_reader: str
    session: int | None = None
    provenance: str = ""


@dataclass(frozen=True)
class EnteredReference:
    """A reference value for one case and question (consensus, or a form mapped to a key)."""

    case: str
    question: str
    value: Any
    source: str


@dataclass(frozen=True)
class StudyData:
    questions: Sequence[q.QuestionSpec]
    sessions: Mapping[int, str]
    readers: Sequence[str]
    readings: Sequence[ReadingRow]
    same_reader_rules: Sequence[SameReaderRule] = ()
    named_reader_rules: Sequence[NamedReaderRule] = ()
    entered: Sequence[EnteredReference] = ()


@dataclass(frozen=True)
class StatRow:
    comparison: str  # "reference", "intra-reader", "inter-reader", "arms"
    question: str
    question_label: str
    reader: str
    sessions: str
    statistic: str
    value: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    p: float = math.nan
    n: int = 0
    successes: int | None = None
    note: str = ""

    @property
    def display(self) -> str:
        if math.isnan(self.value):
            return "n/a"
        if self.successes is not None:
            return f"{100 * self.value:.1f}% ({self.successes}/{self.n})"
        return f"{self.value:.3f}"


@dataclass(frozen=True)
class ComparativeSummary:
    question: str
    reader: str
    session: int
    counts: Mapping[str, int]  # "equal" and each arm
    n: int
    sign_test_p: float
    note: str = ""


@dataclass(frozen=True)
class Confusion:
    question: str
    reader: str
    sessions: str
    categories: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]  # rows: judged answers, columns: reference


@dataclass(frozen=True)
class CnrImage:
    """The CNR of one image, (reader, case, reconstruction), for one target/background pair.

    Means and SD are NaN where an ROI is missing; ``cnr`` is NaN with a ``reason`` where it is
    undefined (missing ROI, background SD 0, ROIs on different images or in different units).
    """

    measure: str  # "dc/lf": the target's and the background's keys, without slot suffixes
    reader: str
    session: str
    case: str
    reconstruction: str  # the arm of the slot the ROIs were drawn on; "" if unknown
    target_mean: float
    background_mean: float
    background_sd: float
    cnr: float
    reason: str = ""


@dataclass
class StudyAnalysis:
    rows: list[StatRow] = field(default_factory=list)
    comparatives: list[ComparativeSummary] = field(default_factory=list)
    confusions: list[Confusion] = field(default_factory=list)
    cnr_images: list[CnrImage] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            return None if isinstance(value, float) and math.isnan(value) else value

        return {
            "rows": [
                {**{k: clean(v) for k, v in row.__dict__.items()}, "display": row.display}
                for row in self.rows
            ],
            "comparatives": [
                {
                    **summary.__dict__,
                    "counts": dict(summary.counts),
                    "sign_test_p": clean(summary.sign_test_p),
                }
                for summary in self.comparatives
            ],
            "confusions": [
                {
                    **c.__dict__,
                    "categories": list(c.categories),
                    "matrix": [list(r) for r in c.matrix],
                }
                for c in self.confusions
            ],
            "cnr_images": [
                {k: clean(v) for k, v in image.__dict__.items()} for image in self.cnr_images
            ],
            "warnings": list(self.warnings),
        }


def slot_of(spec: q.QuestionSpec, arms: Mapping[str, str]) -> str | None:
    """The slot a question is about, from its key suffix (``agreement_a`` -> slot "A")."""
    prefix, _, suffix = spec.key.rpartition("_")
    if not prefix:
        return None
    for slot in arms:
        if slot.lower() == suffix.lower():
            return slot
    return None


def median(values: list[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
