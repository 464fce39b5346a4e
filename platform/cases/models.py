"""Patients (pseudonymous), cases, and the DICOM studies, series and instances that make them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Region(models.TextChoices):
    CERVICAL = "cervical", _("Cervical spine")
    THORACIC = "thoracic", _("Thoracic spine")
    LUMBAR = "lumbar", _("Lumbar spine")


class SeriesRole(models.TextChoices):
    """What a series is for in a study; hanging protocols bind viewports to roles."""

    CT = "CT", _("CT")
    DECT_MIXED = "DECT-mixed", _("Dual-energy CT (mixed)")
    MRI_T2 = "MRI-T2", _("MRI T2-weighted")
    MRI_STIR = "MRI-STIR", _("MRI STIR")
    MRM = "MRM", _("MR myelography")
    PSEUDO_MRI = "pseudo-MRI", _("Pseudo-MRI (synthetic)")
    NCCTM_MASK = "NC-CTM-mask", _("NC-CTM dural canal mask")
    OTHER = "other", _("Other")


class Patient(models.Model):
    """A pseudonymous patient: the platform never stores who the person is."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    pseudonym = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.pseudonym


class PseudonymMapEntry(models.Model):
    """Who a pseudonym stands for: the link back to the hospital's identity, admins only.

    Kept so that authorized staff can link a later upload or a finding back to the patient; the
    pseudonym and date shift themselves are derived from a secret, not from this table.
    """

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="identity")
    original_patient_id = models.CharField(max_length=64)
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    date_offset_days = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        unique_together = [("original_patient_id", "issuer_of_patient_id")]

    def __str__(self) -> str:
        return f"{self.patient.pseudonym}"


class QuarantinedFile(models.Model):
    """An upload held back for review (e.g. burned-in annotation): stored, never served."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reason = models.CharField(max_length=300)
    storage_key = models.CharField(max_length=200)
    size_bytes = models.BigIntegerField()

    def __str__(self) -> str:
        return f"quarantined {self.created_at:%Y-%m-%d}: {self.reason}"


class Case(models.Model):
    """What a reader study shows as one item: a patient's images around one clinical question."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    label = models.CharField(max_length=100, unique=True)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="cases")
    region = models.CharField(max_length=20, choices=Region.choices)
    levels = models.CharField(max_length=50, blank=True, help_text="e.g. C2-C7 or L4/5")
    clinical_notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


class Study(models.Model):
    """A DICOM study (after de-identification: UIDs are the platform's own)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="studies")
    # Uploaded studies wait without a case until a coordinator makes or extends a case.
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="studies"
    )
    study_instance_uid = models.CharField(max_length=64, unique=True)
    study_date = models.DateField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True)
    # Matching keys of QIDO-RS (already de-identified values), indexed for search.
    dicom_patient_name = models.CharField(max_length=200, blank=True, db_index=True)
    dicom_patient_id = models.CharField(max_length=64, blank=True, db_index=True)
    accession_number = models.CharField(max_length=64, blank=True)
    # Study-level attributes as DICOM JSON, returned by QIDO-RS and the metadata endpoints.
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.study_instance_uid


class Series(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, unique=True)
    modality = models.CharField(max_length=16)
    role = models.CharField(max_length=20, choices=SeriesRole.choices, default=SeriesRole.OTHER)
    description = models.CharField(max_length=200, blank=True)
    series_number = models.IntegerField(null=True, blank=True)
    frame_of_reference_uid = models.CharField(max_length=64, blank=True)
    # Provenance of derived series (pseudo-MRI, masks): what they were made from and how.
    source_series = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derived_series"
    )
    provenance = models.JSONField(default=dict, blank=True)
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "series"

    def __str__(self) -> str:
        return f"{self.modality} {self.description or self.series_instance_uid}"


class Instance(models.Model):
    """One stored DICOM file, indexed so frames are served by byte offset without parsing."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    transfer_syntax_uid = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=200, help_text="Content address (sha256) path.")
    size_bytes = models.BigIntegerField()
    rows = models.IntegerField(null=True, blank=True)
    columns = models.IntegerField(null=True, blank=True)
    number_of_frames = models.IntegerField(default=1)
    # Byte offset in the stored file of each frame's pixel data, and each frame's length.
    frame_offsets = models.JSONField(default=list, blank=True)
    frame_lengths = models.JSONField(default=list, blank=True)
    # Instance-level QIDO attributes, and the full metadata as DICOM JSON text with bulk data
    # URIs relative to a {{BASE}} placeholder, so WADO-RS metadata needs no parsing per request.
    attributes = models.JSONField(default=dict, blank=True)
    metadata_json = models.TextField(blank=True)

    class Meta:
        ordering = ["instance_number"]

    def __str__(self) -> str:
        return self.sop_instance_uid
