"""A corpus of broken files and a Hypothesis fuzz test of the ingest service.

Whatever the bytes, ingest answers with a status and a reason, never an exception, and nothing
already stored changes.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from cases.ingest import instance_ingest
from cases.models import Instance
from cases.storage import open_stored

Mutation = Callable[[bytes], bytes]


def _dataset(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def _rewritten(data: bytes, change: Callable[[pydicom.Dataset], None]) -> bytes:
    ds = _dataset(data)
    change(ds)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def _truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def _missing_meta(data: bytes) -> bytes:
    # Strip preamble and file meta: a raw dataset with no transfer syntax.
    return _rewritten(data, lambda ds: ds.file_meta.clear())[132:]


def _huge_dimensions(data: bytes) -> bytes:
    def change(ds: pydicom.Dataset) -> None:
        ds.Rows, ds.Columns, ds.NumberOfFrames = 65535, 65535, 1000

    return _rewritten(data, change)


def _bad_transfer_syntax(data: bytes) -> bytes:
    def change(ds: pydicom.Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6"

    return _rewritten(data, change)


def _compressed_claim_with_raw_pixels(data: bytes) -> bytes:
    # The meta header says RLE Lossless (same UID length as Explicit VR Little Endian), the
    # pixel data stays native: not encapsulated as a compressed syntax requires.
    explicit, rle = ExplicitVRLittleEndian.encode(), RLELossless.encode()
    assert len(explicit) == len(rle) and explicit in data[:400]
    return data.replace(explicit, rle, 1)


def _wrong_vr(data: bytes) -> bytes:
    # Rows (0028,0010) re-declared with VR "DS" and a text value: explicit VR lets it through
    # the parser, the value is nonsense.
    marker = b"\x28\x00\x10\x00US\x02\x00"
    index = data.index(marker)
    return data[:index] + b"\x28\x00\x10\x00DS\x02\x00ab" + data[index + len(marker) + 2 :]


def _pixel_length_mismatch(data: bytes) -> bytes:
    def change(ds: pydicom.Dataset) -> None:
        ds.PixelData = ds.PixelData[:-64]

    return _rewritten(data, change)


def _garbage_length(data: bytes) -> bytes:
    # A length field claiming 4 GB for PatientName.
    marker = b"\x10\x00\x10\x00PN"
    index = data.index(marker)
    return data[: index + 6] + b"\xfe\xff" + data[index + 8 :]


def _no_uids(data: bytes) -> bytes:
    return _rewritten(data, lambda ds: delattr(ds, "SOPInstanceUID"))


def _not_dicom(_: bytes) -> bytes:
    return b"%PDF-1.7 definitely not an image"


def _empty(_: bytes) -> bytes:
    return b""


def _zip_bomb_member(_: bytes) -> bytes:
    return b"PK\x03\x04" + b"\x00" * 200


CORPUS: dict[str, Mutation] = {
    "truncated": _truncated,
    "missing meta": _missing_meta,
    "huge dimensions": _huge_dimensions,
    "bad transfer syntax": _bad_transfer_syntax,
    "compressed claim, raw pixels": _compressed_claim_with_raw_pixels,
    "wrong VR": _wrong_vr,
    "pixel length mismatch": _pixel_length_mismatch,
    "garbage length": _garbage_length,
    "no SOP instance UID": _no_uids,
    "not DICOM": _not_dicom,
    "empty": _empty,
    "ZIP given as a DICOM file": _zip_bomb_member,
}


def _stored_state() -> list[tuple[str, str, str]]:
    rows = Instance.objects.order_by("sop_instance_uid").values_list(
        "sop_instance_uid", "storage_key", "metadata_json"
    )
    return [(uid, key, hashlib.sha256(meta.encode()).hexdigest()) for uid, key, meta in rows]


def _file_digests() -> dict[str, str]:
    digests = {}
    for key in Instance.objects.values_list("storage_key", flat=True):
        with open_stored(key) as stored:
            digests[key] = hashlib.sha256(stored.read()).hexdigest()
    return digests


class Sample(bytes):
    """A good file; its repr stays short in Hypothesis reports."""

    def __repr__(self) -> str:
        return f"<DICOM sample, {len(self)} bytes>"


@pytest.fixture
def one_stored(db: None, cervical_files: dict[str, list[Path]]) -> bytes:
    original = cervical_files["CT"][0].read_bytes()
    assert instance_ingest(data=original).status == "stored"
    return Sample(cervical_files["CT"][1].read_bytes())


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_broken_file_is_rejected_with_a_reason_and_changes_nothing(
    name: str, one_stored: bytes
) -> None:
    before, files_before = _stored_state(), _file_digests()

    outcome = instance_ingest(data=CORPUS[name](one_stored))

    assert outcome.status == "rejected", (name, outcome)
    assert len(outcome.reason) > 10
    assert _stored_state() == before
    assert _file_digests() == files_before


@pytest.mark.django_db
def test_the_corpus_sample_itself_is_a_good_file(one_stored: bytes) -> None:
    # Guards the corpus: every mutation starts from a file that ingests fine.
    assert instance_ingest(data=one_stored).status == "stored"


def _mutate(data: bytes, edits: list[tuple[int, bytes]], cut: int | None) -> bytes:
    buffer = bytearray(data)
    for position, chunk in edits:
        start = position % max(len(buffer), 1)
        buffer[start : start + len(chunk)] = chunk
    return bytes(buffer[:cut] if cut is not None else buffer)


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=2000), st.binary(min_size=1, max_size=8)),
        max_size=6,
    ),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=4000)),
)
def test_fuzzed_headers_never_crash_ingest_or_change_stored_data(
    one_stored: bytes, edits: list[tuple[int, bytes]], cut: int | None
) -> None:
    before = _stored_state()

    outcome = instance_ingest(data=_mutate(one_stored, edits, cut))

    assert outcome.status in ("stored", "duplicate", "rejected", "quarantined")
    if outcome.status in ("rejected", "quarantined"):
        assert outcome.reason
    after = _stored_state()
    # Only a new instance may appear; nothing stored before changes.
    assert [row for row in after if row[0] in {uid for uid, _, _ in before}] == before
    Instance.objects.exclude(sop_instance_uid__in=[uid for uid, _, _ in before]).delete()


@pytest.mark.django_db
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_are_rejected_with_a_reason(one_stored: bytes, data: bytes) -> None:
    outcome = instance_ingest(data=b"\x00" * 128 + b"DICM" + data)
    assert outcome.status == "rejected"
    assert outcome.reason
