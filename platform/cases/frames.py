"""Reading stored pixel data by byte offset, and multipart/related bodies for DICOMweb."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from cases.models import Instance
from cases.storage import open_stored

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"


class FrameError(ValueError):
    """A frame request the instance cannot satisfy; the message goes back with 4xx."""


def parse_frame_list(text: str, *, number_of_frames: int) -> list[int]:
    """Parse ``1,3,5`` into frame numbers, each within 1..number_of_frames."""
    try:
        frames = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise FrameError(f"frame list {text!r} must be comma-separated integers") from exc
    if not frames or any(not 1 <= frame <= number_of_frames for frame in frames):
        raise FrameError(f"frames must be between 1 and {number_of_frames}")
    return frames


def read_frames(instance: Instance, frames: Sequence[int]) -> list[bytes]:
    """The raw bytes of the requested 1-based frames, read by offset from the stored file."""
    if not instance.frame_offsets:
        raise FrameError("this instance has no frames that can be served")
    chunks = []
    with open_stored(instance.storage_key) as stored:
        for frame in frames:
            stored.seek(instance.frame_offsets[frame - 1])
            chunks.append(stored.read(instance.frame_lengths[frame - 1]))
    return chunks


def read_pixel_data(instance: Instance) -> bytes:
    """All frames' pixel data, contiguous as stored."""
    if not instance.frame_offsets:
        raise FrameError("this instance has no pixel data that can be served")
    start = instance.frame_offsets[0]
    length = instance.frame_offsets[-1] + instance.frame_lengths[-1] - start
    with open_stored(instance.storage_key) as stored:
        stored.seek(start)
        return bytes(stored.read(length))


def read_file(instance: Instance) -> bytes:
    with open_stored(instance.storage_key) as stored:
        return bytes(stored.read())


def multipart_related(parts: Iterable[bytes], *, part_type: str) -> tuple[bytes, str]:
    """Encode ``parts`` as multipart/related; return (body, Content-Type header value)."""
    boundary = secrets.token_hex(16)
    out = io.BytesIO()
    for part in parts:
        out.write(f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode())
        out.write(part)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    media = part_type.split(";", 1)[0]
    params = part_type.split(";", 1)[1].strip() if ";" in part_type else ""
    header = f'multipart/related; type="{media}"; boundary={boundary}'
    if params:
        header = f'multipart/related; type="{media}"; {params}; boundary={boundary}'
    return out.getvalue(), header


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
