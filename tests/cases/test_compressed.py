"""Compressed transfer syntaxes: accepted, encapsulated fragments indexed per frame at ingest."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.test import Client
from pydicom.encaps import encapsulate, generate_frames, itemize_frame
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGLSLossless, RLELossless

from accounts.models import User
from cases.dicom_io import DicomRejected, frame_index, parse_instance, serialize_instance
from cases.ingest import instance_ingest
from cases.models import Instance
from cases.storage import open_stored


def compressed(path: Path, syntax: str) -> bytes:
    ds = pydicom.dcmread(path)
    ds.compress(syntax)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


ITEM, DELIMITER = b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _joined(payload: bytes, spans: list[list[int]]) -> bytes:
    return b"".join(payload[offset : offset + length] for offset, length in spans)


def _stored_frame(instance: Instance, index: int) -> bytes:
    spans = instance.frame_lengths[index]
    with open_stored(instance.storage_key) as stored:
        data = stored.read()
    return _joined(data, spans)


@pytest.mark.django_db
@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless, JPEGLSLossless])
def test_compressed_instances_are_stored_with_each_frames_fragments_indexed(
    cervical_files: dict[str, list[Path]], syntax: str
) -> None:
    path = cervical_files["CT"][3]
    data = compressed(path, syntax)

    outcome = instance_ingest(data=data)

    assert outcome.status == "stored", outcome.reason
    instance = Instance.objects.get()
    assert instance.transfer_syntax_uid == syntax
    sent = pydicom.dcmread(io.BytesIO(data))
    (expected,) = generate_frames(sent.PixelData, number_of_frames=1)
    assert _stored_frame(instance, 0) == expected  # the sender's compressed bytes, unchanged
    with open_stored(instance.storage_key) as stored:
        back = pydicom.dcmread(stored)
        assert np.array_equal(back.pixel_array, pydicom.dcmread(path).pixel_array)


def _multiframe(path: Path, *, fragments_per_frame: int, offset_table: bool) -> bytes:
    """A two-frame RLE instance whose frames are split into several fragments."""
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    second = frame[:-2] + b"\x00\x00"  # distinguishable, the same length
    pieces = []
    for item in (frame, second):
        size = -(-len(item) // fragments_per_frame)
        size += size % 2
        pieces.append([item[i : i + size] for i in range(0, len(item), size)])
    body = b"".join(
        b"".join(itemize_frame(piece)) for frame_pieces in pieces for piece in frame_pieces
    )
    first_length = sum(len(piece) + 8 for piece in pieces[0])
    table = (0).to_bytes(4, "little") + first_length.to_bytes(4, "little") if offset_table else b""
    ds.PixelData = ITEM + len(table).to_bytes(4, "little") + table + body + DELIMITER
    ds.NumberOfFrames = 2
    return serialize_instance(ds), frame, second


def test_frames_split_into_fragments_are_grouped_by_the_offset_table(
    cervical_files: dict[str, list[Path]],
) -> None:
    payload, first, second = _multiframe(
        cervical_files["CT"][2], fragments_per_frame=3, offset_table=True
    )
    parsed = parse_instance(payload)

    offsets, spans = frame_index(payload, parsed)

    assert len(offsets) == len(spans) == 2
    joined = [_joined(payload, frame) for frame in spans]
    assert joined == [first, second]
    assert [len(frame) for frame in spans] == [3, 3]


def test_fragments_that_cannot_be_matched_to_frames_are_rejected(
    cervical_files: dict[str, list[Path]],
) -> None:
    payload, _, _ = _multiframe(cervical_files["CT"][2], fragments_per_frame=3, offset_table=False)
    with pytest.raises(DicomRejected, match="no offset table"):
        frame_index(payload, parse_instance(payload))


def test_one_fragment_per_frame_needs_no_offset_table(
    cervical_files: dict[str, list[Path]],
) -> None:
    ds = pydicom.dcmread(cervical_files["CT"][1])
    ds.compress(RLELossless)
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    ds.PixelData = encapsulate([frame, frame[::-1]], has_bot=False)
    ds.NumberOfFrames = 2
    payload = serialize_instance(ds)

    _, spans = frame_index(payload, parse_instance(payload))

    assert [_joined(payload, frame_spans) for frame_spans in spans] == [frame, frame[::-1]]


@pytest.mark.django_db
def test_bulk_pixel_data_of_a_compressed_instance_is_sent_as_stored(
    client: Client, coordinator: User, cervical_files: dict[str, list[Path]]
) -> None:
    data = compressed(cervical_files["CT"][4], RLELossless)
    assert instance_ingest(data=data).status == "stored"
    instance = Instance.objects.select_related("series__study").get()
    url = (
        f"/dicomweb/studies/{instance.series.study.study_instance_uid}/series/"
        f"{instance.series.series_instance_uid}/instances/{instance.sop_instance_uid}"
        "/bulkdata/7FE00010"
    )
    client.force_login(coordinator)

    anything = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    response = client.get(url, HTTP_ACCEPT=anything)

    assert response.status_code == 200
    assert f"transfer-syntax={RLELossless}" in response.content.decode("latin-1")
    (expected,) = generate_frames(pydicom.dcmread(io.BytesIO(data)).PixelData, number_of_frames=1)
    assert expected in response.content
    native_only = (
        'multipart/related; type="application/octet-stream"; '
        f"transfer-syntax={ExplicitVRLittleEndian}"
    )
    assert client.get(url, HTTP_ACCEPT=native_only).status_code == 406
