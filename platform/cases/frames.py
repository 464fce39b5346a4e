"""Reading stored pixel data by byte offset, and multipart/related bodies for DICOMweb.

A frame request reads exactly the frame's bytes with one ``pread`` per span on the stored file
(no dataset parsing), and the multipart body is sent as a few chunks (part header, frame,
closing boundary) instead of being copied into one buffer. Storage backends without local
paths (S3) are read through Django's storage API instead.

Frames are sent as stored, never transcoded: uncompressed ones as ``application/octet-stream``
with the Explicit VR Little Endian syntax, compressed ones (each frame the concatenation of its
encapsulated fragments) as ``application/octet-stream`` or their own media type, with the
stored syntax in the part's ``transfer-syntax`` parameter, when the Accept header allows that.
"""

from __future__ import annotations

import functools
import io
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.files.storage import storages
from django.http import HttpResponse, StreamingHttpResponse
from PIL import Image
from pydicom import pixels as pixels_module

from cases.storage import open_stored

if TYPE_CHECKING:  # importable before Django is set up (the WSGI fast path imports it early)
    from cases.models import Instance

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
# The part type of uncompressed frames and bulk data, as stored (native little endian).
OCTET_STREAM_PART = f"application/octet-stream; transfer-syntax={EXPLICIT_VR_LITTLE_ENDIAN}"
# Media types of compressed pixel data (PS3.18 Table 8.7.3-2), by transfer syntax.
COMPRESSED_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51": "image/jpeg",  # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57": "image/jpeg",  # JPEG Lossless (Process 14)
    "1.2.840.10008.1.2.4.70": "image/jpeg",  # JPEG Lossless, First-Order Prediction
    "1.2.840.10008.1.2.4.80": "image/jls",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": "image/jls",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90": "image/jp2",  # JPEG 2000 Lossless Only
    "1.2.840.10008.1.2.4.91": "image/jp2",  # JPEG 2000
    "1.2.840.10008.1.2.5": "image/x-dicom-rle",  # RLE Lossless
}

Span = tuple[int, int]  # (offset, length) in the stored file


class FrameError(ValueError):
    """A frame request the instance cannot satisfy; the message goes back with 4xx."""


@dataclass(frozen=True)
class FrameSource:
    """Where an instance's frames lie: its stored file and, per frame, the spans of its bytes.

    An uncompressed frame is one span; a compressed frame is one span per fragment. Stored
    instances never change (the file is content-addressed and written once), so a source can be
    kept in memory for as long as the instance exists.
    """

    storage_key: str
    frames: tuple[tuple[Span, ...], ...]
    number_of_frames: int
    transfer_syntax_uid: str

    @property
    def compressed(self) -> bool:
        return self.transfer_syntax_uid not in (
            EXPLICIT_VR_LITTLE_ENDIAN,
            IMPLICIT_VR_LITTLE_ENDIAN,
        )


def frame_source(instance: Instance) -> FrameSource:
    return source_from_values(
        instance.storage_key,
        instance.frame_offsets,
        instance.frame_lengths,
        instance.number_of_frames,
        instance.transfer_syntax_uid,
    )


def source_from_values(
    storage_key: str,
    offsets: Sequence[int],
    lengths: Sequence[Any],
    number_of_frames: int,
    transfer_syntax_uid: str,
) -> FrameSource:
    """A source from the columns of an Instance row (see ``dicom_io.frame_index``).

    ``lengths`` holds each uncompressed frame's length, or each compressed frame's list of
    ``[offset, length]`` fragment spans.
    """
    spans: list[tuple[Span, ...]] = []
    for offset, length in zip(offsets or (), lengths or (), strict=False):
        if isinstance(length, int):
            spans.append(((int(offset), length),))
        else:
            spans.append(tuple((int(start), int(size)) for start, size in length))
    return FrameSource(storage_key, tuple(spans), number_of_frames, transfer_syntax_uid)


def parse_frame_list(text: str, *, number_of_frames: int) -> list[int]:
    """Parse ``1,3,5`` into frame numbers, each within 1..number_of_frames."""
    try:
        frames = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise FrameError(f"frame list {text!r} must be comma-separated integers") from exc
    if not frames or any(not 1 <= frame <= number_of_frames for frame in frames):
        raise FrameError(f"frames must be between 1 and {number_of_frames}")
    return frames


@functools.lru_cache(maxsize=512)
def frame_part_type(accept: str, transfer_syntax_uid: str) -> str | None:
    """The Content-Type of each frame part, or None when ``accept`` rules the stored form out.

    A viewer sends the same Accept header with every frame request: it is parsed once.
    """
    native = transfer_syntax_uid in (EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN)
    syntax = EXPLICIT_VR_LITTLE_ENDIAN if native else transfer_syntax_uid
    media = "application/octet-stream" if native else COMPRESSED_MEDIA_TYPES.get(syntax)
    if media is None:
        return None
    own = f"{media}; transfer-syntax={syntax}"
    octet = f"application/octet-stream; transfer-syntax={syntax}"
    if not accept.strip():
        return own
    for media_range in accept.split(","):
        pieces = [piece.strip() for piece in media_range.split(";")]
        kind = pieces[0].lower()
        params = {
            name.strip().lower(): value.strip().strip('"')
            for name, _, value in (piece.partition("=") for piece in pieces[1:])
        }
        if kind in ("*/*", "multipart/*"):
            return own
        if kind != "multipart/related":
            continue
        wanted = params.get("type", "application/octet-stream").lower()
        asked = params.get("transfer-syntax")
        if wanted in ("application/octet-stream", "*/*") and (
            asked in ("*", syntax) or (asked is None and native)
        ):
            return octet
        if wanted == media and asked in (None, "*", syntax):
            return own
    return None


def _local_path(storage_key: str) -> str | None:
    """The file's path when the storage backend is a local directory, else None."""
    try:
        return str(storages["default"].path(storage_key))
    except NotImplementedError:
        return None


def _read_ranges(storage_key: str, ranges: Iterable[tuple[int, int]]) -> list[bytes]:
    path = _local_path(storage_key)
    chunks = []
    if path is None:
        with open_stored(storage_key) as stored:
            for offset, length in ranges:
                stored.seek(offset)
                chunks.append(bytes(stored.read(length)))
        return chunks
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset, length in ranges:
            data = os.pread(fd, length, offset)
            if len(data) != length:
                raise OSError(f"stored file {storage_key} is shorter than its index says")
            chunks.append(data)
    finally:
        os.close(fd)
    return chunks


def read_source_frames(source: FrameSource, frames: Sequence[int]) -> list[bytes]:
    """The bytes of the requested 1-based frames (a compressed frame's fragments joined)."""
    if not source.frames:
        raise FrameError("this instance has no frames that can be served")
    wanted = [source.frames[frame - 1] for frame in frames]
    pieces = iter(_read_ranges(source.storage_key, [span for spans in wanted for span in spans]))
    return [
        next(pieces) if len(spans) == 1 else b"".join(next(pieces) for _ in spans)
        for spans in wanted
    ]


def read_frames(instance: Instance, frames: Sequence[int]) -> list[bytes]:
    """The bytes of the requested 1-based frames, read by offset from the stored file."""
    return read_source_frames(frame_source(instance), frames)


def read_pixel_data(instance: Instance) -> bytes:
    """All frames' pixel data: contiguous as stored, or every compressed frame's bytes joined."""
    source = frame_source(instance)
    if not source.frames:
        raise FrameError("this instance has no pixel data that can be served")
    if source.compressed:
        return b"".join(read_source_frames(source, range(1, len(source.frames) + 1)))
    (start, _), (last, length) = source.frames[0][0], source.frames[-1][0]
    (data,) = _read_ranges(instance.storage_key, [(start, last + length - start)])
    return data


def read_stored(storage_key: str) -> bytes:
    with open_stored(storage_key) as stored:
        return bytes(stored.read())


def read_file(instance: Instance) -> bytes:
    return read_stored(instance.storage_key)


def _content_type(part_type: str, boundary: str) -> str:
    media, _, params = (piece.strip() for piece in part_type.partition(";"))
    if params:
        return f'multipart/related; type="{media}"; {params}; boundary={boundary}'
    return f'multipart/related; type="{media}"; boundary={boundary}'


def _multipart_stream(parts: Iterable[bytes], *, part_type: str, boundary: str) -> Iterator[bytes]:
    head = f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode()
    first = True
    for part in parts:
        yield head if first else b"\r\n" + head
        yield part
        first = False
    yield f"--{boundary}--\r\n".encode() if first else f"\r\n--{boundary}--\r\n".encode()


def multipart_chunks(parts: Iterable[bytes], *, part_type: str) -> tuple[list[bytes], str]:
    """``parts`` as multipart/related byte strings, not joined; and the Content-Type value."""
    boundary = secrets.token_hex(16)
    chunks = list(_multipart_stream(parts, part_type=part_type, boundary=boundary))
    return chunks, _content_type(part_type, boundary)


def multipart_related(parts: Iterable[bytes], *, part_type: str) -> tuple[bytes, str]:
    """Encode ``parts`` as multipart/related; return (body, Content-Type header value)."""
    chunks, content_type = multipart_chunks(parts, part_type=part_type)
    return b"".join(chunks), content_type


class _ChunkedResponse(HttpResponse):
    """An HttpResponse whose body is a few large byte strings, sent one after the other.

    ``HttpResponse(content)`` joins an iterable into one new buffer; a 512 KB frame does not
    need that copy. ``content`` still returns the whole body (the test client reads it).
    """

    def __init__(self, chunks: list[bytes], *, content_type: str) -> None:
        super().__init__(content_type=content_type)
        self._container = chunks
        self["Content-Length"] = str(sum(len(chunk) for chunk in chunks))


def multipart_response(parts: Iterable[bytes], *, part_type: str) -> HttpResponse:
    """A 200 response with ``parts`` as a multipart/related body."""
    chunks, content_type = multipart_chunks(parts, part_type=part_type)
    return _ChunkedResponse(chunks, content_type=content_type)


def multipart_streaming_response(
    parts: Iterable[bytes], *, part_type: str
) -> StreamingHttpResponse:
    """A 200 response that encodes ``parts`` as they are produced (for whole series)."""
    boundary = secrets.token_hex(16)
    return StreamingHttpResponse(
        _multipart_stream(parts, part_type=part_type, boundary=boundary),
        content_type=_content_type(part_type, boundary),
    )


def _attr(attributes: dict[str, Any], tag: str, default: float) -> float:
    values = attributes.get(tag, {}).get("Value") or [default]
    return float(values[0])


def render_png(instance: Instance, frame: int, *, size: int | None = None) -> bytes:
    """An 8-bit PNG of one frame, windowed by the stored window (or the frame's range)."""
    meta = json.loads(instance.metadata_json)
    bits = int(_attr(meta, "00280100", 16))
    signed = int(_attr(meta, "00280103", 0)) == 1
    samples = int(_attr(meta, "00280002", 1))
    if bits not in (8, 16) or samples != 1:
        raise FrameError("only 8- and 16-bit grayscale frames can be rendered")
    source = frame_source(instance)
    if source.compressed:
        stored = pixels_module.pixel_array(io.BytesIO(read_file(instance)), index=frame - 1)
        pixels = np.asarray(stored, dtype=np.float32)
    else:
        (data,) = read_source_frames(source, [frame])
        dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
        rows, columns = instance.rows or 0, instance.columns or 0
        pixels = np.frombuffer(data, dtype=dtype).reshape(rows, columns).astype(np.float32)
    pixels = pixels * _attr(meta, "00281053", 1.0) + _attr(meta, "00281052", 0.0)
    if "00281050" in meta and "00281051" in meta:
        center, width = _attr(meta, "00281050", 0), max(_attr(meta, "00281051", 1), 1.0)
        low, high = center - width / 2, center + width / 2
    else:
        low, high = float(pixels.min()), float(pixels.max())
    scaled = np.clip((pixels - low) / max(high - low, 1e-6), 0, 1) * 255
    image = Image.fromarray(scaled.astype(np.uint8))
    if size:
        image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
