from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest

from cases.models import Case, Instance, SeriesRole
from cases.services import instance_ingest
from cases.storage import open_stored


@pytest.mark.django_db
def test_ingest_stores_indexes_and_serves_frames_by_offset(
    case: Case, cervical_files: dict[str, list[Path]]
) -> None:
    path = cervical_files["CT"][3]
    outcome = instance_ingest(case=case, data=path.read_bytes(), role=SeriesRole.CT)
    assert outcome.status == "stored"
    instance = Instance.objects.get(sop_instance_uid=outcome.sop_instance_uid)
    assert instance.series.role == SeriesRole.CT
    assert instance.series.study.case == case
    assert (instance.rows, instance.columns, instance.number_of_frames) == (64, 64, 1)
    with open_stored(instance.storage_key) as stored:
        data = stored.read()
    assert data[:128] == b"\x00" * 128  # the preamble is zeroed when re-written
    original = pydicom.dcmread(path)
    start, length = instance.frame_offsets[0], instance.frame_lengths[0]
    assert data[start : start + length] == original.PixelData
    assert np.array_equal(pydicom.dcmread(io.BytesIO(data)).pixel_array, original.pixel_array)


@pytest.mark.django_db
def test_ingest_is_idempotent(case: Case, cervical_files: dict[str, list[Path]]) -> None:
    data = cervical_files["MRI-T2"][0].read_bytes()
    assert instance_ingest(case=case, data=data).status == "stored"
    assert instance_ingest(case=case, data=data).status == "duplicate"
    assert Instance.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda data: b"not a dicom file at all", "not a readable DICOM"),
        (lambda data: data[: len(data) // 2], "pixel data"),
    ],
)
def test_bad_files_are_rejected_with_a_reason_and_store_nothing(
    case: Case,
    cervical_files: dict[str, list[Path]],
    mutate,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    stored = instance_ingest(case=case, data=cervical_files["CT"][0].read_bytes())
    outcome = instance_ingest(case=case, data=mutate(cervical_files["CT"][1].read_bytes()))
    assert outcome.status == "rejected"
    assert reason in outcome.reason
    assert list(Instance.objects.values_list("sop_instance_uid", flat=True)) == [
        stored.sop_instance_uid
    ]


@pytest.mark.django_db
def test_a_header_claiming_huge_dimensions_is_rejected_before_allocation(
    case: Case, cervical_files: dict[str, list[Path]]
) -> None:
    ds = pydicom.dcmread(cervical_files["CT"][0])
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 1000
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    outcome = instance_ingest(case=case, data=buffer.getvalue())
    assert outcome.status == "rejected"
    assert "outside" in outcome.reason
    assert not Instance.objects.exists()
