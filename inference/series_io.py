"""A CT (or MR) series as a volume for the models, with the checks a model's input needs.

Files are parsed by ``cases.dicom_io`` (the one module that turns bytes into datasets, and
Django-free); everything a model assumes about its input (a single-frame axial stack on a
regular grid) is checked by :func:`volume_from_datasets`, so that a wrong or corrupt series
fails a job or a training run with a sentence a coordinator can act on instead of a stack
trace. :func:`load_ct_volume` reads a series stored in the platform (the only function here
that needs Django, imported when called); the training commands read folders of files with
the same checks (``inference.training_data``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    MRImageStorage,
)

from cases.dicom_io import DicomRejected, parse_instance
from inference.errors import JobInputError

if TYPE_CHECKING:  # the volume type and the output writers stay importable without Django
    from cases.models import Series

#: Relative tolerance on spacing and orientation differences between slices.
_TOLERANCE = 1e-3
#: The models need some through-plane context; fewer slices are not a CT volume.
MIN_SLICES = 4
#: The single-frame SOP class of each modality a volume can be read from.
SINGLE_FRAME_CLASSES = {"CT": CTImageStorage, "MR": MRImageStorage}
MULTI_FRAME_CLASSES = {"CT": EnhancedCTImageStorage, "MR": EnhancedMRImageStorage}


class SeriesInputError(JobInputError):
    """The series cannot be the input of a model; the message says why, for the user."""


@dataclass(frozen=True, eq=False)
class CTVolume:
    """A CT series as a ``(z, y, x)`` HU volume, slice 0 cranial.

    Attributes:
        hu: Hounsfield units, float32 (for an MR series read by :func:`volume_from_datasets`
            with ``modality="MR"``: the rescaled signal).
        spacing_mm: ``(dz, dy, dx)``; ``dz`` is measured between slice positions.
        datasets: The source instances in the order of ``hu``'s slices (pixel data kept:
            highdicom and the derived series reference them).
    """

    hu: npt.NDArray[np.float32]
    spacing_mm: tuple[float, float, float]
    datasets: list[Dataset]


def read_series_datasets(series: Series) -> list[Dataset]:
    """The parsed instances of a series stored in the platform (needs Django)."""
    from cases.storage import open_stored

    instances = list(series.instances.all())
    if not instances:
        raise SeriesInputError(f"series {series.series_instance_uid} has no instances")
    datasets = []
    for instance in instances:
        try:
            with open_stored(instance.storage_key) as stored:
                data = bytes(stored.read())
        except OSError as exc:
            raise SeriesInputError(
                f"the stored file of instance {instance.sop_instance_uid} cannot be read"
            ) from exc
        try:
            datasets.append(parse_instance(data).dataset)
        except DicomRejected as exc:
            raise SeriesInputError(
                f"instance {instance.sop_instance_uid} is corrupt: {exc}"
            ) from exc
    return datasets


#: How many numbers each geometry attribute holds.
_GEOMETRY_VALUES = {"ImageOrientationPatient": 6, "ImagePositionPatient": 3, "PixelSpacing": 2}


def _float_list(ds: Dataset, keyword: str) -> list[float]:
    value = ds.get(keyword)
    if value is None:
        raise SeriesInputError(f"instance {ds.SOPInstanceUID} has no {keyword}")
    # A malformed file (one value where DICOM asks for several, text) is bad input, not a bug.
    values = list(value) if isinstance(value, list | tuple | MultiValue) else [value]
    expected = _GEOMETRY_VALUES.get(keyword, len(values))
    if len(values) != expected:
        raise SeriesInputError(
            f"instance {ds.SOPInstanceUID} has {len(values)} {keyword} values, not {expected}"
        )
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise SeriesInputError(f"instance {ds.SOPInstanceUID} has a malformed {keyword}") from exc
    if not all(np.isfinite(numbers)):
        raise SeriesInputError(f"instance {ds.SOPInstanceUID} has a malformed {keyword}")
    return numbers


def _check_same(values: Sequence[Sequence[float]], what: str) -> None:
    first = np.asarray(values[0])
    for value in values[1:]:
        if not np.allclose(value, first, rtol=_TOLERANCE, atol=_TOLERANCE):
            raise SeriesInputError(f"the slices of the series differ in {what}")


def load_ct_volume(series: Series, *, require_modality: str = "CT") -> CTVolume:
    """Read a stored single-frame axial CT series into a HU volume.

    Args:
        series: The series (of any case; the caller checked permissions).
        require_modality: The modality the model was trained on.

    Returns:
        The volume, cranial slice first, with its spacing and source datasets.

    Raises:
        SeriesInputError: If the series is not a CT, is corrupt, multi-frame, not axial,
            irregularly spaced, or has too few slices.
    """
    if series.modality != require_modality:
        raise SeriesInputError(
            f"the model needs a {require_modality} series, but series "
            f"{series.series_number or series.series_instance_uid} is {series.modality}"
        )
    return volume_from_datasets(read_series_datasets(series), modality=require_modality)


def read_dicom_file(data: bytes, *, name: str) -> Dataset:
    """Parse one DICOM file with the checks of ingest (``cases.dicom_io``).

    Raises:
        SeriesInputError: If it is not an acceptable DICOM file; ``name`` says which.
    """
    try:
        return parse_instance(data).dataset
    except DicomRejected as exc:
        raise SeriesInputError(f"{name} is not a usable DICOM file: {exc}") from exc


def volume_from_datasets(datasets: Sequence[Dataset], *, modality: str = "CT") -> CTVolume:
    """Check single-frame axial images of one series and stack them into a volume.

    Args:
        datasets: The instances, in any order.
        modality: ``"CT"`` (values in HU) or ``"MR"``.

    Returns:
        The volume, cranial slice first, with its spacing and the datasets in that order.

    Raises:
        SeriesInputError: If an instance is of another modality, multi-frame, without pixels,
            or the slices are not one regular axial grid of at least ``MIN_SLICES``.
    """
    if not datasets:
        raise SeriesInputError("the series has no instances")
    datasets = list(datasets)
    for ds in datasets:
        if str(ds.get("Modality", "")) != modality:
            raise SeriesInputError(
                f"instance {ds.SOPInstanceUID} is {ds.get('Modality')}, not {modality}"
            )
        if str(ds.SOPClassUID) == MULTI_FRAME_CLASSES.get(modality):
            raise SeriesInputError(
                f"multi-frame (enhanced) {modality} is not supported as model input"
            )
        if str(ds.SOPClassUID) != SINGLE_FRAME_CLASSES.get(modality):
            raise SeriesInputError(f"instance {ds.SOPInstanceUID} is not a {modality} image")
        if "PixelData" not in ds:
            raise SeriesInputError(f"instance {ds.SOPInstanceUID} has no pixel data")
    if len(datasets) < MIN_SLICES:
        raise SeriesInputError(
            f"the series has {len(datasets)} slices; the models need at least {MIN_SLICES}"
        )
    orientation = [_float_list(ds, "ImageOrientationPatient") for ds in datasets]
    _check_same(orientation, "orientation")
    _check_same([_float_list(ds, "PixelSpacing") for ds in datasets], "pixel spacing")
    _check_same([[float(ds.Rows), float(ds.Columns)] for ds in datasets], "matrix size")
    row, column = np.asarray(orientation[0][:3]), np.asarray(orientation[0][3:])
    normal = np.cross(row, column)
    if abs(normal[2]) < 0.99:
        raise SeriesInputError(
            "the models work on axial slices; this series is not axial "
            f"(ImageOrientationPatient {orientation[0]})"
        )
    # Cranial first: patient +z is superior, so sort by decreasing position along the normal
    # oriented towards +z.
    normal = normal if normal[2] > 0 else -normal
    positions = [float(np.dot(_float_list(ds, "ImagePositionPatient"), normal)) for ds in datasets]
    order = np.argsort(positions)[::-1]
    datasets = [datasets[int(i)] for i in order]
    steps = -np.diff(np.asarray(positions)[order])
    if np.any(steps <= _TOLERANCE):
        raise SeriesInputError("two slices of the series share one position")
    if not np.allclose(steps, steps.mean(), rtol=0.01, atol=0.01):
        raise SeriesInputError(
            "the slices are not evenly spaced (missing slices?); "
            f"gaps range from {steps.min():.2f} to {steps.max():.2f} mm"
        )
    spacing_y, spacing_x = _float_list(datasets[0], "PixelSpacing")
    try:
        hu = np.stack(
            [
                ds.pixel_array.astype(np.float32) * float(ds.get("RescaleSlope", 1) or 1)
                + float(ds.get("RescaleIntercept", 0) or 0)
                for ds in datasets
            ]
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise SeriesInputError(f"the pixel data cannot be decoded: {exc}") from exc
    return CTVolume(
        hu=hu,
        spacing_mm=(float(steps.mean()), spacing_y, spacing_x),
        datasets=datasets,
    )


def _positions(volume: CTVolume) -> npt.NDArray[np.float64]:
    return np.asarray([_float_list(ds, "ImagePositionPatient") for ds in volume.datasets])


def check_same_grid(reference: CTVolume, other: CTVolume, *, what: str) -> None:
    """Check that ``other`` lies voxel for voxel on ``reference``'s grid (co-registered).

    Same frame of reference (where both declare one), slice count and positions, orientation,
    pixel spacing and matrix size, within 0.01 mm.

    Raises:
        SeriesInputError: Saying what differs; ``what`` names the other series.
    """
    ref_ds, other_ds = reference.datasets[0], other.datasets[0]
    ref_for = str(ref_ds.get("FrameOfReferenceUID", "") or "")
    other_for = str(other_ds.get("FrameOfReferenceUID", "") or "")
    if ref_for and other_for and ref_for != other_for:
        raise SeriesInputError(
            f"{what} has another frame of reference than the CT: it is not co-registered"
        )
    if other.hu.shape != reference.hu.shape:
        raise SeriesInputError(
            f"{what} is not on the CT grid: {other.hu.shape} voxels (z, y, x), the CT has "
            f"{reference.hu.shape}"
        )
    for keyword in ("ImageOrientationPatient", "PixelSpacing"):
        if not np.allclose(
            _float_list(ref_ds, keyword), _float_list(other_ds, keyword), atol=0.01, rtol=0
        ):
            raise SeriesInputError(f"{what} is not on the CT grid: its {keyword} differs")
    offset = np.abs(_positions(reference) - _positions(other)).max()
    if offset > 0.01:
        raise SeriesInputError(
            f"{what} is not on the CT grid: its slices lie up to {offset:.2f} mm away from "
            "the CT's (not co-registered)"
        )
