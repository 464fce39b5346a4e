"""DICOM Segmentation (highdicom) of a phantom mask, referencing its source CT slices."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.valuerep import DA, TM

from inference.phantoms.dicom_writer import (
    DEVICE_SERIAL,
    MANUFACTURER,
    MODEL_NAME,
    SOFTWARE_VERSION,
)
from inference.phantoms.study import StudyInfo, phantom_uid


def build_segmentation(
    mask: npt.NDArray[np.integer],
    source_images: Sequence[Dataset],
    *,
    study: StudyInfo,
    segment_label: str,
    property_category: Code,
    property_type: Code,
    anatomic_region: Code | None = None,
    series_number: int,
    series_description: str,
) -> hd.seg.Segmentation:
    """A BINARY DICOM Segmentation of one segment, referencing its source slices.

    The segment is labelled MANUAL: the phantom mask stands in for the manual reference
    segmentation the NC-CTM model is evaluated against (PROTOCOLS.md section 2).

    Args:
        mask: 0/1 volume on the grid of ``source_images`` (slice k <-> source_images[k]).
        source_images: Datasets of the source series, in slice order.
        study: Study attributes (dates, UID namespace).
        segment_label: e.g. ``"Dural canal"``.
        property_category: Segmented property category code.
        property_type: Segmented property type code.
        anatomic_region: Optional anatomic region code.
        series_number: SeriesNumber of the SEG series.
        series_description: SeriesDescription of the SEG series.
    """
    if mask.shape[0] != len(source_images):
        raise ValueError("mask and source images differ in slice count")
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=segment_label,
        segmented_property_category=property_category,
        segmented_property_type=property_type,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        anatomic_regions=[anatomic_region] if anatomic_region is not None else None,
        tracking_uid=phantom_uid(study.uid_namespace, "tracking", segment_label),
        tracking_id=segment_label,
    )
    series_uid = phantom_uid(study.uid_namespace, "series", series_number)
    time = study.time_after(60 * series_number)
    seg = hd.seg.Segmentation(
        source_images=list(source_images),
        pixel_array=(np.asarray(mask) > 0).astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=phantom_uid(series_uid, "instance", 0),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=SOFTWARE_VERSION,
        device_serial_number=DEVICE_SERIAL,
        series_description=series_description,
        content_label="DURAL_CANAL" if segment_label == "Dural canal" else "SEGMENTATION",
        content_description=segment_label,
        content_creator_name="PHANTOM^GENERATOR",
        content_date=study.study_date,
        content_time=time,
        series_date=study.study_date,
        series_time=time,
        omit_empty_frames=False,
    )
    # highdicom stamps the wall clock and random UIDs here; overwrite them so that the
    # same phantom always gives the same bytes.
    seg.InstanceCreationDate, seg.InstanceCreationTime = DA(study.study_date), TM(time)
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = f"{study.study_date}{time}"
    organization = phantom_uid(series_uid, "dimension-organization")
    for item in [*seg.DimensionOrganizationSequence, *seg.DimensionIndexSequence]:
        item.DimensionOrganizationUID = organization
    return seg


def save_segmentation(seg: Dataset, path: Path) -> Path:
    """Write a Segmentation as a Part-10 file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path, enforce_file_format=True)
    return path
