"""Training data from the platform's own stored cases (``train_ncctm --cases``).

A coordinator in the hospital trains on the cases already uploaded: the CT is the case's
acquired series of role "Dual-energy CT (mixed)" (preferred: the NC-CTM protocol's input) or
"CT"; the reference is the acquired series of role "NC-CTM dural canal mask" (a DICOM SEG or a
label-mask series) for NC-CTM, or "MRI T2-weighted" for pseudo-MRI. Outputs of inference jobs
are never training references (a model would learn its own mistakes): only series that were
uploaded, not derived, count. The summary keeps the case ids (platform UUIDs), never labels
or patient identifiers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from cases.models import Case, Series, SeriesRole
from inference.series_io import SeriesInputError, read_series_datasets
from inference.training_data import (
    TrainingData,
    TrainingDataError,
    paired_volume_from_datasets,
    segmentation_case_from_datasets,
)

#: The CT roles a training case reads, in order of preference.
CT_ROLES = (SeriesRole.DECT_MIXED, SeriesRole.CT)
#: The reference series role of each task.
REFERENCE_ROLES = {"ncctm": SeriesRole.NCCTM_MASK, "pseudomri": SeriesRole.MRI_T2}


def _acquired(case: Case, role: SeriesRole, modalities: Sequence[str]) -> list[Series]:
    """Uploaded (not derived) series of ``case`` with ``role``, SEG first."""
    series = Series.objects.filter(
        study__case=case,
        role=role,
        modality__in=modalities,
        source_series__isnull=True,
        producing_jobs__isnull=True,
    ).order_by("series_number", "series_instance_uid")
    return sorted(series, key=lambda s: s.modality != "SEG")


def training_series(case: Case, task: str) -> tuple[Series, Series] | None:
    """The CT and the reference series a case trains ``task`` with, or ``None``."""
    ct = next(
        (s for role in CT_ROLES for s in _acquired(case, role, ("CT",))),
        None,
    )
    modalities = ("SEG", "CT") if task == "ncctm" else ("MR",)
    reference = next(iter(_acquired(case, REFERENCE_ROLES[task], modalities)), None)
    if ct is None or reference is None:
        return None
    return ct, reference


def parse_case_ids(text: str) -> list[uuid.UUID] | None:
    """``"all"`` (``None``) or comma-separated case ids.

    Raises:
        TrainingDataError: If an id is not a UUID.
    """
    if text.strip().lower() == "all":
        return None
    ids = []
    for part in text.split(","):
        try:
            ids.append(uuid.UUID(part.strip()))
        except ValueError as exc:
            raise TrainingDataError(
                f"--cases takes 'all' or case ids separated by commas; {part.strip()!r} is not "
                "a case id"
            ) from exc
    if not ids:
        raise TrainingDataError("--cases needs 'all' or at least one case id")
    return ids


def read_platform_cases(
    case_ids: Sequence[uuid.UUID] | None, *, task: str, structures: Sequence[str] = ()
) -> TrainingData:
    """Training data from stored cases: the given ones, or all that have a CT and a reference.

    Raises:
        TrainingDataError: If a named case does not exist or lacks a series, a series does not
            fit (wrong modality, not on the CT grid), or no case qualifies.
    """
    if case_ids is None:
        chosen = [
            (case, found)
            for case in Case.objects.order_by("label")
            if (found := training_series(case, task)) is not None
        ]
        if not chosen:
            raise TrainingDataError(
                f"no case has both a CT and a {REFERENCE_ROLES[task].label} series to train on"
            )
    else:
        found_cases = {case.pk: case for case in Case.objects.filter(pk__in=case_ids)}
        missing = [str(i) for i in case_ids if i not in found_cases]
        if missing:
            raise TrainingDataError(f"no case with id {', '.join(missing)}")
        chosen = []
        for case_id in dict.fromkeys(case_ids):
            case = found_cases[case_id]
            series = training_series(case, task)
            if series is None:
                raise TrainingDataError(
                    f"case {case.label} has no uploaded CT and {REFERENCE_ROLES[task].label} "
                    "series to train on"
                )
            chosen.append((case, series))
    cases: list[Any] = []
    for case, (ct, reference) in chosen:
        try:
            ct_datasets = read_series_datasets(ct)
            reference_datasets = read_series_datasets(reference)
            if task == "ncctm":
                cases.append(
                    segmentation_case_from_datasets(
                        str(case.pk), ct_datasets, reference_datasets, structures=structures
                    )
                )
            else:
                cases.append(
                    paired_volume_from_datasets(str(case.pk), ct_datasets, reference_datasets)
                )
        except SeriesInputError as exc:
            raise TrainingDataError(f"case {case.label}: {exc}") from exc
    return TrainingData(
        cases=cases,
        summary={
            "source": "platform cases",
            "cases": len(cases),
            "case_ids": [c.case_id for c in cases],
        },
    )
