"""Blinding: per-assignment UIDs and metadata scrubbing for the reader-scoped DICOMweb prefix.

A reader must not learn from the images' headers what the study hides (which image is the
pseudo-MRI, which 3D image is built on NC-CTM, which patient, which original series). Every
series a reader sees gets UIDs derived with the study's own secret from the assignment, case
and slot, so two readers see different UIDs for the same images and nobody can map them back
without the server. Headers keep only what a viewer needs to display (pixel module, geometry,
rescale, window, a segmentation's structure) under an allow-list; everything else, including
every private tag, dates, equipment, software, descriptions and acquisition parameters that
would set a generated image apart from an acquired one, is dropped.

Django-free: DICOM JSON dicts in, DICOM JSON dicts (or a pydicom dataset) out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID

from cases.deidentify import remap_uid

STANDARD_UID_ROOT = "1.2.840.10008."
PIXEL_DATA = "7FE00010"

# Secondary Capture classes that a derived image may have been written as, and the class an
# acquired image of the same modality has: a reader must not tell them apart by SOP class.
_SECONDARY_CAPTURE = {
    "1.2.840.10008.5.1.4.1.1.7",
    "1.2.840.10008.5.1.4.1.1.7.1",
    "1.2.840.10008.5.1.4.1.1.7.2",
    "1.2.840.10008.5.1.4.1.1.7.3",
    "1.2.840.10008.5.1.4.1.1.7.4",
}
_ACQUIRED_CLASS = {"MR": "1.2.840.10008.5.1.4.1.1.4", "CT": "1.2.840.10008.5.1.4.1.1.2"}

# Top-level attributes a viewer needs; nothing else leaves the server.
TOP_LEVEL_TAGS = frozenset({
    "00080005",  # SpecificCharacterSet
    "00080016",  # SOPClassUID
    "00080018",  # SOPInstanceUID
    "00080060",  # Modality
    "0008103E",  # SeriesDescription (replaced by the slot label)
    "00100010",  # PatientName (replaced by "Case n")
    "00100020",  # PatientID (replaced)
    "0020000D",  # StudyInstanceUID
    "0020000E",  # SeriesInstanceUID
    "00200011",  # SeriesNumber (replaced by the slot position)
    "00200013",  # InstanceNumber (replaced by the index in the series)
    "00200032",  # ImagePositionPatient
    "00200037",  # ImageOrientationPatient
    "00200052",  # FrameOfReferenceUID
    "00201041",  # SliceLocation
    "00180050",  # SliceThickness
    "00180088",  # SpacingBetweenSlices
    "00280002", "00280004", "00280006", "00280008", "00280009", "00280010", "00280011",
    "00280030", "00280100", "00280101", "00280102", "00280103",
    "00281050", "00281051", "00281052", "00281053", "00281054",
    "00083002",  # AvailableTransferSyntaxUID
    PIXEL_DATA,
    # Segmentation (the NC-CTM overlay): structure only, no algorithm or creator.
    "00620001", "00620002", "0062000E", "00620010", "00081115", "52009229", "52009230",
    "00209221", "00209222",
})  # fmt: skip

# Attributes kept inside the sequences above.
NESTED_TAGS = frozenset({
    "00081150", "00081155",  # ReferencedSOPClassUID / InstanceUID
    "0008114A", "0020000E",  # ReferencedInstanceSequence, SeriesInstanceUID
    "00089124", "00082112",  # DerivationImageSequence, SourceImageSequence
    "00209111", "00209157",  # FrameContentSequence, DimensionIndexValues
    "00209113", "00200032",  # PlanePositionSequence, ImagePositionPatient
    "00209116", "00200037",  # PlaneOrientationSequence, ImageOrientationPatient
    "00289110", "00280030", "00180050", "00180088",  # PixelMeasuresSequence and its values
    "0062000A", "0062000B",  # SegmentIdentificationSequence, ReferencedSegmentNumber
    "00620004", "00620005",  # SegmentNumber, SegmentLabel
    "00620003", "0062000F",  # Segmented property category / type codes
    "00080100", "00080102", "00080104",  # CodeValue, CodingSchemeDesignator, CodeMeaning
    "0062000D",  # RecommendedDisplayCIELabValue
    "00209164", "00209165", "00209167", "00209421",  # dimension organization
})  # fmt: skip

# Words that name an image's origin: any kept text containing one is dropped as well.
FORBIDDEN_WORDS = re.compile(
    r"pseudo|synthetic|synthesi|generat|diffusion|model|network|neural|deep|u-?net|"
    r"artificial|\bai\b|\bml\b|predict|inference|stable|ncctm|nc-ctm|myelograph|\bmrm\b|"
    r"phantom|sagittal|derived|secondary",
    re.IGNORECASE,
)
_TEXT_VRS = {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UT", "UR"}


def blinded_uid(secret: str, *parts: object) -> str:
    """A UID derived from ``parts`` with the study's secret (``2.25.<decimal>``, 44 characters
    at most), so it leaks nothing and is the same on every request."""
    return remap_uid("blind\x1f" + "\x1f".join(str(part) for part in parts), secret=secret.encode())


def instance_uid(blinded_series_uid: str, index: int) -> str:
    """The blinded SOP Instance UID of the ``index``-th (1-based) instance of a series."""
    return f"{blinded_series_uid}.{index}"


def parse_instance_uid(sop_uid: str) -> tuple[str, int] | None:
    """``(blinded series UID, index)`` of a blinded SOP Instance UID, or ``None``."""
    series_uid, _, index = sop_uid.rpartition(".")
    if not series_uid or not index.isdigit() or index.startswith("0"):
        return None
    return series_uid, int(index)


def _is_clean_text(element: dict[str, Any]) -> bool:
    if element.get("vr") not in _TEXT_VRS:
        return True
    for value in element.get("Value", []):
        text = value.get("Alphabetic", "") if isinstance(value, dict) else str(value)
        if FORBIDDEN_WORDS.search(text):
            return False
    return True


def _scrub(
    dataset: Mapping[str, Any], allowed: frozenset[str], remap: Callable[[str], str]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for tag, element in dataset.items():
        if tag not in allowed or int(tag[:4], 16) % 2 == 1:  # odd groups are private
            continue
        if "InlineBinary" in element or ("BulkDataURI" in element and tag != PIXEL_DATA):
            continue
        if not _is_clean_text(element):
            continue
        vr = element.get("vr")
        if vr == "SQ":
            items = [_scrub(item, NESTED_TAGS, remap) for item in element.get("Value", [])]
            result[tag] = {"vr": "SQ", "Value": items}
        elif vr == "UI":
            values = [remap(str(v)) for v in element.get("Value", []) if v]
            result[tag] = {"vr": "UI", "Value": values} if values else {"vr": "UI"}
        else:
            result[tag] = dict(element)
    return result


def scrub_instance(
    metadata: Mapping[str, Any],
    *,
    uid_map: Mapping[str, str],
    fallback_uid: Callable[[str], str],
    replacements: Mapping[str, dict[str, Any]],
    pixel_data_uri: str,
) -> dict[str, Any]:
    """The blinded DICOM JSON of one instance.

    Args:
        metadata: The stored DICOM JSON of the instance.
        uid_map: Original -> blinded UIDs for the case (studies, series, instances).
        fallback_uid: Blinds any other non-standard UID (frame of reference, dimension
            organization, ...) consistently within the case.
        replacements: Tags whose values are set by the caller (case position, slot label).
        pixel_data_uri: The blinded bulk data URI of the pixel data.
    """

    def remap(uid: str) -> str:
        if uid.startswith(STANDARD_UID_ROOT):
            return uid
        return uid_map.get(uid) or fallback_uid(uid)

    result = _scrub(metadata, TOP_LEVEL_TAGS, remap)
    sop_class = (result.get("00080016", {}).get("Value") or [""])[0]
    modality = (result.get("00080060", {}).get("Value") or [""])[0]
    if sop_class in _SECONDARY_CAPTURE and modality in _ACQUIRED_CLASS:
        result["00080016"] = {"vr": "UI", "Value": [_ACQUIRED_CLASS[modality]]}
    result.update(replacements)
    if PIXEL_DATA in result:
        result[PIXEL_DATA] = {
            "vr": result[PIXEL_DATA].get("vr", "OW"),
            "BulkDataURI": pixel_data_uri,
        }
    return result


def text_element(vr: str, value: str) -> dict[str, Any]:
    if vr == "PN":
        return {"vr": "PN", "Value": [{"Alphabetic": value}]}
    return {"vr": vr, "Value": [value]}


def int_element(vr: str, value: int) -> dict[str, Any]:
    return {"vr": vr, "Value": [value]}


def part10_dataset(
    metadata: Mapping[str, Any], *, pixel_data: DataElement | None, transfer_syntax_uid: str
) -> Dataset:
    """A Part-10 dataset of blinded metadata and the stored pixel data, for whole-instance
    retrieval (a viewer reads SEG overlays that way). The file meta names no implementation
    version, which could tell a platform-made image from an acquired one."""
    header = {tag: value for tag, value in metadata.items() if tag not in (PIXEL_DATA, "00083002")}
    dataset = Dataset.from_json(dict(header))
    if pixel_data is not None:
        dataset[0x7FE00010] = pixel_data
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax_uid)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    dataset.file_meta = meta
    return dataset
