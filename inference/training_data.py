"""Training data from DICOM: a coordinator's own cases, as folders or as datasets (Django-free).

The training commands read real cases here; the platform's stored cases reach the same
functions through ``inference.training_cases``. Every volume goes through the checks of a
job's input (``inference.series_io.volume_from_datasets``), and the label or the MRI must lie
on the CT's grid, voxel for voxel: nothing is resampled or registered behind the user's back.

Layout of a cases directory (one sub-folder per case; folder names are never stored)::

    CASES_DIR/
      <case>/ct/      the CT series (single-frame CT Image Storage files)
      <case>/label/   NC-CTM: one DICOM SEG file referencing the CT slices (segment ``i`` is
                      structure ``i``: 1 dural canal, 2 nerve roots), or a label-mask series
                      on the CT grid whose pixel values are the label numbers
      <case>/mri/     pseudo-MRI: the co-registered T2-weighted MR series on the CT grid

Any file name is accepted inside those folders (hidden files and DICOMDIR are skipped).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import SegmentationStorage

from inference.ncctm.data import SegmentationCase
from inference.pseudomri.data import PairedVolume
from inference.series_io import (
    CTVolume,
    SeriesInputError,
    check_same_grid,
    read_dicom_file,
    volume_from_datasets,
)

CT_FOLDER, LABEL_FOLDER, MRI_FOLDER = "ct", "label", "mri"
#: The folders each task needs in every case folder.
TASK_FOLDERS = {"ncctm": (CT_FOLDER, LABEL_FOLDER), "pseudomri": (CT_FOLDER, MRI_FOLDER)}
_SKIPPED = {"DICOMDIR"}
_CHUNK = 1 << 20


class TrainingDataError(ValueError):
    """The training data cannot be used; the message says why, for the user."""


@dataclass(frozen=True)
class TrainingData:
    """Cases ready for a training run and the summary the model registry keeps of them.

    ``summary`` says where the data came from (folder and listing checksum, or platform case
    ids) and never holds a patient identifier.
    """

    cases: list[Any]
    summary: dict[str, Any]


# --- one case from datasets ---------------------------------------------------------------------


def _modality_of(datasets: Sequence[Dataset]) -> str:
    return str(datasets[0].get("Modality", "") or "")


def label_map_from_datasets(
    ct: CTVolume, label: Sequence[Dataset], *, structures: Sequence[str]
) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The label map ``(z, y, x)`` of ``ct`` from a DICOM SEG or a label-mask series.

    A SEG must reference the CT's slices (as every SEG made from single-frame images does,
    our own included); its segment ``i`` becomes label ``i``. A mask series must lie on the CT
    grid and hold whole numbers from 0 to ``len(structures)``.

    Raises:
        SeriesInputError: If the label does not belong to the CT or is not a label map.
    """
    if len(label) == 1 and str(label[0].SOPClassUID) == SegmentationStorage:
        return _seg_label_map(ct, label[0], structures=structures)
    if any(str(ds.SOPClassUID) == SegmentationStorage for ds in label):
        raise SeriesInputError("the label holds several SEG files; give one SEG per case")
    modality = _modality_of(label)
    if modality not in ("CT", "MR"):
        raise SeriesInputError(
            f"the label is {modality or 'of no modality'}: give a DICOM SEG or a label-mask "
            "CT/MR series"
        )
    mask = volume_from_datasets(label, modality=modality)
    check_same_grid(ct, mask, what="the label-mask series")
    values = np.unique(mask.hu)
    if np.any(values != np.rint(values)) or values.min() < 0 or values.max() > len(structures):
        raise SeriesInputError(
            f"the label-mask series holds values {values[:8].tolist()}; a label map holds whole "
            f"numbers from 0 (background) to {len(structures)}"
        )
    return mask.hu.astype(np.uint8)


def _seg_label_map(
    ct: CTVolume, seg_dataset: Dataset, *, structures: Sequence[str]
) -> np.ndarray[Any, np.dtype[np.uint8]]:
    import highdicom as hd

    try:
        seg = hd.seg.Segmentation.from_dataset(seg_dataset, copy=False)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise SeriesInputError(f"the SEG cannot be read: {exc}") from exc
    if len(seg.segment_numbers) > len(structures):
        raise SeriesInputError(
            f"the SEG has {len(seg.segment_numbers)} segments; the model knows "
            f"{len(structures)} ({', '.join(structures)})"
        )
    if not set(seg.segment_numbers) <= set(range(1, len(structures) + 1)):
        # Segment i is label i: a number beyond the structures would be a label the model lacks.
        raise SeriesInputError(
            f"the SEG's segments are numbered {', '.join(map(str, seg.segment_numbers))}; "
            f"segment i is structure i, from 1 to {len(structures)} ({', '.join(structures)})"
        )
    ct_for = str(ct.datasets[0].get("FrameOfReferenceUID", "") or "")
    seg_for = str(seg_dataset.get("FrameOfReferenceUID", "") or "")
    if ct_for and seg_for and ct_for != seg_for:
        raise SeriesInputError(
            "the SEG is not on the CT grid: it has another frame of reference than the CT"
        )
    ct_uids = [str(ds.SOPInstanceUID) for ds in ct.datasets]
    referenced = {uid for _, _, uid in seg.get_source_image_uids()}
    if not referenced or not referenced <= set(ct_uids):
        raise SeriesInputError(
            "the SEG is not on the CT grid: it references images that are not slices of "
            "this CT series"
        )
    if (int(seg_dataset.Rows), int(seg_dataset.Columns)) != ct.hu.shape[1:]:
        raise SeriesInputError(
            f"the SEG is not on the CT grid: its frames are {seg_dataset.Rows} x "
            f"{seg_dataset.Columns}, the CT slices {ct.hu.shape[1]} x {ct.hu.shape[2]}"
        )
    try:
        pixels = seg.get_pixels_by_source_instance(
            ct_uids,
            combine_segments=True,
            assert_missing_frames_are_empty=True,
            ignore_spatial_locations=True,
            dtype=np.uint8,
        )
    except (KeyError, RuntimeError, ValueError) as exc:
        raise SeriesInputError(f"the SEG does not give a label map of the CT: {exc}") from exc
    return np.ascontiguousarray(pixels, dtype=np.uint8)


def segmentation_case_from_datasets(
    case_id: str,
    ct: Sequence[Dataset],
    label: Sequence[Dataset],
    *,
    structures: Sequence[str],
) -> SegmentationCase:
    """An NC-CTM training case: the CT and its label map on the CT grid.

    Raises:
        SeriesInputError: If the CT is no CT volume or the label does not fit it.
    """
    volume = volume_from_datasets(ct, modality="CT")
    labels = label_map_from_datasets(volume, label, structures=structures)
    if not labels.any():
        raise SeriesInputError("the label is empty: a training case needs a labelled canal")
    return SegmentationCase(
        case_id=case_id,
        ct_hu=np.rint(volume.hu).astype(np.int16),
        labels=labels,
        spacing_mm=volume.spacing_mm,
    )


def paired_volume_from_datasets(
    case_id: str, ct: Sequence[Dataset], mri: Sequence[Dataset]
) -> PairedVolume:
    """A pseudo-MRI training pair: the CT and the co-registered MR series on its grid.

    Raises:
        SeriesInputError: If either is not a volume of its modality or they are not paired.
    """
    ct_volume = volume_from_datasets(ct, modality="CT")
    if _modality_of(mri) != "MR":
        raise SeriesInputError(f"the MRI series is {_modality_of(mri) or 'of no modality'}, not MR")
    mr_volume = volume_from_datasets(mri, modality="MR")
    check_same_grid(ct_volume, mr_volume, what="the MRI series")
    signal = np.clip(np.rint(mr_volume.hu), 0, np.iinfo(np.uint16).max)
    return PairedVolume(
        case_id=case_id,
        ct_hu=np.rint(ct_volume.hu).astype(np.int16),
        mri=signal.astype(np.uint16),
    )


# --- a cases directory --------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name not in _SKIPPED
    )


def _read_folder(folder: Path, where: str) -> list[Dataset]:
    files = _files(folder)
    if not files:
        raise TrainingDataError(f"{where} holds no files")
    return [read_dicom_file(path.read_bytes(), name=f"{where}/{path.name}") for path in files]


def read_cases_dir(
    root: Path,
    *,
    task: str,
    structures: Sequence[str] = (),
    say: Callable[[str], None] | None = None,
) -> TrainingData:
    """Read every case folder of ``root`` for ``task`` (``"ncctm"`` or ``"pseudomri"``).

    Cases are named ``case-001``, ``case-002``... in the sorted order of their folders (the
    folder names, which may carry identifiers, are neither stored nor written to metrics);
    ``say`` reports which folder became which case. The summary holds the folder, the case
    count and the sha256 of the listing (each file's relative path and sha256), so a model
    card tells whether two models saw the same files.

    Raises:
        TrainingDataError: If the folder, a case or a file is not usable; the message names
            the case folder and the reason.
    """
    if task not in TASK_FOLDERS:
        raise TrainingDataError(f"unknown task {task!r}")
    root = Path(root)
    if not root.is_dir():
        raise TrainingDataError(f"the cases directory {root} does not exist")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise TrainingDataError(f"{root} holds no case folders (one sub-folder per case)")
    listing = hashlib.sha256()
    cases: list[Any] = []
    for number, folder in enumerate(folders, start=1):
        case_id = f"case-{number:03d}"
        needed = TASK_FOLDERS[task]
        missing = [name for name in needed if not (folder / name).is_dir()]
        if missing:
            raise TrainingDataError(
                f"case folder {folder.name} has no {' or '.join(m + '/' for m in missing)} "
                f"folder (a {task} case needs {', '.join(n + '/' for n in needed)})"
            )
        try:
            series = {name: _read_folder(folder / name, f"{folder.name}/{name}") for name in needed}
            if task == "ncctm":
                cases.append(
                    segmentation_case_from_datasets(
                        case_id, series[CT_FOLDER], series[LABEL_FOLDER], structures=structures
                    )
                )
            else:
                cases.append(
                    paired_volume_from_datasets(case_id, series[CT_FOLDER], series[MRI_FOLDER])
                )
        except SeriesInputError as exc:
            raise TrainingDataError(f"case folder {folder.name}: {exc}") from exc
        for name in needed:
            for path in _files(folder / name):
                relative = path.relative_to(root).as_posix()
                listing.update(f"{relative}\t{_sha256(path)}\n".encode())
        if say is not None:
            say(f"{case_id}: {folder.name}")
    return TrainingData(
        cases=cases,
        summary={
            "source": "cases directory",
            "cases_dir": str(root.resolve()),
            "cases": len(cases),
            "listing_sha256": listing.hexdigest(),
            "case_ids": [c.case_id for c in cases],
        },
    )
