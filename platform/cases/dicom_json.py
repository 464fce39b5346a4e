"""DICOM JSON (PS3.18 F.2) for the DICOMweb endpoints, computed once at ingest.

The full metadata of an instance is stored as JSON text whose bulk data URIs start with the
``{{BASE}}`` placeholder; a request substitutes its own DICOMweb root, so WADO-RS metadata of a
200-instance series is a string join, not 200 parses.
"""

from __future__ import annotations

import json
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

BASE_PLACEHOLDER = "{{BASE}}"
PIXEL_DATA = "7FE00010"

# Attributes returned by QIDO-RS at each level (PS3.18 table 10.6.3-3 and what OHIF lists).
STUDY_TAGS = (
    "00080005", "00080020", "00080030", "00080050", "00080056", "00080061", "00080090",
    "00081030", "00100010", "00100020", "00100030", "00100040", "0020000D", "00200010",
)  # fmt: skip
SERIES_TAGS = (
    "00080005", "00080021", "00080031", "00080060", "0008103E", "00180015", "0020000E",
    "00200011", "00200052", "00400244", "00400245",
)  # fmt: skip
INSTANCE_TAGS = (
    "00080005", "00080016", "00080018", "00080008", "00200013", "00280008", "00280010",
    "00280011", "00280100",
)  # fmt: skip

# Patient- and study-level groups, returned at study level with includefield=all.
_STUDY_LEVEL_GROUPS = {0x0010}


def _bulk_uri(study: str, series: str, sop: str, tag: str) -> str:
    return f"{BASE_PLACEHOLDER}/studies/{study}/series/{series}/instances/{sop}/bulkdata/{tag}"


def instance_json(ds: Dataset) -> dict[str, Any]:
    """The DICOM JSON of ``ds`` with pixel data (and any large binary value) as bulk data URIs."""
    study, series, sop = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)
    pixel_element = ds.data_element("PixelData")
    header = Dataset()
    for element in ds:
        if element.tag != Tag("PixelData"):
            header.add(element)

    def bulk_handler(element: DataElement) -> str:
        return _bulk_uri(study, series, sop, f"{int(element.tag):08X}")

    result: dict[str, Any] = header.to_json_dict(
        bulk_data_threshold=64 * 1024, bulk_data_element_handler=bulk_handler
    )
    if pixel_element is not None:
        result[PIXEL_DATA] = {
            "vr": pixel_element.VR if pixel_element.VR in ("OB", "OW") else "OW",
            "BulkDataURI": _bulk_uri(study, series, sop, PIXEL_DATA),
        }
    transfer_syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if transfer_syntax:
        result["00083002"] = {"vr": "UI", "Value": [str(transfer_syntax)]}
    return result


def select(attributes: dict[str, Any], tags: tuple[str, ...]) -> dict[str, Any]:
    return {tag: attributes[tag] for tag in tags if tag in attributes}


def study_level(attributes: dict[str, Any]) -> dict[str, Any]:
    """Study-level attributes: the QIDO study keys plus the patient module."""
    chosen = select(attributes, STUDY_TAGS)
    for tag, value in attributes.items():
        if int(tag[:4], 16) in _STUDY_LEVEL_GROUPS:
            chosen[tag] = value
    return chosen


def dumps(attributes: dict[str, Any]) -> str:
    return json.dumps(attributes, separators=(",", ":"), sort_keys=True)


def with_base(text: str, base: str) -> str:
    """Substitute the request's DICOMweb root into stored JSON text."""
    return text.replace(BASE_PLACEHOLDER, base)
