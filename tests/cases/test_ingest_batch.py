"""Ingest batches: the files of one request share look-ups and one insert, outcomes stay exact."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import ImplicitVRLittleEndian, RLELossless

from accounts.models import User
from cases import ingest
from cases.dicom_io import (
    frame_index,
    parse_instance,
    pixel_data_offset,
    serialize_instance,
    written_pixel_data_offset,
)
from cases.ingest import IngestBatch, IngestOutcome, instance_ingest
from cases.models import Instance, Patient, PseudonymMapEntry, Region, Series, Study
from cases.services import case_create
from cases.storage import open_stored
from inference.phantoms import generate_cervical_case, write_cervical_ct_dicom
from tests.cases.test_stow import sop_uid_of, stow_body, stow_post
from tests.conftest import client_login

SLICES = 20


@pytest.fixture(scope="session")
def series_files(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """One CT series of 20 small slices (one patient, one study)."""
    paths = write_cervical_ct_dicom(
        generate_cervical_case(seed=7, shape=(SLICES, 32, 32)),
        tmp_path_factory.mktemp("batch"),
        patient_name="BATCH^PATIENT",
        patient_id="BATCH-1",
        uid_namespace="tests/ingest-batch",
    )
    return [path.read_bytes() for path in paths]


def _statuses(outcomes: list[IngestOutcome]) -> list[str]:
    return [outcome.status for outcome in outcomes]


def _ingest(files: list[bytes], **kwargs: object) -> list[IngestOutcome]:
    with IngestBatch(**kwargs) as batch:  # type: ignore[arg-type]
        for data in files:
            batch.add(data)
    return batch.outcomes


@pytest.mark.django_db
def test_stow_of_one_series_stores_every_instance_with_one_study_and_one_series(
    client: Client, coordinator: User, series_files: list[bytes]
) -> None:
    client_login(client, coordinator)
    with CaptureQueriesContext(connection) as queries:
        response = stow_post(client, stow_body(series_files))

    assert response.status_code == 200, response.content
    referenced = response.json()["00081199"]["Value"]
    assert [item["00081155"]["Value"][0] for item in referenced] == [
        sop_uid_of(data) for data in series_files
    ]
    assert Instance.objects.count() == SLICES
    assert (Patient.objects.count(), Study.objects.count(), Series.objects.count()) == (1, 1, 1)
    series = Series.objects.get()
    assert set(Instance.objects.values_list("series", flat=True)) == {series.pk}
    assert sorted(Instance.objects.values_list("instance_number", flat=True)) == list(
        range(1, SLICES + 1)
    )
    # One duplicate check and one insert for the request, not several statements per instance
    # (one file at a time took five or more each: more than 100 here).
    case_sql = [q["sql"] for q in queries.captured_queries if '"cases_' in q["sql"]]
    assert len(case_sql) < SLICES // 2, case_sql
    assert sum(sql.startswith('INSERT INTO "cases_instance"') for sql in case_sql) == 1


@pytest.mark.django_db
def test_a_bad_file_in_the_middle_of_a_batch_fails_alone(
    client: Client, coordinator: User, series_files: list[bytes]
) -> None:
    truncated = series_files[5][: len(series_files[5]) // 2]
    parts = [*series_files[:5], truncated, b"not dicom", *series_files[6:10]]

    response = stow_post(client_login(client, coordinator), stow_body(parts))

    assert response.status_code == 202, response.content
    answer = response.json()
    failed = answer["00081198"]["Value"]
    assert [item["00081155"].get("Value", [""])[0] for item in failed] == [
        sop_uid_of(series_files[5]),
        "",
    ]
    assert all(item["00000902"]["Value"][0].startswith("rejected: ") for item in failed)
    stored = [item["00081155"]["Value"][0] for item in answer["00081199"]["Value"]]
    assert stored == [sop_uid_of(data) for data in [*series_files[:5], *series_files[6:10]]]
    assert Instance.objects.count() == 9
    assert Series.objects.count() == 1


@pytest.mark.django_db
def test_the_same_instance_twice_in_one_batch_is_stored_once_and_reported_duplicate(
    series_files: list[bytes],
) -> None:
    first, second = series_files[0], series_files[1]

    outcomes = _ingest([first, second, first, first])

    assert _statuses(outcomes) == ["stored", "stored", "duplicate", "duplicate"]
    assert outcomes[2].sop_instance_uid == outcomes[0].sop_instance_uid
    assert outcomes[2].series_instance_uid == outcomes[0].series_instance_uid
    assert outcomes[2].original_sop_instance_uid == sop_uid_of(first)
    assert Instance.objects.count() == 2
    # And against what an earlier request stored: duplicates, nothing changes.
    again = _ingest([second, series_files[2]])
    assert _statuses(again) == ["duplicate", "stored"]
    assert Instance.objects.count() == 3


@pytest.mark.django_db
def test_a_batch_gives_each_file_the_outcome_of_one_file_at_a_time(
    series_files: list[bytes], tmp_path: Path
) -> None:
    """Rejections and quarantines mixed with good files, in order, store nothing of theirs."""
    burned = pydicom.dcmread(io.BytesIO(series_files[3]))
    burned.BurnedInAnnotation = "YES"
    no_patient = pydicom.dcmread(io.BytesIO(series_files[4]))
    no_patient.PatientID = ""
    files = [
        series_files[0],
        serialize_instance(burned),
        serialize_instance(no_patient),
        b"garbage",
        series_files[1],
    ]

    outcomes = _ingest(files)

    assert _statuses(outcomes) == ["stored", "quarantined", "rejected", "rejected", "stored"]
    assert "PatientID is empty" in outcomes[2].reason
    assert "not a readable DICOM" in outcomes[3].reason
    assert Instance.objects.count() == 2


@pytest.mark.django_db
def test_case_rules_hold_per_study_within_a_batch(series_files: list[bytes]) -> None:
    """A batch for case B: files of a study of case A are refused, B's own study is fine."""
    assert _statuses(_ingest(series_files[:2])) == ["stored", "stored"]
    case_a = case_create(actor=None, label="A", region=Region.CERVICAL, studies=Study.objects.all())
    other_study = []
    for data in series_files[10:13]:
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.77"
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.78"
        other_study.append(serialize_instance(ds))
    assert _statuses(_ingest(other_study[:1])) == ["stored"]
    study_b = Study.objects.exclude(case=case_a).get()
    case_b = case_create(actor=None, label="B", region=Region.CERVICAL, studies=[study_b])

    outcomes = _ingest(
        [series_files[2], other_study[1], series_files[3], other_study[2]], case=case_b
    )

    assert _statuses(outcomes) == ["rejected", "stored", "rejected", "stored"]
    assert outcomes[0].reason == "the study belongs to another case"
    assert Instance.objects.filter(series__study__case=case_a).count() == 2
    assert Instance.objects.filter(series__study__case=case_b).count() == 3


@pytest.mark.django_db
def test_instances_stored_between_the_check_and_the_insert_are_duplicates(
    series_files: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another request stores some of the batch's instances just before its insert: the
    batch's transaction fails on them, and each file is then indexed alone, exactly."""
    original = IngestBatch._index_together
    raced: list[IngestOutcome] = []

    def racing(self: IngestBatch, fresh: list) -> list[IngestOutcome]:  # type: ignore[type-arg]
        if self is first_batch:  # the other request runs before this batch's insert
            raced.extend(_ingest(series_files[2:4]))
        return original(self, fresh)

    monkeypatch.setattr(IngestBatch, "_index_together", racing)

    with IngestBatch() as first_batch:
        for data in series_files[:6]:
            first_batch.add(data)
    outcomes = first_batch.outcomes

    assert _statuses(raced) == ["stored", "stored"]
    assert _statuses(outcomes) == ["stored", "stored", "duplicate", "duplicate", "stored", "stored"]
    assert Instance.objects.count() == 6
    assert Series.objects.count() == 1


@pytest.mark.django_db
def test_a_row_the_database_refuses_fails_alone(series_files: list[bytes]) -> None:
    huge = pydicom.dcmread(io.BytesIO(series_files[1]))
    huge.InstanceNumber = "999999999999"  # a valid IS, beyond a PostgreSQL integer

    outcomes = _ingest([series_files[0], serialize_instance(huge), series_files[2]])

    if connection.vendor == "postgresql":
        assert _statuses(outcomes) == ["stored", "rejected", "stored"]
        assert outcomes[1].reason.startswith("malformed attribute value")
        assert Instance.objects.count() == 2
    else:  # SQLite integers hold it
        assert _statuses(outcomes) == ["stored", "stored", "stored"]
        assert Instance.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_batches_of_one_series_store_it_once(series_files: list[bytes]) -> None:
    """Two requests with overlapping halves of one series, in two threads (two connections)."""
    halves = {"a": series_files[:14], "b": series_files[6:]}
    start = threading.Barrier(2)
    results: dict[str, list[IngestOutcome]] = {}
    errors: list[BaseException] = []

    def upload(name: str) -> None:
        try:
            start.wait(timeout=30)
            results[name] = _ingest(halves[name], flush_every=4)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(name,)) for name in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert (Patient.objects.count(), PseudonymMapEntry.objects.count()) == (1, 1)
    assert (Study.objects.count(), Series.objects.count()) == (1, 1)
    assert Instance.objects.count() == SLICES
    by_sop: dict[str, list[str]] = {}
    for outcome in results["a"] + results["b"]:
        by_sop.setdefault(outcome.sop_instance_uid, []).append(outcome.status)
    assert len(by_sop) == SLICES
    for statuses in by_sop.values():
        assert statuses.count("stored") == 1  # the overlap: one stored, one duplicate
        assert set(statuses) <= {"stored", "duplicate"}
    assert sum(len(statuses) == 2 for statuses in by_sop.values()) == 8


@pytest.mark.django_db
def test_instance_ingest_is_a_batch_of_one(series_files: list[bytes]) -> None:
    assert instance_ingest(data=series_files[0]).status == "stored"
    assert instance_ingest(data=series_files[0]).status == "duplicate"
    assert ingest.instance_ingest(data=b"x").status == "rejected"


# --- the pixel data offset from the writer --------------------------------------------------


def _variants(data: bytes) -> dict[str, bytes]:
    explicit = pydicom.dcmread(io.BytesIO(data))
    implicit = pydicom.dcmread(io.BytesIO(data))
    implicit.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    rle = pydicom.dcmread(io.BytesIO(data))
    rle.compress(RLELossless)
    two_frames = pydicom.dcmread(io.BytesIO(data))
    two_frames.compress(RLELossless)
    (frame,) = generate_frames(two_frames.PixelData, number_of_frames=1)
    two_frames.PixelData = encapsulate([frame, frame[::-1]], has_bot=True)
    two_frames.NumberOfFrames = 2
    return {
        name: serialize_instance(ds)
        for name, ds in {
            "explicit": explicit,
            "implicit": implicit,
            "rle": rle,
            "rle, two frames": two_frames,
        }.items()
    }


def test_the_pixel_data_offset_from_the_writer_is_the_parsed_one(
    series_files: list[bytes],
) -> None:
    for name, payload in _variants(series_files[0]).items():
        parsed = parse_instance(payload)
        offset = written_pixel_data_offset(payload, parsed)
        assert offset is not None, name
        assert offset == pixel_data_offset(payload), name


def test_an_element_after_the_pixel_data_falls_back_to_parsing(series_files: list[bytes]) -> None:
    ds = pydicom.dcmread(io.BytesIO(series_files[0]))
    ds.add_new(0xFFFCFFFC, "OB", b"\x00" * 16)  # Data Set Trailing Padding
    payload = serialize_instance(ds)
    parsed = parse_instance(payload)

    assert written_pixel_data_offset(payload, parsed) is None
    offsets, lengths = frame_index(payload, parsed)
    start = pixel_data_offset(payload)
    assert start is not None
    assert offsets == [start] and payload[start : start + lengths[0]] == ds.PixelData


def test_a_file_whose_pixel_data_is_not_its_tail_is_not_trusted(series_files: list[bytes]) -> None:
    payload = series_files[0] + b"\x00\x00"  # bytes after the value: the header will not match
    parsed = parse_instance(series_files[0])
    assert written_pixel_data_offset(payload, parsed) is None


# --- sender UIDs that collide: one patient's or study's images never land in another's ------


def _rewritten(data: bytes, **values: str) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return serialize_instance(ds)


@pytest.mark.django_db
@pytest.mark.parametrize("flush_every", [50, 1])
def test_a_file_of_another_patient_naming_a_stored_study_is_refused(
    series_files: list[bytes], flush_every: int
) -> None:
    """A study UID reused by another patient's file (a modality bug, or on purpose) must not
    put that patient's image into the stored study, nor pull the study into their case."""
    assert _statuses(_ingest(series_files[:1])) == ["stored"]
    study = Study.objects.get()
    other_study = _rewritten(
        series_files[5],
        PatientID="OTHER-9",
        StudyInstanceUID="1.2.826.0.1.3680043.8.498.81",
        SeriesInstanceUID="1.2.826.0.1.3680043.8.498.82",
    )
    assert _statuses(_ingest([other_study])) == ["stored"]
    other_case = case_create(
        actor=None,
        label="other",
        region=Region.CERVICAL,
        studies=Study.objects.exclude(pk=study.pk),
    )
    intruders = [
        _rewritten(series_files[1], PatientID="OTHER-9"),  # study and series UIDs of BATCH-1
        _rewritten(series_files[2], PatientID="OTHER-9"),
    ]

    alone = _ingest(intruders[:1], flush_every=flush_every)
    in_case = _ingest([intruders[1], series_files[3]], case=other_case, flush_every=flush_every)

    assert _statuses(alone) == ["rejected"]
    assert alone[0].reason == "the study belongs to another patient"
    assert _statuses(in_case) == ["rejected", "rejected"]
    assert in_case[0].reason == "the study belongs to another patient"
    assert in_case[1].reason == "the file's patient is not the case's"
    study.refresh_from_db()
    assert study.case_id is None
    assert Instance.objects.filter(series__study=study).count() == 1
    assert Instance.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("flush_every", [50, 1])
def test_a_file_naming_a_stored_series_under_another_study_is_refused_and_leaves_nothing(
    series_files: list[bytes], flush_every: int
) -> None:
    assert _statuses(_ingest(series_files[:1])) == ["stored"]
    moved = _rewritten(series_files[1], StudyInstanceUID="1.2.826.0.1.3680043.8.498.91")

    outcomes = _ingest([moved, series_files[2]], flush_every=flush_every)

    assert _statuses(outcomes) == ["rejected", "stored"]
    assert outcomes[0].reason == "the series belongs to another study"
    assert Study.objects.count() == 1  # no empty study is left behind for the refused file
    assert Series.objects.count() == 1
    assert Instance.objects.count() == 2


@pytest.mark.django_db
def test_colliding_files_in_one_flush_get_the_outcomes_of_one_file_at_a_time(
    series_files: list[bytes],
) -> None:
    """Nothing stored yet: within one flush, the first file added makes the study and series
    and a later one of another patient (or naming the series under another study) is refused,
    whatever the order of their UIDs."""
    files = [
        series_files[0],
        _rewritten(series_files[1], PatientID="OTHER-9"),
        _rewritten(series_files[2], StudyInstanceUID="1.2.826.0.1.3680043.8.498.93"),
        series_files[3],
    ]
    expected = ["stored", "rejected", "rejected", "stored"]
    reasons = ["the study belongs to another patient", "the series belongs to another study"]

    outcomes = _ingest(files)
    assert _statuses(outcomes) == expected
    assert [outcome.reason for outcome in outcomes[1:3]] == reasons
    assert (Patient.objects.count(), Study.objects.count(), Series.objects.count()) == (2, 1, 1)
    study = Study.objects.get()
    assert study.patient.identity.original_patient_id == "BATCH-1"
    assert Instance.objects.count() == 2

    # The intruders first: they now make the study, and BATCH-1's own files are the refused ones.
    Instance.objects.all().delete()
    Series.objects.all().delete()
    Study.objects.all().delete()
    reversed_outcomes = _ingest([files[1], files[0], files[3]])
    assert _statuses(reversed_outcomes) == ["stored", "rejected", "rejected"]


@pytest.mark.django_db
@pytest.mark.parametrize("flush_every", [50, 1])
def test_a_copy_after_a_refused_first_file_of_its_instance_gets_its_own_outcome(
    series_files: list[bytes], flush_every: int
) -> None:
    """One file at a time, a good file after a refused one of the same SOP instance is stored;
    a batch must not hand it the first one's refusal."""
    assert _statuses(_ingest(series_files[:1])) == ["stored"]
    case = case_create(actor=None, label="C", region=Region.CERVICAL, studies=Study.objects.all())
    wrong_patient = _rewritten(series_files[1], PatientID="OTHER-9")  # same SOP instance UID

    outcomes = _ingest(
        [wrong_patient, series_files[1], series_files[1], wrong_patient],
        case=case,
        flush_every=flush_every,
    )

    assert _statuses(outcomes) == ["rejected", "stored", "duplicate", "duplicate"]
    assert outcomes[0].reason == "the file's patient is not the case's"
    assert Instance.objects.filter(series__study__case=case).count() == 2


def _odd_sized(data: bytes, syntax: str | None = None) -> pydicom.Dataset:
    """A 3 x 3 8-bit image in three frames: 27 bytes of pixel data, an odd length."""
    ds = pydicom.dcmread(io.BytesIO(data))
    if syntax:
        ds.file_meta.TransferSyntaxUID = syntax
    ds.Rows = ds.Columns = 3
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.NumberOfFrames = 3
    ds.PixelData = bytes(range(1, 28))
    ds["PixelData"].VR = "OB"
    return ds


@pytest.mark.parametrize("syntax", [None, ImplicitVRLittleEndian])
def test_odd_length_pixel_data_as_uploaded_gets_the_offset_of_the_padded_file(
    series_files: list[bytes], syntax: str | None
) -> None:
    """The upload holds 27 bytes without the padding byte; the written file pads to 28."""
    ds = _odd_sized(series_files[0], syntax)
    parsed = replace(parse_instance(serialize_instance(ds)), dataset=ds)  # as uploaded: odd
    assert len(parsed.dataset.PixelData) == 27
    payload = serialize_instance(ds)

    offset = written_pixel_data_offset(payload, parsed)
    assert offset is not None
    assert offset == pixel_data_offset(payload)
    offsets, lengths = frame_index(payload, parsed)
    assert lengths == [9, 9, 9]
    assert [payload[o : o + n] for o, n in zip(offsets, lengths, strict=True)] == [
        bytes(range(1, 10)),
        bytes(range(10, 19)),
        bytes(range(19, 28)),
    ]


def test_odd_length_encapsulated_pixel_data_falls_back_to_parsing(
    series_files: list[bytes],
) -> None:
    """An undefined-length value of odd length is padded before its sequence delimiter by the
    writer: the offset from the tail would be one byte off, so it is not trusted."""
    ds = pydicom.dcmread(io.BytesIO(series_files[0]))
    ds.compress(RLELossless)
    parsed = parse_instance(serialize_instance(ds))
    odd = ds.PixelData[:-1]  # the last fragment's padding byte missing, as a sloppy writer does
    ds.PixelData = odd
    ds["PixelData"].is_undefined_length = True
    parsed = replace(parsed, dataset=ds)
    payload = serialize_instance(ds)

    assert written_pixel_data_offset(payload, parsed) is None
    start = pixel_data_offset(payload)
    assert start is not None and payload[start : start + len(odd)] == odd
    offsets, spans = frame_index(payload, parsed)
    assert offsets == [spans[0][0][0]] and offsets[0] > start


@pytest.mark.django_db
def test_frames_of_odd_length_native_pixel_data_are_served_from_the_stored_file(
    series_files: list[bytes],
) -> None:
    outcome = instance_ingest(data=serialize_instance(_odd_sized(series_files[0])))

    assert outcome.status == "stored", outcome.reason
    instance = Instance.objects.get()
    with open_stored(instance.storage_key) as stored:
        payload = stored.read()
    assert [
        payload[o : o + n]
        for o, n in zip(instance.frame_offsets, instance.frame_lengths, strict=True)
    ] == [bytes(range(1, 10)), bytes(range(10, 19)), bytes(range(19, 28))]
