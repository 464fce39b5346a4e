"""The one place where uploaded bytes become a DICOM dataset.

Everything else in the platform receives a ``ParsedInstance`` that passed these checks: an
allowlisted SOP class and transfer syntax, bounded dimensions, and pixel data of exactly the
length the header claims (so a header claiming 65535 x 65535 x 1000 is rejected before anything
is allocated).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag
from pydicom.uid import (
    JPEG2000,
    CTImageStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    MRImageStorage,
    RLELossless,
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
# Native syntaxes: frames are contiguous in the file, each served by one byte range.
NATIVE_TRANSFER_SYNTAXES = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
# Compressed syntaxes PACS exports use: the encapsulated fragments of each frame are indexed at
# ingest and served as stored (``transfer-syntax=*``) or decoded on request.
COMPRESSED_TRANSFER_SYNTAXES = frozenset(
    {
        JPEGBaseline8Bit,
        JPEGExtended12Bit,
        JPEGLossless,
        JPEGLosslessSV1,
        JPEGLSLossless,
        JPEGLSNearLossless,
        JPEG2000Lossless,
        JPEG2000,
        RLELossless,
    }
)
ALLOWED_TRANSFER_SYNTAXES = NATIVE_TRANSFER_SYNTAXES | COMPRESSED_TRANSFER_SYNTAXES

MAX_ROWS = MAX_COLUMNS = 4096
MAX_FRAMES = 4096
MAX_FILE_BYTES = 1024 * 1024 * 1024


def gettext_noop(message: str) -> str:
    """Mark a reason for the translation catalogues (xgettext knows the name); a Django-free
    core cannot import Django's. The web layer translates it with ``DicomRejected.params``."""
    return message


class DicomRejected(ValueError):
    """The file is not acceptable; ``str(exc)`` is the reason, in English.

    ``template`` is the reason's msgid and ``params`` the values of its ``%(name)s``
    placeholders, so that pages and the API show it in the user's language. Carries the
    sender's SOP class and instance UID when the file was readable, so that STOW-RS can report
    the failure against the instance the sender knows.
    """

    def __init__(
        self,
        template: str,
        *,
        params: Mapping[str, object] | None = None,
        sop_class_uid: str = "",
        sop_instance_uid: str = "",
    ):
        self.template = template
        self.params = dict(params or {})
        super().__init__(template % self.params if self.params else template)
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid


#: A value pydicom could not read (it reads lazily, so this surfaces late); ``params["error"]``.
MALFORMED_VALUE = gettext_noop("malformed attribute value: %(error)s")


@dataclass(frozen=True)
class ParsedInstance:
    dataset: Dataset
    transfer_syntax_uid: str
    rows: int | None
    columns: int | None
    number_of_frames: int
    frame_length: int  # bytes per native frame; 0 without pixel data or when encapsulated
    encapsulated: bool = False


def _expected_frame_length(ds: Dataset) -> tuple[int, int, int, int]:
    rows, columns = int(ds.Rows), int(ds.Columns)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    bits = int(ds.BitsAllocated)
    samples = int(ds.get("SamplesPerPixel", 1))
    if not (0 < rows <= MAX_ROWS and 0 < columns <= MAX_COLUMNS):
        raise DicomRejected(
            gettext_noop("image size %(rows)sx%(columns)s is outside 1..%(max)s"),
            params={"rows": rows, "columns": columns, "max": MAX_ROWS},
        )
    if not 0 < frames <= MAX_FRAMES:
        raise DicomRejected(
            gettext_noop("NumberOfFrames %(frames)s is outside 1..%(max)s"),
            params={"frames": frames, "max": MAX_FRAMES},
        )
    if bits not in (1, 8, 16, 32) or samples not in (1, 3):
        raise DicomRejected(
            gettext_noop("unsupported BitsAllocated %(bits)s / SamplesPerPixel %(samples)s"),
            params={"bits": bits, "samples": samples},
        )
    # 1-bit frames (binary SEG) are packed across frame boundaries; lengths are in bits then.
    frame_bits = rows * columns * samples * bits
    return rows, columns, frames, frame_bits


def parse_instance(data: bytes) -> ParsedInstance:
    """Parse and validate one DICOM Part-10 file, or raise ``DicomRejected`` with a reason."""
    if len(data) > MAX_FILE_BYTES:
        raise DicomRejected(gettext_noop("file is larger than the 1 GiB limit"))
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=False)
    except InvalidDicomError as exc:
        raise DicomRejected(
            gettext_noop("not a readable DICOM Part-10 file: %(error)s"), params={"error": exc}
        ) from exc
    except Exception as exc:
        # Untrusted bytes: whatever pydicom raises on them (struct errors, unknown VRs, ...)
        # means the file cannot be read, never a server error.
        raise DicomRejected(
            gettext_noop("not a readable DICOM Part-10 file: %(error)s"),
            params={"error": _short(exc)},
        ) from exc
    try:
        return _validated(ds)
    except DicomRejected as exc:
        exc.sop_class_uid, exc.sop_instance_uid = _identifiers(ds)
        raise
    except Exception as exc:
        # pydicom reads values lazily: a malformed element surfaces here, not in dcmread.
        sop_class, sop_instance = _identifiers(ds)
        raise DicomRejected(
            MALFORMED_VALUE,
            params={"error": _short(exc)},
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


_DECIMAL_VRS = frozenset({"DS", "FD", "FL"})
PIXEL_DATA_TAG = 0x7FE00010


def _non_finite_number(ds: Dataset) -> tuple[str, str] | None:
    """The first decimal value that is infinite or NaN (``1e400``, ``nan``), with its keyword.

    Such values would be served as JSON ``Infinity``/``NaN``, which no viewer parses, and
    would poison window and rescale arithmetic; they are refused at the door. Only decimal
    elements and sequences are read: pydicom converts values lazily, and the others stay raw.
    """
    # The tags, not the elements: iterating a Dataset converts every value.
    for tag in ds.keys():  # noqa: SIM118
        if tag >= PIXEL_DATA_TAG:
            continue  # pixel data and whatever trails it hold no attributes
        raw = ds.get_item(tag)  # as read: no value conversion
        vr = (raw.VR if raw is not None else None) or _dictionary_vr(tag)
        if vr not in _DECIMAL_VRS and vr != "SQ":
            continue
        element = ds[tag]
        if element.VR == "SQ":
            for item in element.value or []:
                found = _non_finite_number(item)
                if found is not None:
                    return found
            continue
        values = element.value if element.VM > 1 else [element.value]
        for value in values:
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue  # empty, or not a number at all: other checks complain
            if not math.isfinite(number):
                return element.keyword or str(element.tag), str(value)
    return None


def _dictionary_vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:  # private or unknown: not one of the standard decimal attributes
        return ""


def _validated(ds: Dataset) -> ParsedInstance:
    meta = getattr(ds, "file_meta", None)
    syntax = str(getattr(meta, "TransferSyntaxUID", "")) if meta is not None else ""
    if syntax not in ALLOWED_TRANSFER_SYNTAXES:
        raise DicomRejected(
            gettext_noop("transfer syntax %(uid)s is not accepted"),
            params={"uid": syntax or "(missing)"},
        )
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class not in ALLOWED_SOP_CLASSES:
        raise DicomRejected(
            gettext_noop("SOP class %(uid)s is not accepted"),
            params={"uid": sop_class or "(missing)"},
        )
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Modality"):
        if not ds.get(keyword):
            raise DicomRejected(
                gettext_noop("required attribute %(keyword)s is missing"),
                params={"keyword": keyword},
            )
    infinite = _non_finite_number(ds)
    if infinite is not None:
        raise DicomRejected(
            gettext_noop("%(keyword)s holds %(value)s, which is not a finite number"),
            params={"keyword": infinite[0], "value": infinite[1]},
        )
    if "PixelData" not in ds:
        return ParsedInstance(ds, syntax, None, None, 0, 0)
    try:
        rows, columns, frames, frame_bits = _expected_frame_length(ds)
    except (AttributeError, TypeError, ValueError) as exc:
        if isinstance(exc, DicomRejected):
            raise
        raise DicomRejected(
            gettext_noop("image pixel description is incomplete: %(error)s"),
            params={"error": exc},
        ) from exc
    if syntax in COMPRESSED_TRANSFER_SYNTAXES:
        if ds.PixelData[:4] != _ITEM_TAG:
            raise DicomRejected(
                gettext_noop(
                    "the transfer syntax is compressed but the pixel data is not encapsulated"
                )
            )
        return ParsedInstance(ds, syntax, rows, columns, frames, 0, encapsulated=True)
    expected_bytes = (frame_bits * frames + 7) // 8
    actual = len(ds.PixelData)
    # Pixel data is padded to an even length.
    if actual not in (expected_bytes, expected_bytes + 1):
        raise DicomRejected(
            gettext_noop("pixel data is %(actual)s bytes but the header describes %(expected)s"),
            params={"actual": actual, "expected": expected_bytes},
        )
    frame_length = frame_bits // 8 if frame_bits % 8 == 0 else 0
    return ParsedInstance(ds, syntax, rows, columns, frames, frame_length)


def serialize_instance(ds: Dataset) -> bytes:
    """Write ``ds`` as a Part-10 file with a zeroed preamble (no polyglot payloads survive)."""
    ds.preamble = b"\x00" * 128
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


_PIXEL_DATA = Tag("PixelData")
_PIXEL_DATA_TAG_BYTES = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian
_UNDEFINED_LENGTH = b"\xff\xff\xff\xff"


def written_pixel_data_offset(payload: bytes, parsed: ParsedInstance) -> int | None:
    """Where the PixelData value starts in ``payload``, the file just written from ``parsed``.

    Pixel data is the last element of nearly every instance, so its value is the file's tail:
    the offset follows from the value's length, and the element header right before it is
    checked byte for byte (tag, VR, length; for encapsulated data also the sequence delimiter
    at the end). ``None`` when anything does not match (an element after the pixel data, a
    writer that padded differently): the caller parses the file instead.
    """
    ds = parsed.dataset
    if max(ds._dict, default=None) != _PIXEL_DATA:
        return None
    value = ds.PixelData
    if not isinstance(value, bytes):
        return None
    explicit = parsed.transfer_syntax_uid != ImplicitVRLittleEndian
    if parsed.encapsulated:
        if not explicit or payload[-8:] != _SEQUENCE_DELIMITER + b"\x00" * 4:
            return None
        start = len(payload) - 8 - len(value)
        length_field = _UNDEFINED_LENGTH
    else:
        written = len(value) + (len(value) & 1)  # values are padded to an even length
        start = len(payload) - written
        length_field = written.to_bytes(4, "little")
    header_size = 12 if explicit else 8
    if start < header_size:
        return None
    header = payload[start - header_size : start]
    if header[:4] != _PIXEL_DATA_TAG_BYTES or header[-4:] != length_field:
        return None
    if explicit and header[4:8] not in (b"OB\x00\x00", b"OW\x00\x00"):
        return None
    if not payload.startswith(value, start):
        return None
    return start


def pixel_data_offset(data: bytes) -> int | None:
    """Byte offset of the PixelData value in a serialized file (native syntaxes)."""
    ds = pydicom.dcmread(io.BytesIO(data), defer_size=256)
    raw = ds._dict.get(Tag("PixelData"))  # a deferred (raw) element knows its file offset
    return int(raw.value_tell) if isinstance(raw, RawDataElement) else None


_ITEM_TAG = b"\xfe\xff\x00\xe0"
_SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0"
Span = list[int]  # [offset, length] of one fragment in the stored file


def frame_index(payload: bytes, parsed: ParsedInstance) -> tuple[list[int], list[Any]]:
    """Where each frame's bytes lie in the serialized file, for serving frames without parsing.

    Native frames: ``(offsets, lengths)`` of one contiguous range each. Encapsulated frames:
    ``offsets`` of each frame's first fragment and, per frame, the list of ``[offset, length]``
    spans of its fragments (one span per fragment; a frame split in fragments has several).
    Instances without pixel data, or 1-bit frames packed across byte boundaries, have none.
    """
    if not (parsed.frame_length or parsed.encapsulated):
        return [], []
    start = written_pixel_data_offset(payload, parsed)
    if start is None:
        start = pixel_data_offset(payload)
    if start is None:
        return [], []
    if not parsed.encapsulated:
        frames, length = parsed.number_of_frames, parsed.frame_length
        return [start + index * length for index in range(frames)], [length] * frames
    spans, offset_table = _fragments(payload, start)
    grouped = _group_fragments(spans, offset_table, parsed.number_of_frames)
    return [frame[0][0] for frame in grouped], grouped


def _fragments(payload: bytes, start: int) -> tuple[list[Span], list[int]]:
    """The fragments' spans after the Basic Offset Table, and that table's frame offsets."""
    items: list[Span] = []
    position = start
    while True:
        tag = payload[position : position + 4]
        if tag == _SEQUENCE_DELIMITER:
            break
        if tag != _ITEM_TAG or position + 8 > len(payload):
            raise DicomRejected(gettext_noop("the encapsulated pixel data is malformed"))
        length = int.from_bytes(payload[position + 4 : position + 8], "little")
        if position + 8 + length > len(payload):
            raise DicomRejected(
                gettext_noop("an encapsulated pixel data fragment runs past the end of file")
            )
        items.append([position + 8, length])
        position += 8 + length
    if not items:
        raise DicomRejected(gettext_noop("the encapsulated pixel data has no offset table item"))
    (table_offset, table_length), fragments = items[0], items[1:]
    table = payload[table_offset : table_offset + table_length]
    offsets = [int.from_bytes(table[i : i + 4], "little") for i in range(0, len(table), 4)]
    return fragments, offsets


def _group_fragments(spans: list[Span], offset_table: list[int], frames: int) -> list[list[Span]]:
    if not spans:
        raise DicomRejected(gettext_noop("the encapsulated pixel data has no fragments"))
    if frames == 1:
        return [spans]
    if len(spans) == frames:
        return [[span] for span in spans]
    if len(offset_table) != frames:
        raise DicomRejected(
            gettext_noop(
                "%(fragments)s fragments for %(frames)s frames and no offset table to match them"
            ),
            params={"fragments": len(spans), "frames": frames},
        )
    # Offsets in the table count from the first fragment's item tag.
    first_item = spans[0][0] - 8
    starts = [span[0] - 8 - first_item for span in spans]
    grouped: list[list[Span]] = [[] for _ in range(frames)]
    frame = -1
    for relative, span in zip(starts, spans, strict=True):
        while frame + 1 < frames and relative >= offset_table[frame + 1]:
            frame += 1
        if frame < 0:
            raise DicomRejected(
                gettext_noop("the offset table does not start at the first fragment")
            )
        grouped[frame].append(span)
    if any(not group for group in grouped):
        raise DicomRejected(gettext_noop("the offset table names a frame without fragments"))
    return grouped
