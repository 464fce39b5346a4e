"""Reading stored pixel data by byte offset, and multipart/related bodies for DICOMweb.

A frame request reads exactly the frame's bytes with one ``pread`` on the stored file (no
dataset parsing, no seek-and-read through a file object), and the multipart body is sent as
three chunks (part header, frame, closing boundary) instead of being copied into one buffer.
Storage backends without local paths (S3) are read through Django's storage API instead.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.core.files.storage import storages
from django.http import HttpResponse, StreamingHttpResponse
from PIL import Image

from cases.models import Instance
from cases.storage import open_stored

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


class FrameError(ValueError):
    """A frame request the instance cannot satisfy; the message goes back with 4xx."""


@dataclass(frozen=True)
class FrameSource:
    """Where an instance's frames lie: its stored file and each frame's offset and length.

    Stored instances never change (the file is content-addressed and written once), so a
    source can be kept in memory for as long as the instance exists.
    """

    storage_key: str
    offsets: tuple[int, ...]
    lengths: tuple[int, ...]
    number_of_frames: int


def frame_source(instance: Instance) -> FrameSource:
    return source_from_values(
        instance.storage_key,
        instance.frame_offsets,
        instance.frame_lengths,
        instance.number_of_frames,
    )


def source_from_values(
    storage_key: str, offsets: Sequence[int], lengths: Sequence[int], number_of_frames: int
) -> FrameSource:
    """A source from the columns of an Instance row (for ``values_list`` queries)."""
    return FrameSource(storage_key, tuple(offsets or ()), tuple(lengths or ()), number_of_frames)


def parse_frame_list(text: str, *, number_of_frames: int) -> list[int]:
    """Parse ``1,3,5`` into frame numbers, each within 1..number_of_frames."""
    try:
        frames = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise FrameError(f"frame list {text!r} must be comma-separated integers") from exc
    if not frames or any(not 1 <= frame <= number_of_frames for frame in frames):
        raise FrameError(f"frames must be between 1 and {number_of_frames}")
    return frames


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
    """The raw bytes of the requested 1-based frames, each read by offset."""
    if not source.offsets:
        raise FrameError("this instance has no frames that can be served")
    return _read_ranges(
        source.storage_key,
        [(source.offsets[frame - 1], source.lengths[frame - 1]) for frame in frames],
    )


def read_frames(instance: Instance, frames: Sequence[int]) -> list[bytes]:
    """The raw bytes of the requested 1-based frames, read by offset from the stored file."""
    return read_source_frames(frame_source(instance), frames)


def read_pixel_data(instance: Instance) -> bytes:
    """All frames' pixel data, contiguous as stored."""
    if not instance.frame_offsets:
        raise FrameError("this instance has no pixel data that can be served")
    start = instance.frame_offsets[0]
    length = instance.frame_offsets[-1] + instance.frame_lengths[-1] - start
    (data,) = _read_ranges(instance.storage_key, [(start, length)])
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


def _multipart_chunks(parts: Iterable[bytes], *, part_type: str) -> tuple[list[bytes], str]:
    boundary = secrets.token_hex(16)
    chunks = list(_multipart_stream(parts, part_type=part_type, boundary=boundary))
    return chunks, _content_type(part_type, boundary)


def multipart_related(parts: Iterable[bytes], *, part_type: str) -> tuple[bytes, str]:
    """Encode ``parts`` as multipart/related; return (body, Content-Type header value)."""
    chunks, content_type = _multipart_chunks(parts, part_type=part_type)
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
    chunks, content_type = _multipart_chunks(parts, part_type=part_type)
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
    (data,) = read_frames(instance, [frame])
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
