"""Business operations on cases and their images.

Every door (browser upload, STOW-RS, ``manage.py import_dicom``) calls ``instance_ingest``:
validate, quarantine what may carry burned-in identity, de-identify (PS3.15 Annex E), store
content-addressed, index. Nothing already stored changes when a file is rejected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from pydicom.dataset import Dataset

from accounts.models import User
from accounts.services import audit_event_record
from cases import deidentify, dicom_json
from cases.dicom_io import (
    DicomRejected,
    ParsedInstance,
    frame_index,
    parse_instance,
    serialize_instance,
)
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
from cases.storage import delete_stored, store_bytes


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
    # What the sender called the instance (before de-identification), when it could be read:
    # STOW-RS reports failures and successes against the sender's own UIDs.
    sop_class_uid: str = ""
    original_sop_instance_uid: str = ""
    original_study_instance_uid: str = ""

    @property
    def accepted(self) -> bool:
        return self.status in ("stored", "duplicate")


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
    required_study_uid: str | None = None,
) -> IngestOutcome:
    """Validate, de-identify, store and index one DICOM file.

    Args:
        data: The file as uploaded.
        actor: Who uploaded it (``None`` for commands and the demo).
        case: Attach the file's study to this case (its patient must match); otherwise the
            study waits for a coordinator to make a case of it.
        role: The role of a series this file creates (CT, MRI-T2, ...).
        required_study_uid: Refuse the file unless it belongs to this study (given as the
            sender's UID or the platform's de-identified one), as STOW-RS to a study URL asks.

    Idempotent: the same instance again is a ``duplicate`` and nothing changes.
    """
    try:
        parsed = parse_instance(data)
    except DicomRejected as exc:
        return IngestOutcome(
            "rejected",
            reason=str(exc),
            sop_class_uid=exc.sop_class_uid,
            original_sop_instance_uid=exc.sop_instance_uid,
        )
    ds = parsed.dataset
    sent = {
        "sop_class_uid": str(ds.SOPClassUID),
        "original_sop_instance_uid": str(ds.SOPInstanceUID),
        "original_study_instance_uid": str(ds.StudyInstanceUID),
    }
    if required_study_uid and required_study_uid not in (
        sent["original_study_instance_uid"],
        deidentify.remap_uid(sent["original_study_instance_uid"], secret=_deid_secret()),
    ):
        return IngestOutcome(
            "rejected", reason="the instance belongs to another study than the request's", **sent
        )
    try:
        outcome = _ingest_parsed(parsed, data=data, actor=actor, case=case, role=role)
    except DicomRejected as exc:
        outcome = IngestOutcome("rejected", reason=str(exc))
    except Exception as exc:
        # A value pydicom reads lazily may be malformed in a way validation did not touch
        # (untrusted bytes: any exception type); the file is refused, and the transaction
        # around the index writes has rolled back.
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        outcome = IngestOutcome("rejected", reason=f"malformed attribute value: {first_line}")
    return replace(outcome, **sent)


def _ingest_parsed(
    parsed: ParsedInstance,
    *,
    data: bytes,
    actor: User | None,
    case: Case | None,
    role: SeriesRole | None,
) -> IngestOutcome:
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
    frame_offsets, frame_lengths = frame_index(payload, parsed)
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
            _instance_row_create(
                series=series,
                parsed=parsed,
                key=key,
                size_bytes=len(payload),
                frames=(frame_offsets, frame_lengths),
                attributes=attributes,
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


_CASE_FIELDS = ("label", "region", "levels", "clinical_notes")


@transaction.atomic
def case_update(*, actor: User, case: Case, changes: dict[str, str]) -> Case:
    """Change a case's label or clinical metadata, audited with before and after values."""
    unknown = set(changes) - set(_CASE_FIELDS)
    if unknown:
        raise CaseError(f"these fields cannot be changed: {', '.join(sorted(unknown))}")
    case = Case.objects.select_for_update().get(pk=case.pk)
    label = changes.get("label")
    if label is not None and Case.objects.filter(label=label).exclude(pk=case.pk).exists():
        raise CaseError(f"a case labelled {label!r} exists")
    before = {field: getattr(case, field) for field in changes}
    for field, value in changes.items():
        setattr(case, field, value)
    case.save(update_fields=list(changes))
    audit_event_record(actor=actor, verb="case.update", obj=case, before=before, after=changes)
    return case


def case_delete(*, actor: User, case: Case) -> None:
    """Delete a case with its studies and images, audited; refused while a reader study uses it.

    The pseudonym map stays: the same patient uploaded again gets the same pseudonym. Stored
    files are removed once the deletion has committed.
    """
    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case.pk)
        studies = list(case.studies.all())
        keys = list(
            Instance.objects.filter(series__study__in=studies).values_list("storage_key", flat=True)
        )
        snapshot = {
            "label": case.label,
            "region": case.region,
            "patient": case.patient.pseudonym,
            "studies": sorted(study.study_instance_uid for study in studies),
            "instances": len(keys),
        }
        try:
            Study.objects.filter(pk__in=[study.pk for study in studies]).delete()
            audit_event_record(actor=actor, verb="case.delete", obj=case, before=snapshot)
            case.delete()
        except ProtectedError as exc:
            raise CaseError("the case is used by a reader study and cannot be deleted") from exc
    transaction.on_commit(lambda: delete_stored(keys))


@transaction.atomic
def series_role_assign(*, actor: User, series: Series, role: SeriesRole) -> Series:
    """Set what a series is (CT, MRI-T2, pseudo-MRI, ...), audited."""
    series = Series.objects.select_for_update().get(pk=series.pk)
    if role not in SeriesRole.values:
        raise CaseError(f"unknown series role {role!r}")
    before = {"role": series.role}
    series.role = role
    series.save(update_fields=["role"])
    audit_event_record(
        actor=actor, verb="series.role", obj=series, before=before, after={"role": role}
    )
    return series


def _instance_row_create(
    *,
    series: Series,
    parsed: ParsedInstance,
    key: str,
    size_bytes: int,
    frames: tuple[list[int], list[Any]],
    attributes: dict[str, Any],
) -> Instance:
    """Index one stored instance: frame offsets for serving frames, attributes as DICOM JSON."""
    ds = parsed.dataset
    frame_offsets, frame_lengths = frames
    return Instance.objects.create(
        series=series,
        sop_instance_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        instance_number=_optional_int(ds.get("InstanceNumber")),
        transfer_syntax_uid=parsed.transfer_syntax_uid,
        storage_key=key,
        size_bytes=size_bytes,
        rows=parsed.rows,
        columns=parsed.columns,
        number_of_frames=parsed.number_of_frames,
        frame_offsets=frame_offsets,
        frame_lengths=frame_lengths,
        attributes=dicom_json.select(attributes, dicom_json.INSTANCE_TAGS),
        metadata_json=dicom_json.dumps(attributes),
    )


def derived_instance_store(
    *,
    dataset: Dataset,
    case: Case,
    source_series: Series,
    role: SeriesRole,
    provenance: dict[str, Any],
) -> IngestOutcome:
    """Store and index one instance the platform made from a series of ``case``.

    Pseudo-MRI slices, NC-CTM masks and SEGs are made from already de-identified sources, so
    they are not de-identified again: remapping their UIDs would break the FrameOfReferenceUID
    they share with their source and the references a SEG holds to its source images. They
    still pass the same validation as uploads (serialized, then parsed by ``cases.dicom_io``).

    Args:
        dataset: The derived instance, in the source's study, with its own series UID.
        case: The case of the source series.
        source_series: The series it was made from.
        role: The role of the derived series (pseudo-MRI, NC-CTM mask...).
        provenance: What made it (model version, job, source series UID), kept on the series.

    Returns:
        ``stored``, or ``duplicate`` when the SOP instance is already stored (a re-run job
        with deterministic UIDs adds nothing).

    Raises:
        CaseError: If the dataset is invalid or does not belong to the source's study.
    """
    study = source_series.study
    if study.case_id != case.pk:
        raise CaseError("the source series does not belong to the case")
    payload = serialize_instance(dataset)
    try:
        parsed = parse_instance(payload)
    except DicomRejected as exc:
        raise CaseError(f"the derived instance is not acceptable DICOM: {exc}") from exc
    ds = parsed.dataset
    study_uid, series_uid, sop_uid = (
        str(ds.StudyInstanceUID),
        str(ds.SeriesInstanceUID),
        str(ds.SOPInstanceUID),
    )
    if study_uid != study.study_instance_uid:
        raise CaseError("a derived instance must belong to the study of its source series")
    if str(ds.get("PatientID", "")) != study.dicom_patient_id:
        raise CaseError("a derived instance must carry the (pseudonymous) patient of its source")
    if series_uid == source_series.series_instance_uid:
        raise CaseError("a derived instance needs a series of its own")
    existing = Instance.objects.filter(sop_instance_uid=sop_uid).select_related("series").first()
    if existing is not None:
        if existing.series.series_instance_uid != series_uid:
            raise CaseError(f"SOP instance {sop_uid} is already stored in another series")
        return IngestOutcome("duplicate", study_uid, series_uid, sop_uid)

    frames = frame_index(payload, parsed)
    _, key = store_bytes(payload)
    attributes = dicom_json.instance_json(ds)
    try:
        with transaction.atomic():
            series, created = Series.objects.get_or_create(
                series_instance_uid=series_uid,
                defaults={
                    "study": study,
                    "modality": str(ds.Modality),
                    "role": role,
                    "description": str(ds.get("SeriesDescription", ""))[:200],
                    "series_number": _optional_int(ds.get("SeriesNumber")),
                    "frame_of_reference_uid": str(ds.get("FrameOfReferenceUID", "")),
                    "attributes": dicom_json.select(attributes, dicom_json.SERIES_TAGS),
                    "source_series": source_series,
                    "provenance": provenance,
                },
            )
            if not created and (
                series.study_id != study.pk or series.source_series_id != source_series.pk
            ):
                raise CaseError(f"series {series_uid} exists and was not derived from the source")
            _instance_row_create(
                series=series,
                parsed=parsed,
                key=key,
                size_bytes=len(payload),
                frames=frames,
                attributes=attributes,
            )
    except IntegrityError:
        # The same job stored this instance concurrently (a redelivered task): same outcome.
        return IngestOutcome("duplicate", study_uid, series_uid, sop_uid)
    return IngestOutcome("stored", study_uid, series_uid, sop_uid)
