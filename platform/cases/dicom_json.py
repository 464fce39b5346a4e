"""DICOM JSON (PS3.18 F.2) for the DICOMweb endpoints, computed once at ingest.

The full metadata of an instance is stored as JSON text whose bulk data URIs start with the
``{{BASE}}`` placeholder; a request substitutes its own DICOMweb root, so WADO-RS metadata of a
200-instance series is a string join, not 200 parses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
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

    def bulk_handler(element: DataElement) -> str:
        return _bulk_uri(study, series, sop, f"{int(element.tag):08X}")

    result = dataset_json(ds, bulk_handler, skip=_PIXEL_DATA_TAG)
    pixel_element = ds.get(_PIXEL_DATA_TAG)
    if pixel_element is not None:
        result[PIXEL_DATA] = {
            "vr": pixel_element.VR if pixel_element.VR in ("OB", "OW") else "OW",
            "BulkDataURI": _bulk_uri(study, series, sop, PIXEL_DATA),
        }
    transfer_syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if transfer_syntax:
        result["00083002"] = {"vr": "UI", "Value": [str(transfer_syntax)]}
    return result


_PIXEL_DATA_TAG = Tag("PixelData")
BULK_DATA_THRESHOLD = 64 * 1024
# Text VRs whose JSON value is the string itself (PS3.18 F.2.3); PN, numbers in text (IS, DS)
# and binary values follow their own rules.
_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
_INT_VRS = frozenset({"IS", "SL", "SS", "SV", "UL", "US", "UV"})
_FLOAT_VRS = frozenset({"DS", "FD", "FL"})


def dataset_json(
    ds: Dataset, bulk_handler: Callable[[DataElement], str], *, skip: int | None = None
) -> dict[str, Any]:
    """``ds.to_json_dict`` with bulk data above 64 KiB, for a fraction of its time.

    pydicom's conversion checks every element in general ways (value multiplicity, emptiness,
    number conversion, logging); the common elements of an image header, text and single
    numbers, are converted here directly, and every other element (person names, binary
    values, multi-valued numbers, anything unusual) by pydicom itself, so the result is the
    same (``tests/cases/test_dicom_json.py`` compares both).
    """
    result: dict[str, Any] = {}
    for tag in sorted(ds._dict):
        if tag == skip:
            continue
        element = ds[tag]
        result[f"{tag:08X}"] = _element_json(element, bulk_handler)
    return result


def _element_json(element: DataElement, bulk_handler: Callable[[DataElement], str]) -> Any:
    vr, value = element.VR, element.value
    if vr in _TEXT_VRS:
        if isinstance(value, str):  # str itself or pydicom's UID
            return {"vr": vr, "Value": [str(value)]} if value else {"vr": vr}
        if isinstance(value, MultiValue) and all(isinstance(v, str) for v in value):
            return {"vr": vr, "Value": [str(v) for v in value]} if len(value) else {"vr": vr}
    elif vr == "SQ":
        return {"vr": vr, "Value": [dataset_json(item, bulk_handler) for item in value]}
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if vr in _INT_VRS and isinstance(value, int):
            return {"vr": vr, "Value": [int(value)]}
        if vr in _FLOAT_VRS:
            return {"vr": vr, "Value": [float(value)]}
    return element.to_json_dict(
        bulk_data_element_handler=bulk_handler, bulk_data_threshold=BULK_DATA_THRESHOLD
    )


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
