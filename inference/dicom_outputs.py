"""DICOM instances made from model outputs: pseudo-MRI series, NC-CTM mask series and SEG.

Every output lies on its source CT's grid (same positions, orientation, pixel spacing and
FrameOfReferenceUID) in the source's study, so a viewer scrolls CT and output together and
overlays masks without registration. Headers say plainly what made them: ImageType DERIVED\\
SECONDARY, "SYNTHETIC" or "AI" in the series description, a DerivationDescription naming the
model, version, checksum and job, a ContributingEquipmentSequence and a SourceImageSequence
that points at each CT slice. UIDs derive from (job, source instance), so a job that runs again
makes the same instances and storing them again adds nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import highdicom as hd
import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)
from pydicom.valuerep import DA, DT, TM

from inference.series_io import CTVolume

MANUFACTURER = "Sagittal"
#: Offsets added to the source's SeriesNumber, so outputs sort after their source.
SERIES_NUMBER_OFFSET = {"pseudomri": 1000, "ncctm-mask": 2000, "ncctm-seg": 3000}

# Patient, study and frame-of-reference attributes copied from the (already de-identified)
# source: the output belongs to the same patient, study and coordinate system.
_COPIED = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "LongitudinalTemporalInformationModified",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
    "FrameOfReferenceUID",
    "PositionReferenceIndicator",
    "BodyPartExamined",
    "PatientPosition",
)
# Type 2 attributes of the Patient and General Study modules: present in every output, empty
# when the source left them out (ingest accepts such CTs, so the models must take them).
_TYPE2_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)
_GEOMETRY = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "SliceLocation",
)


@dataclass(frozen=True)
class Provenance:
    """What made an output: the job, the model version and the source series."""

    job_id: str
    task: str
    model_name: str
    model_version: str
    model_sha256: str
    source_series_uid: str
    created: dt.datetime

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``Series.provenance``."""
        return {
            "job": self.job_id,
            "task": self.task,
            "model": {
                "name": self.model_name,
                "version": self.model_version,
                "sha256": self.model_sha256,
            },
            "source_series_uid": self.source_series_uid,
            "created": self.created.isoformat(),
        }

    @property
    def model_label(self) -> str:
        return f"{self.model_name} {self.model_version}"

    def derivation(self, what: str) -> str:
        """A DerivationDescription (ST, at most 1024 characters)."""
        text = (
            f"{what} Made by the model {self.model_label} (sha256 {self.model_sha256[:16]}) "
            f"in inference job {self.job_id} from CT series {self.source_series_uid}."
        )
        return text[:1024]


def output_character_set(value: object) -> str | list[str] | None:
    """The Specific Character Set an output declares for the source's decoded text.

    Outputs copy decoded values (names, descriptions) from the source, and pydicom encodes them
    again in the declared set, so the source's own set is kept where it is a valid PS3.3 value.
    An empty first value of a multi-valued set is ISO 2022 IR 6 (PS3.3 C.12.1.1.2), written out
    because highdicom refuses the empty value. A set that is not valid as a whole (an unknown
    term, a code extension mixed with a set without them) becomes UTF-8 (ISO_IR 192), which
    encodes any text the source decoded to.
    """
    if value is None:
        return None
    raw = [value] if isinstance(value, str) else [str(v) for v in value]  # type: ignore[attr-defined]
    terms = [term.strip() for term in raw]
    if not any(terms):
        return None  # the default repertoire
    if terms[0] == "":
        terms[0] = "ISO 2022 IR 6"
    known = {member.value for member in hd.SpecificCharacterSetValues}
    extensions = all(term.startswith("ISO 2022 ") for term in terms)
    if any(term not in known for term in terms) or (len(terms) > 1 and not extensions):
        return "ISO_IR 192"
    return terms[0] if len(terms) == 1 else terms


def _patient_and_study(src: Dataset) -> Dataset:
    """The source's patient, study and frame-of-reference attributes for an output."""
    ds = Dataset()
    for keyword in _COPIED:
        if keyword in src:
            ds[keyword] = copy.deepcopy(src[keyword])
    for keyword in _TYPE2_PATIENT_STUDY:
        if keyword not in ds:
            setattr(ds, keyword, None)
    charset = output_character_set(src.get("SpecificCharacterSet"))
    if charset is None:
        ds.pop("SpecificCharacterSet", None)
    else:
        ds.SpecificCharacterSet = charset
    return ds


def _completed_header(src: Dataset) -> Dataset:
    """A copy of a source dataset with its patient and study attributes as outputs have them."""
    ds = Dataset()
    for element in src:
        ds.add(element)
    if hasattr(src, "file_meta"):
        ds.file_meta = src.file_meta
    for element in _patient_and_study(src):
        ds[element.tag] = element
    if "SpecificCharacterSet" not in ds or not output_character_set(ds.SpecificCharacterSet):
        ds.pop("SpecificCharacterSet", None)
    return ds


def derived_uid(*parts: object) -> str:
    """A UID that is the same for the same parts (job, role, source instance...)."""
    key = "\x1f".join(str(part) for part in parts)
    return str(generate_uid(entropy_srcs=["sagittal-derived/v1", key]))


def _lo(text: str) -> str:
    """Fit a LO (long string) value: 64 characters."""
    return text[:64]


def _source_reference(src: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = src.SOPClassUID
    item.ReferencedSOPInstanceUID = src.SOPInstanceUID
    purpose = codes.DCM.SourceImageForImageProcessingOperation
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = purpose.value, purpose.scheme_designator
    code.CodeMeaning = purpose.meaning
    item.PurposeOfReferenceCodeSequence = [code]
    return item


def _equipment(provenance: Provenance, purpose: Any, description: str) -> Dataset:
    return hd.ContributingEquipment(
        manufacturer=MANUFACTURER,
        purpose_of_reference=purpose,
        manufacturer_model_name=_lo(provenance.model_name),
        software_versions=_lo(provenance.model_version),
        contribution_datetime=DT(provenance.created.strftime("%Y%m%d%H%M%S")),
        contribution_description=description[:1024],
    )


def _series_number(src: Dataset, kind: str) -> int:
    try:
        base = int(src.get("SeriesNumber") or 0)
    except (TypeError, ValueError):
        base = 0
    return SERIES_NUMBER_OFFSET[kind] + base


def _derived_slice(
    src: Dataset,
    *,
    sop_class: str,
    modality: str,
    series_uid: str,
    sop_uid: str,
    series_number: int,
    series_description: str,
    image_type: Sequence[str],
    provenance: Provenance,
) -> Dataset:
    """The attributes every derived slice shares, on the geometry of its source slice."""
    ds = _patient_and_study(src)
    for keyword in _GEOMETRY:
        if keyword in src:
            ds[keyword] = copy.deepcopy(src[keyword])
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = _lo(series_description)
    ds.InstanceNumber = src.get("InstanceNumber")
    date, time = DA(provenance.created.date()), TM(provenance.created.strftime("%H%M%S"))
    for prefix in ("Series", "Content", "InstanceCreation"):
        setattr(ds, f"{prefix}Date", date)
        setattr(ds, f"{prefix}Time", time)
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = _lo(provenance.model_name)
    ds.SoftwareVersions = _lo(provenance.model_version)
    ds.ImageType = list(image_type)
    ds.BurnedInAnnotation = "NO"
    ds.SourceImageSequence = [_source_reference(src)]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = src.Rows, src.Columns
    ds.BitsAllocated = 16
    ds.PixelRepresentation = 0
    return ds


def _with_pixels(ds: Dataset, pixels: npt.NDArray[np.uint16], bits_stored: int) -> Dataset:
    ds.BitsStored, ds.HighBit = bits_stored, bits_stored - 1
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "SAGITTAL_AI_1"
    ds.file_meta = meta
    return ds


def _check_grid(volume: CTVolume, array: npt.NDArray[Any], what: str) -> None:
    if array.shape != volume.hu.shape:
        raise ValueError(f"{what} {array.shape} is not on the CT grid {volume.hu.shape}")


def pseudo_mri_datasets(
    volume: CTVolume, mri: npt.NDArray[np.floating], *, provenance: Provenance
) -> list[Dataset]:
    """A derived MR series, one slice per CT slice, that says it is synthetic.

    Args:
        volume: The source CT (its datasets give geometry and identity).
        mri: ``(z, y, x)`` generated T2-weighted-like intensities on the CT grid.
        provenance: What made it.

    Returns:
        MR Image Storage datasets, in the CT's slice order.
    """
    _check_grid(volume, mri, "the pseudo-MRI")
    stored = np.rint(np.clip(mri, 0, 4095)).astype(np.uint16)
    high = float(np.percentile(stored[:: max(1, len(stored) // 8)], 99.5))
    series_uid = derived_uid(provenance.job_id, "pseudomri", provenance.source_series_uid)
    description = f"SYNTHETIC pseudo-MRI T2W from CT (AI {provenance.model_label})"
    derivation = provenance.derivation(
        "SYNTHETIC T2-weighted-like image generated from CT by a diffusion model; "
        "not an acquired MR image."
    )
    equipment = _equipment(
        provenance, codes.DCM.SynthesizingEquipment, "Synthesized this image from CT"
    )
    out = []
    for k, src in enumerate(volume.datasets):
        ds = _derived_slice(
            src,
            sop_class=MRImageStorage,
            modality="MR",
            series_uid=series_uid,
            sop_uid=derived_uid(provenance.job_id, "pseudomri", src.SOPInstanceUID),
            series_number=_series_number(src, "pseudomri"),
            series_description=description,
            image_type=("DERIVED", "SECONDARY", "OTHER"),
            provenance=provenance,
        )
        ds.DerivationDescription = derivation
        ds.ContributingEquipmentSequence = [copy.deepcopy(equipment)]
        # MR Image module: no sequence was run. "RM" (research mode) and "NONE" are the
        # values the standard offers; timing attributes are present but empty (type 2).
        ds.ScanningSequence = "RM"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = None
        ds.EchoTime = None
        ds.EchoTrainLength = None
        ds.WindowCenter, ds.WindowWidth = round(high / 2, 1), round(max(high, 1.0), 1)
        out.append(_with_pixels(ds, stored[k], 12))
    return out


def ncctm_mask_datasets(
    volume: CTVolume,
    labels: npt.NDArray[np.integer],
    *,
    provenance: Provenance,
    structures: Sequence[str],
) -> list[Dataset]:
    """A derived CT series holding the label map, one slice per CT slice, for overlays.

    Pixel values are the label numbers (0 background, ``i + 1`` = ``structures[i]``); the
    rescale type is US (unspecified), not HU.
    """
    _check_grid(volume, labels, "the label map")
    series_uid = derived_uid(provenance.job_id, "ncctm-mask", provenance.source_series_uid)
    legend = ", ".join(f"{i + 1} {name.replace('_', ' ')}" for i, name in enumerate(structures))
    derivation = provenance.derivation(f"AI segmentation label map (0 background, {legend}).")
    equipment = _equipment(provenance, codes.DCM.ProcessingEquipment, "Segmented this image")
    purpose = codes.DCM.SegmentationImageDerivation
    derivation_code = Dataset()
    derivation_code.CodeValue = purpose.value
    derivation_code.CodingSchemeDesignator = purpose.scheme_designator
    derivation_code.CodeMeaning = purpose.meaning
    out = []
    for k, src in enumerate(volume.datasets):
        ds = _derived_slice(
            src,
            sop_class=CTImageStorage,
            modality="CT",
            series_uid=series_uid,
            sop_uid=derived_uid(provenance.job_id, "ncctm-mask", src.SOPInstanceUID),
            series_number=_series_number(src, "ncctm-mask"),
            series_description=f"AI NC-CTM mask ({provenance.model_label})",
            image_type=("DERIVED", "SECONDARY", "AXIAL"),
            provenance=provenance,
        )
        ds.DerivationDescription = derivation
        ds.DerivationCodeSequence = [copy.deepcopy(derivation_code)]
        ds.ContributingEquipmentSequence = [copy.deepcopy(equipment)]
        ds.KVP = src.get("KVP")
        ds.AcquisitionNumber = src.get("AcquisitionNumber")
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
        ds.WindowCenter, ds.WindowWidth = 1, 3
        out.append(_with_pixels(ds, np.asarray(labels[k], dtype=np.uint16), 12))
    return out


def ncctm_segmentation(
    volume: CTVolume,
    labels: npt.NDArray[np.integer],
    *,
    provenance: Provenance,
    structures: Sequence[str],
) -> hd.seg.Segmentation:
    """A BINARY DICOM SEG with one segment per structure, referencing every CT slice.

    Empty frames are kept, so frame ``(segment - 1) * slices + k + 1`` is slice ``k`` of the
    CT: the SEG lines up with its source without looking frames up by position.
    """
    _check_grid(volume, labels, "the label map")
    algorithm = hd.AlgorithmIdentificationSequence(
        name=_lo(provenance.model_name),
        family=codes.DCM.ArtificialIntelligence,
        version=_lo(provenance.model_version),
        source=MANUFACTURER,
    )
    property_types = {
        "dural_canal": (codes.SCT.SpinalCerebrospinalFluidPathway, "Dural canal"),
        "nerve_roots": (codes.SCT.Nerve, "Nerve roots"),
    }
    descriptions = []
    for number, name in enumerate(structures, start=1):
        property_type, label = property_types.get(
            name, (codes.SCT.AnatomicalStructure, name.replace("_", " "))
        )
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=label,
                segmented_property_category=codes.SCT.AnatomicalStructure,
                segmented_property_type=property_type,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
                tracking_uid=derived_uid(provenance.job_id, "ncctm-seg-tracking", name),
                tracking_id=label,
            )
        )
    series_uid = derived_uid(provenance.job_id, "ncctm-seg", provenance.source_series_uid)
    with warnings.catch_warnings():
        # De-identified names are one-component pseudonyms, which highdicom warns about.
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        seg = _segmentation(volume, labels, descriptions, provenance, series_uid)
    # highdicom draws the dimension organization UID at random; a fixed one keeps a re-run's
    # SEG identical to the first.
    organization = derived_uid(series_uid, "dimension-organization")
    for item in [*seg.DimensionOrganizationSequence, *seg.DimensionIndexSequence]:
        item.DimensionOrganizationUID = organization
    return seg


def _segmentation(
    volume: CTVolume,
    labels: npt.NDArray[np.integer],
    descriptions: list[hd.seg.SegmentDescription],
    provenance: Provenance,
    series_uid: str,
) -> hd.seg.Segmentation:
    # highdicom reads the Type 2 attributes from the sources and refuses an empty first
    # character-set term: it gets copies of the headers, completed (the pixels are shared).
    sources = [_completed_header(ds) for ds in volume.datasets]
    src = sources[0]
    created = provenance.created
    return hd.seg.Segmentation(
        source_images=sources,
        specific_character_set=src.get("SpecificCharacterSet"),
        pixel_array=np.asarray(labels, dtype=np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series_uid,
        series_number=_series_number(src, "ncctm-seg"),
        sop_instance_uid=derived_uid(series_uid, "instance"),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=_lo(provenance.model_name),
        software_versions=_lo(provenance.model_version),
        device_serial_number=_lo(provenance.model_sha256[:16]),
        series_description=_lo(f"AI NC-CTM SEG ({provenance.model_label})"),
        content_label="NCCTM_AI",
        content_description=_lo(f"NC-CTM segmentation, job {provenance.job_id}"),
        content_creator_name="SAGITTAL^AI",
        series_date=DA(created.date()),
        series_time=TM(created.strftime("%H%M%S")),
        content_date=DA(created.date()),
        content_time=TM(created.strftime("%H%M%S")),
        omit_empty_frames=False,
    )
