"""Business operations on cases and their images.

Every door (browser upload, STOW-RS, ``manage.py import_dicom``) calls ``instance_ingest``:
validate, quarantine what may carry burned-in identity, de-identify (PS3.15 Annex E), store
content-addressed, index. Nothing already stored changes when a file is rejected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.services import audit_event_record
from cases import deidentify, dicom_json
from cases.dicom_io import DicomRejected, parse_instance, pixel_data_offset, serialize_instance
from cases.models import (
    Case,
    Instance,
    Patient,
    PseudonymMapEntry,
    QuarantinedFile,
    Region,
    Series,
    SeriesRole,
    Study,
)
from cases.storage import store_bytes


class CaseError(ValueError):
    """A case operation that cannot be done; the message is shown to the user."""


@dataclass(frozen=True)
class IngestOutcome:
    """What happened to one file: ``stored``, ``duplicate``, ``quarantined`` or ``rejected``.

    UIDs are the platform's (de-identified) ones; ``reason`` explains a rejection or quarantine.
    """

    status: str
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    sop_instance_uid: str = ""
    reason: str = ""


def _deid_secret() -> bytes:
    return settings.DEIDENTIFICATION_SECRET.encode()


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


def _quarantine(*, data: bytes, reason: str, actor: User | None) -> IngestOutcome:
    _, key = store_bytes(data, prefix="quarantine")
    QuarantinedFile.objects.create(
        uploaded_by=actor, reason=reason[:300], storage_key=key, size_bytes=len(data)
    )
    return IngestOutcome("quarantined", reason=reason)


def _patient_for(*, patient_id: str, issuer: str, secret: bytes) -> tuple[Patient, int]:
    pseudonym = deidentify.patient_pseudonym(patient_id, issuer, secret=secret)
    offset = deidentify.date_offset_for_patient(patient_id, issuer=issuer, secret=secret)
    patient, created = Patient.objects.get_or_create(pseudonym=pseudonym)
    if created:
        PseudonymMapEntry.objects.create(
            patient=patient,
            original_patient_id=patient_id,
            issuer_of_patient_id=issuer,
            date_offset_days=offset,
        )
    return patient, offset


def instance_ingest(
    *,
    data: bytes,
    actor: User | None = None,
    case: Case | None = None,
    role: SeriesRole | None = None,
) -> IngestOutcome:
    """Validate, de-identify, store and index one DICOM file.

    Args:
        data: The file as uploaded.
        actor: Who uploaded it (``None`` for commands and the demo).
        case: Attach the file's study to this case (its patient must match); otherwise the
            study waits for a coordinator to make a case of it.
        role: The role of a series this file creates (CT, MRI-T2, ...).

    Idempotent: the same instance again is a ``duplicate`` and nothing changes.
    """
    try:
        parsed = parse_instance(data)
    except DicomRejected as exc:
        return IngestOutcome("rejected", reason=str(exc))
    ds = parsed.dataset
    suspicion = deidentify.burned_in_annotation_suspected(ds)
    if suspicion:
        return _quarantine(data=data, reason=suspicion, actor=actor)

    secret = _deid_secret()
    patient_id, issuer = deidentify.patient_identity(ds)
    if not patient_id:
        return IngestOutcome("rejected", reason="PatientID is empty: cannot assign a pseudonym")
    sop_uid = deidentify.remap_uid(str(ds.SOPInstanceUID), secret=secret)
    existing = (
        Instance.objects.filter(sop_instance_uid=sop_uid).select_related("series__study").first()
    )
    if existing is not None:
        series = existing.series
        return IngestOutcome(
            "duplicate", series.study.study_instance_uid, series.series_instance_uid, sop_uid
        )

    with transaction.atomic():
        patient, offset = _patient_for(patient_id=patient_id, issuer=issuer, secret=secret)
    deidentify.deidentify(ds, secret=secret, pseudonym=patient.pseudonym, date_offset_days=offset)
    study_uid, series_uid = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)
    if case is not None and case.patient_id != patient.pk:
        return IngestOutcome(
            "rejected", study_uid, series_uid, sop_uid, "the file's patient is not the case's"
        )

    payload = serialize_instance(ds)
    offset_in_file = pixel_data_offset(payload) if parsed.frame_length else None
    _, key = store_bytes(payload)
    attributes = dicom_json.instance_json(ds)
    try:
        with transaction.atomic():
            study, _ = Study.objects.get_or_create(
                study_instance_uid=study_uid,
                defaults={
                    "patient": patient,
                    "case": case,
                    "study_date": _parse_date(str(ds.get("StudyDate", ""))),
                    "description": str(ds.get("StudyDescription", ""))[:200],
                    "dicom_patient_name": str(ds.get("PatientName", ""))[:200],
                    "dicom_patient_id": str(ds.get("PatientID", ""))[:64],
                    "accession_number": str(ds.get("AccessionNumber", ""))[:64],
                    "attributes": dicom_json.study_level(attributes),
                },
            )
            if case is not None and study.case_id not in (None, case.pk):
                return IngestOutcome(
                    "rejected", study_uid, series_uid, sop_uid, "the study belongs to another case"
                )
            if case is not None and study.case_id is None:
                study.case = case
                study.save(update_fields=["case"])
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
            indexed = offset_in_file is not None
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
                frame_offsets=[offset_in_file + i * parsed.frame_length for i in range(frames)]
                if offset_in_file is not None
                else [],
                frame_lengths=[parsed.frame_length] * frames if indexed else [],
                attributes=dicom_json.select(attributes, dicom_json.INSTANCE_TAGS),
                metadata_json=dicom_json.dumps(attributes),
            )
    except IntegrityError:
        # Another worker stored the same instance concurrently: the same outcome as a repeat.
        return IngestOutcome("duplicate", study_uid, series_uid, sop_uid)
    return IngestOutcome("stored", study_uid, series_uid, sop_uid)


@transaction.atomic
def case_create(
    *,
    actor: User | None,
    label: str,
    region: Region,
    studies: Iterable[Study],
    levels: str = "",
    clinical_notes: str = "",
) -> Case:
    """Make a case of uploaded studies of one patient, audited."""
    chosen = list(Study.objects.select_for_update().filter(pk__in=[s.pk for s in studies]))
    if not chosen:
        raise CaseError("a case needs at least one study")
    patients = {study.patient_id for study in chosen}
    if len(patients) != 1:
        raise CaseError("the studies of a case must belong to one patient")
    if any(study.case_id is not None for study in chosen):
        raise CaseError("a study already belongs to a case")
    if Case.objects.filter(label=label).exists():
        raise CaseError(f"a case labelled {label!r} exists")
    case = Case.objects.create(
        label=label,
        patient_id=patients.pop(),
        region=region,
        levels=levels,
        clinical_notes=clinical_notes,
        created_by=actor,
    )
    Study.objects.filter(pk__in=[study.pk for study in chosen]).update(case=case)
    audit_event_record(
        actor=actor,
        verb="case.create",
        obj=case,
        after={
            "label": label,
            "region": region,
            "levels": levels,
            "studies": sorted(study.study_instance_uid for study in chosen),
        },
    )
    return case
