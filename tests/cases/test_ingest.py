from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.conf import settings

from cases import deidentify
from cases.errors import CaseError
from cases.ingest import instance_ingest
from cases.models import (
    Case,
    Instance,
    Patient,
    PseudonymMapEntry,
    QuarantinedFile,
    Region,
    SeriesRole,
    Study,
)
from cases.services import case_create
from cases.storage import open_stored

SECRET = settings.DEIDENTIFICATION_SECRET.encode()


@pytest.mark.django_db
def test_ingest_deidentifies_stores_indexes_and_serves_frames_by_offset(
    cervical_files: dict[str, list[Path]],
) -> None:
    path = cervical_files["CT"][3]
    original = pydicom.dcmread(path)
    outcome = instance_ingest(data=path.read_bytes(), role=SeriesRole.CT)
    assert outcome.status == "stored"
    instance = Instance.objects.get(sop_instance_uid=outcome.sop_instance_uid)
    assert instance.sop_instance_uid == deidentify.remap_uid(
        str(original.SOPInstanceUID), secret=SECRET
    )
    assert instance.series.role == SeriesRole.CT
    assert (instance.rows, instance.columns, instance.number_of_frames) == (64, 64, 1)
    with open_stored(instance.storage_key) as stored:
        data = stored.read()
    assert data[:128] == b"\x00" * 128  # the preamble is zeroed when re-written
    start, length = instance.frame_offsets[0], instance.frame_lengths[0]
    assert data[start : start + length] == original.PixelData
    stored_ds = pydicom.dcmread(io.BytesIO(data))
    assert np.array_equal(stored_ds.pixel_array, original.pixel_array)
    # No identity survives: the name, ID and original UIDs are gone from the stored bytes.
    for secret_value in ("PHANTOM^T", str(original.StudyInstanceUID), str(original.StudyDate)):
        assert secret_value.encode() not in data
    assert stored_ds.PatientIdentityRemoved == "YES"
    pseudonym = deidentify.patient_pseudonym("T1", secret=SECRET)
    assert stored_ds.PatientID == pseudonym
    entry = PseudonymMapEntry.objects.get(patient__pseudonym=pseudonym)
    assert entry.original_patient_id == "T1"
    assert entry.date_offset_days != 0


@pytest.mark.django_db
def test_ingest_is_idempotent_and_one_patient_maps_to_one_pseudonym(
    cervical_files: dict[str, list[Path]],
) -> None:
    first = cervical_files["MRI-T2"][0].read_bytes()
    assert instance_ingest(data=first).status == "stored"
    repeat = instance_ingest(data=first)
    assert repeat.status == "duplicate"
    assert repeat.study_instance_uid == Study.objects.get().study_instance_uid
    assert instance_ingest(data=cervical_files["CT"][0].read_bytes()).status == "stored"
    assert Instance.objects.count() == 2
    assert Patient.objects.count() == 1
    assert Study.objects.count() == 1  # CT and MRI of one study stay one study


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda data: b"not a dicom file at all", "not a readable DICOM"),
        (lambda data: data[: len(data) // 2], "pixel data"),
    ],
)
def test_bad_files_are_rejected_with_a_reason_and_store_nothing(
    cervical_files: dict[str, list[Path]],
    mutate,  # type: ignore[no-untyped-def]
    reason: str,
) -> None:
    stored = instance_ingest(data=cervical_files["CT"][0].read_bytes())
    outcome = instance_ingest(data=mutate(cervical_files["CT"][1].read_bytes()))
    assert outcome.status == "rejected"
    assert reason in outcome.reason
    assert list(Instance.objects.values_list("sop_instance_uid", flat=True)) == [
        stored.sop_instance_uid
    ]


@pytest.mark.django_db
def test_a_header_claiming_huge_dimensions_is_rejected_before_allocation(
    cervical_files: dict[str, list[Path]],
) -> None:
    ds = pydicom.dcmread(cervical_files["CT"][0])
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 1000
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    outcome = instance_ingest(data=buffer.getvalue())
    assert outcome.status == "rejected"
    assert "outside" in outcome.reason
    assert not Instance.objects.exists()


@pytest.mark.django_db
def test_burned_in_annotation_is_quarantined_not_imported(
    cervical_files: dict[str, list[Path]],
) -> None:
    ds = pydicom.dcmread(cervical_files["CT"][0])
    ds.BurnedInAnnotation = "YES"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    outcome = instance_ingest(data=buffer.getvalue())
    assert outcome.status == "quarantined"
    assert "BurnedInAnnotation" in outcome.reason
    assert not Instance.objects.exists()
    assert QuarantinedFile.objects.get().size_bytes == len(buffer.getvalue())


@pytest.mark.django_db
def test_case_creation_needs_studies_of_one_patient(
    cervical_files: dict[str, list[Path]], tmp_path: Path
) -> None:
    instance_ingest(data=cervical_files["CT"][0].read_bytes())
    other = pydicom.dcmread(cervical_files["CT"][1])
    other.PatientID = "SOMEONE-ELSE"
    other.StudyInstanceUID = pydicom.uid.generate_uid()
    other.SeriesInstanceUID = pydicom.uid.generate_uid()
    other.save_as(tmp_path / "other.dcm", enforce_file_format=True)
    assert instance_ingest(data=(tmp_path / "other.dcm").read_bytes()).status == "stored"
    with pytest.raises(CaseError, match="one patient"):
        case_create(actor=None, label="X", region=Region.CERVICAL, studies=Study.objects.all())
    assert not Case.objects.exists()
    first = Study.objects.get(patient__pseudonym=deidentify.patient_pseudonym("T1", secret=SECRET))
    case = case_create(actor=None, label="X", region=Region.CERVICAL, studies=[first])
    with pytest.raises(CaseError, match="already belongs"):
        case_create(actor=None, label="Y", region=Region.CERVICAL, studies=[first])
    # A file of another patient cannot be attached to this case.
    mismatch = instance_ingest(data=(tmp_path / "other.dcm").read_bytes(), case=case)
    assert mismatch.status in ("duplicate", "rejected")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("keyword", "value", "nested"),
    [
        ("WindowCenter", "1e400", False),
        ("WindowWidth", "nan", False),
        ("RescaleSlope", "inf", False),
        ("SliceThickness", "-inf", True),  # inside a sequence item
    ],
)
def test_a_number_that_is_not_finite_is_refused_at_ingest(
    cervical_files: dict[str, list[Path]], keyword: str, value: str, nested: bool
) -> None:
    # Probed in issue 16: 1e400, nan and inf were stored and then served as Infinity/NaN.
    ds = pydicom.dcmread(cervical_files["CT"][2])
    if nested:
        item = pydicom.Dataset()
        setattr(item, keyword, value)
        ds.ReferencedImageSequence = [item]
    else:
        setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    outcome = instance_ingest(data=buffer.getvalue())
    assert outcome.status == "rejected"
    assert f"{keyword} holds {value}" in outcome.reason and "not a finite number" in outcome.reason
    assert not Instance.objects.exists()
