"""Write phantom volumes as DICOM Part-10 CT and MR series (pydicom).

Geometry: every series written for one volume shape and spacing gets identical
ImagePositionPatient (per slice), ImageOrientationPatient (axial), PixelSpacing, Rows and
Columns; series of one case share StudyInstanceUID and FrameOfReferenceUID, so CT, MRI and
masks are registered voxel for voxel. Slice 0 of the arrays is the most cranial slice and
gets InstanceNumber 1 and the highest z (patient +z is superior). UIDs, dates and times are
deterministic (see :mod:`inference.phantoms.study`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
)

from inference.phantoms.study import StudyInfo, phantom_uid

MANUFACTURER = "Sagittal"
MODEL_NAME = "Synthetic spine phantom"
SOFTWARE_VERSION = "sagittal-phantoms 1.0"
DEVICE_SERIAL = "PHANTOM-0001"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True)
class MRParameters:
    """Acquisition attributes of the MR Image module."""

    scanning_sequence: tuple[str, ...] = ("SE",)
    sequence_variant: tuple[str, ...] = ("SK", "SP")
    scan_options: tuple[str, ...] = ("SP",)
    acquisition_type: str = "2D"
    repetition_time_ms: float = 3500.0
    echo_time_ms: float = 100.0
    echo_train_length: int = 17
    flip_angle_deg: float = 150.0
    field_strength_t: float = 3.0
    sequence_name: str = "*tse2d1_17"
    number_of_averages: float = 2.0
    pixel_bandwidth_hz: float = 250.0
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "OTHER")


@dataclass(frozen=True)
class CTParameters:
    """Acquisition and reconstruction attributes of the CT Image module."""

    kvp: float = 120.0
    tube_current_ma: int = 250
    exposure_time_ms: int = 500
    kernel: tuple[str, ...] = ("Br64d",)
    ctdi_vol_mgy: float = 18.0
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL")
    windows: tuple[tuple[float, float, str], ...] = ((40.0, 400.0, "SOFT TISSUE"),)
    extra: dict[str, object] = field(default_factory=dict)


def slice_positions(
    shape: tuple[int, int, int], spacing_mm: tuple[float, float, float]
) -> list[list[float]]:
    """ImagePositionPatient of each slice; the volume is centred on the isocentre.

    Args:
        shape: ``(Z, Y, X)``.
        spacing_mm: ``(dz, dy, dx)``.

    Returns:
        ``[x, y, z]`` of the first transmitted pixel of each slice, cranial slice first.
    """
    nz, ny, nx = shape
    dz, dy, dx = spacing_mm
    x0, y0 = -(nx - 1) / 2 * dx, -(ny - 1) / 2 * dy
    return [[round(x0, 5), round(y0, 5), round(((nz - 1) / 2 - k) * dz, 5)] for k in range(nz)]


def _base(
    study: StudyInfo,
    *,
    modality: str,
    sop_class: str,
    series_uid: str,
    series_number: int,
    series_description: str,
    acquisition_offset_s: int,
) -> Dataset:
    """Attributes common to every slice: patient, study, series, equipment, frame of ref."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.patient_birth_date
    ds.PatientSex = study.patient_sex
    ds.PatientAge = study.patient_age
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyDate = study.study_date
    ds.StudyTime = study.study_time
    ds.ReferringPhysicianName = ""
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession_number
    ds.StudyDescription = study.study_description
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.ProtocolName = series_description
    ds.SeriesDate = study.study_date
    ds.SeriesTime = study.time_after(acquisition_offset_s)
    ds.BodyPartExamined = study.body_part
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = study.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = MODEL_NAME
    ds.SoftwareVersions = SOFTWARE_VERSION
    ds.DeviceSerialNumber = DEVICE_SERIAL
    ds.InstitutionName = "Synthetic Phantom Institute"
    ds.AcquisitionNumber = 1
    for prefix in ("Acquisition", "Content", "InstanceCreation"):
        setattr(ds, f"{prefix}Date", study.study_date)
        setattr(ds, f"{prefix}Time", study.time_after(acquisition_offset_s))
    ds.BurnedInAnnotation = "NO"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.PixelRepresentation = 0
    ds.ImageOrientationPatient = list(AXIAL)
    return ds


def _slices(
    stored: npt.NDArray[np.uint16],
    spacing_mm: tuple[float, float, float],
    make: Dataset,
    series_uid: str,
) -> list[Dataset]:
    """One dataset per slice: shared attributes of ``make`` plus per-slice geometry/pixels."""
    nz, ny, nx = stored.shape
    bits = 12 if int(stored.max(initial=0)) <= 4095 else 16
    out = []
    for k, position in enumerate(slice_positions((nz, ny, nx), spacing_mm)):
        # A deep copy, not shared elements: callers may edit one slice's attributes.
        ds = copy.deepcopy(make)
        ds.SOPInstanceUID = phantom_uid(series_uid, "instance", k)
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = position
        ds.SliceLocation = position[2]
        ds.PixelSpacing = [round(spacing_mm[1], 6), round(spacing_mm[2], 6)]
        ds.SliceThickness = round(spacing_mm[0], 6)
        ds.SpacingBetweenSlices = round(spacing_mm[0], 6)
        ds.Rows, ds.Columns = ny, nx
        ds.BitsStored, ds.HighBit = bits, bits - 1
        ds.PixelData = np.ascontiguousarray(stored[k], dtype="<u2").tobytes()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = "SAGITTAL_PH_1"
        ds.file_meta = meta
        out.append(ds)
    return out


def build_ct_series(
    hu: npt.NDArray[np.integer],
    *,
    study: StudyInfo,
    spacing_mm: tuple[float, float, float],
    series_number: int,
    series_description: str,
    params: CTParameters | None = None,
    series_uid: str | None = None,
) -> list[Dataset]:
    """CT Image Storage datasets for a HU volume (in memory, see :func:`save_series`).

    Pixels are stored unsigned with RescaleIntercept -1024 and slope 1, the common scanner
    convention, so HU = stored - 1024; values below -1024 HU are clipped to -1024.

    Args:
        hu: Volume in HU, ``(z, y, x)``, slice 0 cranial.
        study: Patient/study attributes.
        spacing_mm: ``(dz, dy, dx)``.
        series_number: SeriesNumber.
        series_description: SeriesDescription (and ProtocolName).
        params: Acquisition attributes; defaults to a 120 kV bone-kernel scan.
        series_uid: SeriesInstanceUID; derived from the study namespace if omitted.
    """
    p = params or CTParameters()
    uid = series_uid or phantom_uid(study.uid_namespace, "series", series_number)
    ds = _base(
        study,
        modality="CT",
        sop_class=CTImageStorage,
        series_uid=uid,
        series_number=series_number,
        series_description=series_description,
        acquisition_offset_s=60 * series_number,
    )
    ds.ImageType = list(p.image_type)
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.RescaleType = "HU"
    ds.KVP = p.kvp
    ds.XRayTubeCurrent = p.tube_current_ma
    ds.ExposureTime = p.exposure_time_ms
    ds.Exposure = p.tube_current_ma * p.exposure_time_ms // 1000
    ds.ConvolutionKernel = list(p.kernel)
    ds.CTDIvol = p.ctdi_vol_mgy
    # CTDIvol is only interpretable with the dosimetry phantom it refers to (32 cm body).
    phantom = Dataset()
    phantom.CodeValue, phantom.CodingSchemeDesignator = "113691", "DCM"
    phantom.CodeMeaning = "IEC Body Dosimetry Phantom"
    ds.CTDIPhantomTypeCodeSequence = [phantom]
    ds.GantryDetectorTilt = 0
    ds.TableHeight = 150
    ds.RotationDirection = "CW"
    ds.ReconstructionDiameter = round(hu.shape[2] * spacing_mm[2], 3)
    ds.DataCollectionDiameter = 500
    ds.WindowCenter = [w[0] for w in p.windows]
    ds.WindowWidth = [w[1] for w in p.windows]
    ds.WindowCenterWidthExplanation = [w[2] for w in p.windows]
    for keyword, value in p.extra.items():
        setattr(ds, keyword, value)
    stored = (np.clip(hu.astype(np.int32), -1024, 64511) + 1024).astype(np.uint16)
    return _slices(stored, spacing_mm, ds, uid)


def build_mr_series(
    signal: npt.NDArray[np.integer],
    *,
    study: StudyInfo,
    spacing_mm: tuple[float, float, float],
    series_number: int,
    series_description: str,
    params: MRParameters | None = None,
    series_uid: str | None = None,
) -> list[Dataset]:
    """MR Image Storage datasets for a magnitude volume (unsigned, no rescale).

    Args:
        signal: Non-negative magnitude volume ``(z, y, x)``, slice 0 cranial.
        study: Patient/study attributes.
        spacing_mm: ``(dz, dy, dx)``.
        series_number: SeriesNumber.
        series_description: SeriesDescription (and ProtocolName).
        params: Sequence attributes; defaults to a 2D T2 turbo spin echo.
        series_uid: SeriesInstanceUID; derived from the study namespace if omitted.
    """
    p = params or MRParameters()
    uid = series_uid or phantom_uid(study.uid_namespace, "series", series_number)
    ds = _base(
        study,
        modality="MR",
        sop_class=MRImageStorage,
        series_uid=uid,
        series_number=series_number,
        series_description=series_description,
        acquisition_offset_s=60 * series_number,
    )
    ds.ImageType = list(p.image_type)
    ds.ScanningSequence = list(p.scanning_sequence)
    ds.SequenceVariant = list(p.sequence_variant)
    ds.ScanOptions = list(p.scan_options)
    ds.MRAcquisitionType = p.acquisition_type
    ds.SequenceName = p.sequence_name
    ds.AngioFlag = "N"
    ds.RepetitionTime = p.repetition_time_ms
    ds.EchoTime = p.echo_time_ms
    ds.EchoTrainLength = p.echo_train_length
    ds.EchoNumbers = 1
    ds.FlipAngle = p.flip_angle_deg
    ds.NumberOfAverages = p.number_of_averages
    ds.ImagingFrequency = round(42.577478 * p.field_strength_t, 6)
    ds.ImagedNucleus = "1H"
    ds.MagneticFieldStrength = p.field_strength_t
    ds.PixelBandwidth = p.pixel_bandwidth_hz
    ds.InPlanePhaseEncodingDirection = "ROW"
    ds.PatientWeight = 70
    stored = np.clip(signal, 0, 65535).astype(np.uint16)
    # Window from robust percentiles of the body, not the maximum (noise spikes).
    hi = float(np.percentile(stored[:: max(1, stored.shape[0] // 8)], 99.5))
    ds.WindowCenter, ds.WindowWidth = round(hi / 2, 1), round(max(hi, 1.0), 1)
    return _slices(stored, spacing_mm, ds, uid)


def save_series(datasets: Sequence[Dataset], out_dir: Path, prefix: str = "IM") -> list[Path]:
    """Write datasets as Part-10 files ``<prefix>_0001.dcm``... (preamble + file meta)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in datasets:
        path = out_dir / f"{prefix}_{int(ds.InstanceNumber):04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_ct_series(
    hu: npt.NDArray[np.integer],
    out_dir: Path,
    *,
    study: StudyInfo,
    spacing_mm: tuple[float, float, float],
    series_number: int,
    series_description: str,
    params: CTParameters | None = None,
    series_uid: str | None = None,
) -> list[Path]:
    """Build (arguments as :func:`build_ct_series`) and save a CT series into ``out_dir``."""
    datasets = build_ct_series(
        hu,
        study=study,
        spacing_mm=spacing_mm,
        series_number=series_number,
        series_description=series_description,
        params=params,
        series_uid=series_uid,
    )
    return save_series(datasets, out_dir, "CT")


def write_mr_series(
    signal: npt.NDArray[np.integer],
    out_dir: Path,
    *,
    study: StudyInfo,
    spacing_mm: tuple[float, float, float],
    series_number: int,
    series_description: str,
    params: MRParameters | None = None,
    series_uid: str | None = None,
) -> list[Path]:
    """Build (arguments as :func:`build_mr_series`) and save an MR series into ``out_dir``."""
    datasets = build_mr_series(
        signal,
        study=study,
        spacing_mm=spacing_mm,
        series_number=series_number,
        series_description=series_description,
        params=params,
        series_uid=series_uid,
    )
    return save_series(datasets, out_dir, "MR")
