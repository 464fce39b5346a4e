"""Business operations on cases and their images."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.services import audit_event_record
from cases import dicom_json
from cases.dicom_io import DicomRejected, parse_instance, pixel_data_offset, serialize_instance
from cases.models import Case, Instance, Patient, Region, Series, SeriesRole, Study
from cases.storage import store_bytes


@dataclass(frozen=True)
class IngestOutcome:
    """What happened to one file: ``stored``, ``duplicate`` or ``rejected`` (with a reason)."""

    status: str
    sop_instance_uid: str = ""
    series_instance_uid: str = ""
    reason: str = ""


@transaction.atomic
def case_create(
    *,
    actor: User | None,
    label: str,
    patient_pseudonym: str,
    region: Region,
    levels: str = "",
    clinical_notes: str = "",
) -> Case:
    """Create a case (and its pseudonymous patient if new), audited."""
    patient, _ = Patient.objects.get_or_create(pseudonym=patient_pseudonym)
    case = Case.objects.create(
        label=label,
        patient=patient,
        region=region,
        levels=levels,
        clinical_notes=clinical_notes,
        created_by=actor,
    )
    audit_event_record(
        actor=actor,
        verb="case.create",
        obj=case,
        after={"label": label, "patient": patient_pseudonym, "region": region, "levels": levels},
    )
    return case


def _parse_date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value, "%Y%m%d").date()  # noqa: DTZ007 (a date, no time)
    except (TypeError, ValueError):
        return None


def _optional_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def instance_ingest(*, case: Case, data: bytes, role: SeriesRole | None = None) -> IngestOutcome:
    """Validate, store and index one DICOM file into ``case``.

    Idempotent: an instance already stored is reported as ``duplicate`` and nothing changes.
    A rejected file stores nothing and reports why.
    """
    try:
        parsed = parse_instance(data)
    except DicomRejected as exc:
        return IngestOutcome("rejected", reason=str(exc))
    ds = parsed.dataset
    sop_uid, series_uid = str(ds.SOPInstanceUID), str(ds.SeriesInstanceUID)
    if Instance.objects.filter(sop_instance_uid=sop_uid).exists():
        return IngestOutcome("duplicate", sop_uid, series_uid)

    payload = serialize_instance(ds)
    offset = pixel_data_offset(payload) if parsed.frame_length else None
    _, key = store_bytes(payload)
    attributes = dicom_json.instance_json(ds)
    try:
        with transaction.atomic():
            study, _ = Study.objects.get_or_create(
                study_instance_uid=str(ds.StudyInstanceUID),
                defaults={
                    "case": case,
                    "study_date": _parse_date(str(ds.get("StudyDate", ""))),
                    "description": str(ds.get("StudyDescription", ""))[:200],
                    "patient_name": str(ds.get("PatientName", ""))[:200],
                    "patient_id": str(ds.get("PatientID", ""))[:64],
                    "accession_number": str(ds.get("AccessionNumber", ""))[:64],
                    "attributes": dicom_json.study_level(attributes),
                },
            )
            if study.case_id != case.pk:
                return IngestOutcome(
                    "rejected", sop_uid, series_uid, "the study belongs to another case"
                )
            series, _ = Series.objects.get_or_create(
                series_instance_uid=series_uid,
                defaults={
                    "study": study,
                    "modality": str(ds.Modality),
                    "role": role or SeriesRole.OTHER,
                    "description": str(ds.get("SeriesDescription", ""))[:200],
                    "series_number": _optional_int(ds.get("SeriesNumber")),
                    "frame_of_reference_uid": str(ds.get("FrameOfReferenceUID", "")),
                    "attributes": dicom_json.select(attributes, dicom_json.SERIES_TAGS),
                },
            )
            frames = parsed.number_of_frames
            Instance.objects.create(
                series=series,
                sop_instance_uid=sop_uid,
                sop_class_uid=str(ds.SOPClassUID),
                instance_number=_optional_int(ds.get("InstanceNumber")),
                transfer_syntax_uid=parsed.transfer_syntax_uid,
                storage_key=key,
                size_bytes=len(payload),
                rows=parsed.rows,
                columns=parsed.columns,
                number_of_frames=frames,
                frame_offsets=[offset + i * parsed.frame_length for i in range(frames)]
                if offset is not None
                else [],
                frame_lengths=[parsed.frame_length] * frames if offset is not None else [],
                attributes=dicom_json.select(attributes, dicom_json.INSTANCE_TAGS),
                metadata_json=dicom_json.dumps(attributes),
            )
    except IntegrityError:
        # Another worker stored the same instance concurrently: same outcome as a repeat.
        return IngestOutcome("duplicate", sop_uid, series_uid)
    return IngestOutcome("stored", sop_uid, series_uid)
