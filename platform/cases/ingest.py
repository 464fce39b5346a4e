"""Ingest: every way images enter the platform.

Every door (browser upload, STOW-RS, ``manage.py import_dicom``) ingests through an
``IngestBatch`` (``instance_ingest`` is a batch of one): validate, quarantine what may carry
burned-in identity, de-identify (PS3.15 Annex E), store content-addressed, index. Nothing
already stored changes when a file is rejected. Model outputs enter through
``derived_instance_store`` (already de-identified, linked to their source series).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.utils.translation import gettext, gettext_noop
from pydicom.dataset import Dataset

from accounts.models import User
from cases import deidentify, dicom_json
from cases.dicom_io import (
    MALFORMED_VALUE,
    DicomRejected,
    ParsedInstance,
    frame_index,
    parse_instance,
    serialize_instance,
)
from cases.errors import CaseError
from cases.models import (
    Case,
    Instance,
    Patient,
    PseudonymMapEntry,
    QuarantinedFile,
    Series,
    SeriesRole,
    Study,
)
from cases.storage import store_bytes


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
    # ``reason`` is English; when it was made from a template (``DicomRejected``), the template
    # and its values, so that ``display_reason`` can show it in the user's language.
    reason_template: str = ""
    reason_params: tuple[tuple[str, str], ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status in ("stored", "duplicate")

    @property
    def display_reason(self) -> str:
        """``reason`` in the active language (its English text where no translation fits)."""
        if not self.reason:
            return ""
        if not self.reason_template:
            return gettext(self.reason)
        try:
            return gettext(self.reason_template) % dict(self.reason_params)
        except (KeyError, TypeError, ValueError):
            return self.reason


def rejected(exc: DicomRejected, **identifiers: str) -> IngestOutcome:
    """The outcome of a file ``parse_instance`` (or a later check) refused."""
    return IngestOutcome(
        "rejected",
        reason=str(exc),
        reason_template=exc.template if exc.params else "",
        reason_params=tuple((key, str(value)) for key, value in exc.params.items()),
        **identifiers,
    )


def _malformed(exc: Exception) -> IngestOutcome:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return rejected(DicomRejected(MALFORMED_VALUE, params={"error": first_line}))


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

    Idempotent: the same instance again is a ``duplicate`` and nothing changes. Doors that
    receive many files at once use ``IngestBatch``, which does the same per file with fewer
    database round trips.
    """
    with IngestBatch(
        actor=actor, case=case, role=role, required_study_uid=required_study_uid
    ) as batch:
        batch.add(data)
    return batch.outcomes[0]


@dataclass
class _Pending:
    """A file processed and stored, whose instance row waits for the batch's next flush."""

    index: int
    row: Instance  # unsaved; ``series`` is set at the flush
    study_defaults: dict[str, Any]
    series_defaults: dict[str, Any]

    @property
    def uids(self) -> tuple[str, str, str]:
        return (
            self.study_defaults["study_instance_uid"],
            self.series_defaults["series_instance_uid"],
            self.row.sop_instance_uid,
        )


class _Refused(Exception):
    """Raised inside an indexing transaction to roll it back and give the file ``outcome``."""

    def __init__(self, outcome: IngestOutcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


@dataclass
class _Deferred:
    """A file refused after its SOP instance is known: a ``duplicate`` if that is stored."""

    index: int
    sop_uid: str
    outcome: IngestOutcome


class IngestBatch:
    """Ingest the files of one request (a STOW-RS body, an upload, an import) together.

    Each file gets exactly the outcome ``instance_ingest`` would give it, in the order added,
    but the batch remembers the patients it has seen (pseudonym, date shift, map entry) and
    indexes its instances at flushes: one duplicate check, one transaction with the study and
    series looked up (or created) once each and the instance rows inserted together. When that
    transaction fails (a concurrent upload of the same instances, a value the database
    refuses), it rolls back and each file of the flush is indexed alone in its own transaction,
    as ``instance_ingest`` did, so one file never changes another's outcome.

    Use as a context manager (leaving it flushes) and read ``outcomes`` afterwards::

        with IngestBatch(actor=user) as batch:
            for data in files:
                batch.add(data)
        report = batch.outcomes

    Args:
        actor, case, role, required_study_uid: As for ``instance_ingest``, for every file.
        flush_every: Index pending instances once this many wait (bounds memory and the time
            a large upload holds nothing indexed).
    """

    def __init__(
        self,
        *,
        actor: User | None = None,
        case: Case | None = None,
        role: SeriesRole | None = None,
        required_study_uid: str | None = None,
        flush_every: int = 50,
    ) -> None:
        self.actor, self.case, self.role = actor, case, role
        self.required_study_uid = required_study_uid
        self.flush_every = flush_every
        self._secret = _deid_secret()
        self._outcomes: list[IngestOutcome | None] = []
        self._sent: list[dict[str, Any]] = []
        self._pending: list[_Pending] = []
        self._deferred: list[_Deferred] = []
        self._copies: list[tuple[int, int]] = []  # (index, index of the first file of its SOP)
        self._first_of_sop: dict[str, int] = {}
        self._patients: dict[tuple[str, str], tuple[Patient, int]] = {}

    def __enter__(self) -> IngestBatch:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.flush()

    @property
    def outcomes(self) -> list[IngestOutcome]:
        """One outcome per ``add``/``add_outcome``, in order (flushes what is pending)."""
        self.flush()
        settled = [outcome for outcome in self._outcomes if outcome is not None]
        assert len(settled) == len(self._outcomes), "a flush settles every outcome"
        return settled

    def add_outcome(self, outcome: IngestOutcome) -> int:
        """Record a file the caller refused itself, to keep the report in order."""
        self._outcomes.append(outcome)
        self._sent.append({})
        return len(self._outcomes) - 1

    def add(self, data: bytes) -> int:
        """Ingest one file; its outcome is known after the next flush. Returns its index."""
        self._outcomes.append(None)
        self._sent.append({})
        index = len(self._outcomes) - 1
        try:
            outcome = self._add(index, data)
        except Exception as exc:
            # A value pydicom reads lazily may be malformed in a way validation did not touch
            # (untrusted bytes: any exception type); the file is refused, nothing was indexed.
            outcome = _malformed(exc)
        if outcome is not None:
            self._outcomes[index] = replace(outcome, **self._sent[index])
        if len(self._pending) >= self.flush_every:
            self.flush()
        return index

    def _add(self, index: int, data: bytes) -> IngestOutcome | None:
        try:
            parsed = parse_instance(data)
        except DicomRejected as exc:
            return rejected(
                exc,
                sop_class_uid=exc.sop_class_uid,
                original_sop_instance_uid=exc.sop_instance_uid,
            )
        ds = parsed.dataset
        sent = {
            "sop_class_uid": str(ds.SOPClassUID),
            "original_sop_instance_uid": str(ds.SOPInstanceUID),
            "original_study_instance_uid": str(ds.StudyInstanceUID),
        }
        self._sent[index] = sent
        secret = self._secret
        if self.required_study_uid and self.required_study_uid not in (
            sent["original_study_instance_uid"],
            deidentify.remap_uid(sent["original_study_instance_uid"], secret=secret),
        ):
            return IngestOutcome(
                "rejected",
                reason=gettext_noop("the instance belongs to another study than the request's"),
            )
        suspicion = deidentify.burned_in_annotation_suspected(ds)
        if suspicion:
            return _quarantine(data=data, reason=suspicion, actor=self.actor)
        patient_id, issuer = deidentify.patient_identity(ds)
        if not patient_id:
            return IngestOutcome(
                "rejected", reason=gettext_noop("PatientID is empty: cannot assign a pseudonym")
            )
        sop_uid = deidentify.remap_uid(sent["original_sop_instance_uid"], secret=secret)
        first = self._copy_of(sop_uid)
        if first is not None:
            # The same instance twice in one batch: whatever became of the first, once.
            self._copies.append((index, first))
            return None
        self._first_of_sop[sop_uid] = index
        try:
            self._prepare(index, parsed, sop_uid=sop_uid, patient=(patient_id, issuer))
            return None
        except Exception as exc:
            outcome = rejected(exc) if isinstance(exc, DicomRejected) else _malformed(exc)
            # As before batches, an instance already stored is a duplicate whatever this copy
            # holds: the check waits for the flush.
            self._deferred.append(_Deferred(index, sop_uid, outcome))
            return None

    def _copy_of(self, sop_uid: str) -> int | None:
        """The index of an earlier file of this SOP instance whose outcome a copy shares.

        ``None`` when there is none, or when that file was refused (one file at a time, a
        later copy is then ingested on its own, and may well be stored).
        """
        first = self._first_of_sop.get(sop_uid)
        if first is None:
            return None
        settled = self._outcomes[first]
        if settled is not None:  # flushed already
            return first if settled.accepted else None
        if any(item.index == first for item in self._deferred):  # refused unless stored
            return None
        return first  # waits for the next flush

    def _patient(self, patient_id: str, issuer: str) -> tuple[Patient, int]:
        key = (patient_id, issuer)
        if key not in self._patients:
            with transaction.atomic():
                self._patients[key] = _patient_for(
                    patient_id=patient_id, issuer=issuer, secret=self._secret
                )
        return self._patients[key]

    def _prepare(
        self, index: int, parsed: ParsedInstance, *, sop_uid: str, patient: tuple[str, str]
    ) -> None:
        """De-identify, store the bytes and make the instance row that waits for the flush."""
        ds = parsed.dataset
        person, offset = self._patient(*patient)
        deidentify.deidentify(
            ds, secret=self._secret, pseudonym=person.pseudonym, date_offset_days=offset
        )
        study_uid, series_uid = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)
        case = self.case
        if case is not None and case.patient_id != person.pk:
            reason = "the file's patient is not the case's"
            outcome = IngestOutcome("rejected", study_uid, series_uid, sop_uid, reason)
            self._deferred.append(_Deferred(index, sop_uid, outcome))
            return
        payload = serialize_instance(ds)
        frame_offsets, frame_lengths = frame_index(payload, parsed)
        _, key = store_bytes(payload)
        attributes = dicom_json.instance_json(ds)
        study_defaults = {
            "study_instance_uid": study_uid,
            "patient": person,
            "case": case,
            "study_date": _parse_date(str(ds.get("StudyDate", ""))),
            "description": str(ds.get("StudyDescription", ""))[:200],
            "dicom_patient_name": str(ds.get("PatientName", ""))[:200],
            "dicom_patient_id": str(ds.get("PatientID", ""))[:64],
            "accession_number": str(ds.get("AccessionNumber", ""))[:64],
            "attributes": dicom_json.study_level(attributes),
        }
        series_defaults = {
            "series_instance_uid": series_uid,
            "modality": str(ds.Modality),
            "role": self.role or SeriesRole.OTHER,
            "description": str(ds.get("SeriesDescription", ""))[:200],
            "series_number": _optional_int(ds.get("SeriesNumber")),
            "frame_of_reference_uid": str(ds.get("FrameOfReferenceUID", "")),
            "attributes": dicom_json.select(attributes, dicom_json.SERIES_TAGS),
        }
        row = _instance_row(
            parsed=parsed,
            key=key,
            size_bytes=len(payload),
            frames=(frame_offsets, frame_lengths),
            attributes=attributes,
        )
        self._pending.append(_Pending(index, row, study_defaults, series_defaults))

    # --- flush -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Index the pending instances and settle every outcome known so far."""
        pending, deferred = self._pending, self._deferred
        self._pending, self._deferred = [], []
        sops = [p.row.sop_instance_uid for p in pending] + [d.sop_uid for d in deferred]
        existing: dict[str, tuple[str, str]] = {}
        if sops:
            existing = {
                sop: (study, series)
                for sop, series, study in Instance.objects.filter(
                    sop_instance_uid__in=sops
                ).values_list(
                    "sop_instance_uid",
                    "series__series_instance_uid",
                    "series__study__study_instance_uid",
                )
            }
        for item in deferred:
            found = existing.get(item.sop_uid)
            self._settle(
                item.index,
                IngestOutcome("duplicate", *found, item.sop_uid) if found else item.outcome,
            )
        fresh = []
        for p in pending:
            found = existing.get(p.row.sop_instance_uid)
            if found:
                self._settle(p.index, IngestOutcome("duplicate", *found, p.row.sop_instance_uid))
            else:
                fresh.append(p)
        if fresh:
            try:
                outcomes = self._index_together(fresh)
            except Exception:
                outcomes = [self._index_alone(p) for p in fresh]
            for p, outcome in zip(fresh, outcomes, strict=True):
                self._settle(p.index, outcome)
        for index, first in self._copies:  # every first file is settled by now
            settled = self._outcomes[first]
            assert settled is not None
            if settled.accepted:
                settled = IngestOutcome("duplicate", *_uids(settled))
            self._settle(index, settled)
        self._copies = []

    def _settle(self, index: int, outcome: IngestOutcome) -> None:
        self._outcomes[index] = replace(outcome, **self._sent[index])

    def _study(self, p: _Pending) -> Study | IngestOutcome:
        """The study of ``p`` (created with its attributes if new), attached to the case."""
        defaults = dict(p.study_defaults)
        study, _ = Study.objects.get_or_create(
            study_instance_uid=defaults.pop("study_instance_uid"), defaults=defaults
        )
        _same_patient(p, study)
        case = self.case
        if case is not None and study.case_id not in (None, case.pk):
            return IngestOutcome("rejected", *p.uids, "the study belongs to another case")
        if case is not None and study.case_id is None:
            study.case = case
            study.save(update_fields=["case"])
        return study

    def _series(self, p: _Pending, study: Study) -> Series:
        defaults = dict(p.series_defaults, study=study)
        series, _ = Series.objects.get_or_create(
            series_instance_uid=defaults.pop("series_instance_uid"), defaults=defaults
        )
        return _in_study(p, series, study)

    def _index_together(self, fresh: list[_Pending]) -> list[IngestOutcome]:
        """One transaction: each study and series once, then every instance row in one insert.

        Studies, series and rows are taken in UID order, so two batches of the same series
        lock the same rows in the same order. Raises on any database error, and ``_Refused``
        when a file names the study of another patient or the series of another study (rolled
        back: the caller indexes each file alone, in the order added, as one at a time would).
        """
        outcomes: dict[int, IngestOutcome] = {}
        rows: list[_Pending] = []
        with transaction.atomic():
            studies: dict[str, Study | IngestOutcome] = {}
            series: dict[str, Series] = {}
            for p in sorted(fresh, key=lambda p: p.uids):
                study_uid, series_uid, _ = p.uids
                if study_uid not in studies:
                    studies[study_uid] = self._study(p)
                study = studies[study_uid]
                if isinstance(study, IngestOutcome):
                    outcomes[p.index] = IngestOutcome("rejected", *p.uids, study.reason)
                    continue
                _same_patient(p, study)  # each file: those of one flush may disagree
                if series_uid not in series:
                    series[series_uid] = self._series(p, study)
                p.row.series = _in_study(p, series[series_uid], study)
                rows.append(p)
            rows.sort(key=lambda p: p.row.sop_instance_uid)
            _instances_insert([p.row for p in rows])
        for p in rows:
            outcomes[p.index] = IngestOutcome("stored", *p.uids)
        return [outcomes[p.index] for p in fresh]

    def _index_alone(self, p: _Pending) -> IngestOutcome:
        """Index one instance in its own transaction (the path of one file at a time)."""
        try:
            with transaction.atomic():
                study = self._study(p)
                if isinstance(study, IngestOutcome):
                    return study
                p.row.series = self._series(p, study)
                p.row.save(force_insert=True)
        except _Refused as refused:
            return refused.outcome
        except IntegrityError:
            # Another worker stored the same instance concurrently: the same outcome as a repeat.
            return IngestOutcome("duplicate", *p.uids)
        except Exception as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            return IngestOutcome("rejected", *p.uids, f"malformed attribute value: {first_line}")
        return IngestOutcome("stored", *p.uids)


def _same_patient(p: _Pending, study: Study) -> None:
    """Refuse a file whose patient is not its study's (sender UIDs that collide)."""
    if study.patient_id != p.study_defaults["patient"].pk:
        # Raised: one patient's image never joins another's study, nor through it their case.
        raise _Refused(IngestOutcome("rejected", *p.uids, "the study belongs to another patient"))


def _in_study(p: _Pending, series: Series, study: Study) -> Series:
    """``series`` if it belongs to ``study``; otherwise the file is refused."""
    if series.study_id != study.pk:
        # Raised: the transaction also rolls back a study made for this file.
        raise _Refused(IngestOutcome("rejected", *p.uids, "the series belongs to another study"))
    return series


def _instances_insert(rows: list[Instance]) -> None:
    """Insert instance rows with one multi-row ``INSERT ... VALUES``.

    Django 5.2 bulk-inserts on PostgreSQL through ``UNNEST`` of one array per column, and
    psycopg writes a ``text[]`` parameter by escaping each quote of each element in Python: for
    the metadata JSON (a thousand quotes an instance) that cost more than the insert itself.
    A value given as an expression makes Django write plain ``VALUES`` rows instead, whose
    strings psycopg quotes in C.
    """
    texts = [row.metadata_json for row in rows]
    try:
        for row, text in zip(rows, texts, strict=True):
            row.metadata_json = Value(text)
        Instance.objects.bulk_create(rows)
    finally:
        for row, text in zip(rows, texts, strict=True):
            row.metadata_json = text


def _uids(outcome: IngestOutcome) -> tuple[str, str, str]:
    return outcome.study_instance_uid, outcome.series_instance_uid, outcome.sop_instance_uid


def _instance_row(
    *,
    parsed: ParsedInstance,
    key: str,
    size_bytes: int,
    frames: tuple[list[int], list[Any]],
    attributes: dict[str, Any],
    series: Series | None = None,
) -> Instance:
    """The (unsaved) index row of one stored instance: frame offsets, attributes as DICOM JSON."""
    ds = parsed.dataset
    frame_offsets, frame_lengths = frames
    return Instance(
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


def _instance_row_create(
    *,
    series: Series,
    parsed: ParsedInstance,
    key: str,
    size_bytes: int,
    frames: tuple[list[int], list[Any]],
    attributes: dict[str, Any],
) -> Instance:
    row = _instance_row(
        series=series,
        parsed=parsed,
        key=key,
        size_bytes=size_bytes,
        frames=frames,
        attributes=attributes,
    )
    row.save(force_insert=True)
    return row


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
