"""The one place where uploaded bytes become a DICOM dataset.

Everything else in the platform receives a ``ParsedInstance`` that passed these checks: an
allowlisted SOP class and transfer syntax, bounded dimensions, and pixel data of exactly the
length the header claims (so a header claiming 65535 x 65535 x 1000 is rejected before anything
is allocated).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
)

ALLOWED_SOP_CLASSES = frozenset(
    {
        CTImageStorage,
        EnhancedCTImageStorage,
        MRImageStorage,
        EnhancedMRImageStorage,
        SegmentationStorage,
        SecondaryCaptureImageStorage,
    }
)
# Native (uncompressed) syntaxes: frames are served by byte offset. Compressed syntaxes come
# with the DICOMweb work (cases issue).
ALLOWED_TRANSFER_SYNTAXES = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})

MAX_ROWS = MAX_COLUMNS = 4096
MAX_FRAMES = 4096
MAX_FILE_BYTES = 1024 * 1024 * 1024


class DicomRejected(ValueError):
    """The file is not acceptable; ``str(exc)`` is the reason shown to the user.

    Carries the sender's SOP class and instance UID when the file was readable, so that
    STOW-RS can report the failure against the instance the sender knows.
    """

    def __init__(self, reason: str, *, sop_class_uid: str = "", sop_instance_uid: str = ""):
        super().__init__(reason)
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid


@dataclass(frozen=True)
class ParsedInstance:
    dataset: Dataset
    transfer_syntax_uid: str
    rows: int | None
    columns: int | None
    number_of_frames: int
    frame_length: int  # bytes per frame; 0 when the instance has no pixel data


def _expected_frame_length(ds: Dataset) -> tuple[int, int, int, int]:
    rows, columns = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    bits = int(ds.BitsAllocated)
    samples = int(ds.get("SamplesPerPixel", 1))
    if not (0 < rows <= MAX_ROWS and 0 < columns <= MAX_COLUMNS):
        raise DicomRejected(f"image size {rows}x{columns} is outside 1..{MAX_ROWS}")
    if not 0 < frames <= MAX_FRAMES:
        raise DicomRejected(f"NumberOfFrames {frames} is outside 1..{MAX_FRAMES}")
    if bits not in (1, 8, 16, 32) or samples not in (1, 3):
        raise DicomRejected(f"unsupported BitsAllocated {bits} / SamplesPerPixel {samples}")
    # 1-bit frames (binary SEG) are packed across frame boundaries; lengths are in bits then.
    frame_bits = rows * columns * samples * bits
    return rows, columns, frames, frame_bits


def parse_instance(data: bytes) -> ParsedInstance:
    """Parse and validate one DICOM Part-10 file, or raise ``DicomRejected`` with a reason."""
    if len(data) > MAX_FILE_BYTES:
        raise DicomRejected("file is larger than the 1 GiB limit")
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=False)
    except InvalidDicomError as exc:
        raise DicomRejected(f"not a readable DICOM Part-10 file: {exc}") from exc
    except Exception as exc:
        # Untrusted bytes: whatever pydicom raises on them (struct errors, unknown VRs, ...)
        # means the file cannot be read, never a server error.
        raise DicomRejected(f"not a readable DICOM Part-10 file: {_short(exc)}") from exc
    try:
        return _validated(ds)
    except DicomRejected as exc:
        exc.sop_class_uid, exc.sop_instance_uid = _identifiers(ds)
        raise
    except Exception as exc:
        # pydicom reads values lazily: a malformed element surfaces here, not in dcmread.
        sop_class, sop_instance = _identifiers(ds)
        raise DicomRejected(
            f"malformed attribute value: {_short(exc)}",
            sop_class_uid=sop_class,
            sop_instance_uid=sop_instance,
        ) from exc


def _short(exc: Exception) -> str:
    # pydicom appends whole tracebacks to some messages; the first line says what went wrong.
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return lines[0][:300]


def _identifiers(ds: Dataset) -> tuple[str, str]:
    """The sender's SOP class and instance UIDs, best effort (empty when unreadable)."""
    values = []
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        try:
            values.append(str(ds.get(keyword, ""))[:64])
        except Exception:  # any malformed value simply means "unknown"
            values.append("")
    return values[0], values[1]


def _validated(ds: Dataset) -> ParsedInstance:
    meta = getattr(ds, "file_meta", None)
    syntax = str(getattr(meta, "TransferSyntaxUID", "")) if meta is not None else ""
    if syntax not in ALLOWED_TRANSFER_SYNTAXES:
        raise DicomRejected(f"transfer syntax {syntax or '(missing)'} is not accepted")
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class not in ALLOWED_SOP_CLASSES:
        raise DicomRejected(f"SOP class {sop_class or '(missing)'} is not accepted")
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Modality"):
        if not ds.get(keyword):
            raise DicomRejected(f"required attribute {keyword} is missing")
    if "PixelData" not in ds:
        return ParsedInstance(ds, syntax, None, None, 0, 0)
    try:
        rows, columns, frames, frame_bits = _expected_frame_length(ds)
    except (AttributeError, TypeError, ValueError) as exc:
        if isinstance(exc, DicomRejected):
            raise
        raise DicomRejected(f"image pixel description is incomplete: {exc}") from exc
    expected_bytes = (frame_bits * frames + 7) // 8
    actual = len(ds.PixelData)
    # Pixel data is padded to an even length.
    if actual not in (expected_bytes, expected_bytes + 1):
        raise DicomRejected(
            f"pixel data is {actual} bytes but the header describes {expected_bytes}"
        )
    frame_length = frame_bits // 8 if frame_bits % 8 == 0 else 0
    return ParsedInstance(ds, syntax, rows, columns, frames, frame_length)


def serialize_instance(ds: Dataset) -> bytes:
    """Write ``ds`` as a Part-10 file with a zeroed preamble (no polyglot payloads survive)."""
    ds.preamble = b"\x00" * 128
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def pixel_data_offset(data: bytes) -> int | None:
    """Byte offset of the PixelData value in a serialized file (native syntaxes)."""
    ds = pydicom.dcmread(io.BytesIO(data), defer_size=256)
    raw = ds._dict.get(Tag("PixelData"))  # a deferred (raw) element knows its file offset
    return int(raw.value_tell) if isinstance(raw, RawDataElement) else None
