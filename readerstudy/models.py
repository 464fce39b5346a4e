"""Reader studies: questionnaires, sessions with washout, blinded placements, readings, references.

Readings are never deleted: an amendment makes a new reading that supersedes the old one, and
every change is an audit event (``accounts.services.audit_event_record``) written by
``readerstudy.services`` in the transaction of the change.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def _new_blinding_secret() -> str:
    return secrets.token_hex(32)


class StudyStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    CLOSED = "closed", _("Closed")


class CaseOrderDesign(models.TextChoices):
    """How each reader's case order is made (always stored per assignment, with its seed)."""

    RANDOM = "random", _("Random per reader and session (seeded)")
    WILLIAMS = "williams", _("Balanced (Williams design rows, rotated per reader and session)")
    FIXED = "fixed", _("The study's case order for every reader")


class ReaderStudy(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # What readers see instead of the title and description, which may name the hypothesis.
    reader_title = models.CharField(max_length=200, default="Reader study")
    reader_instructions = models.TextField(blank=True)
    # The reader-facing texts in other languages (readerstudy.texts).
    translations = models.JSONField(default=dict, blank=True)
    protocol = models.CharField(max_length=50, default="blank")
    status = models.CharField(max_length=10, choices=StudyStatus.choices, default=StudyStatus.DRAFT)
    case_order_design = models.CharField(
        max_length=10, choices=CaseOrderDesign.choices, default=CaseOrderDesign.RANDOM
    )
    # Alternate readers see the first two sessions' hanging protocols in swapped order.
    crossover = models.BooleanField(default=False)
    allow_amendments = models.BooleanField(default=False)
    # A structured reference form entered per case ("intraoperative"), or empty.
    reference_form = models.CharField(max_length=30, blank=True)
    # Key of the per-study HMAC that makes blinded UIDs: never leaves the server.
    blinding_secret = models.CharField(max_length=64, default=_new_blinding_secret, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "reader studies"

    def __str__(self) -> str:
        return self.title


class MemberRole(models.TextChoices):
    COORDINATOR = "coordinator", _("Coordinator of this study")
    READER = "reader", _("Reader")
    # Enters reference standards (e.g. the operating surgeon's intraoperative findings).
    REFERENCE = "reference", _("Reference standard editor")


class StudyMembership(models.Model):
    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="study_memberships"
    )
    role = models.CharField(max_length=12, choices=MemberRole.choices)
    # Position among the study's readers: picks the balanced-design row and crossover arm.
    reader_index = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "user", "role"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.study_id}"


class QuestionType(models.TextChoices):
    YES_NO = "yes_no", _("Yes / no")
    SINGLE_CHOICE = "single_choice", _("Single choice")
    ORDINAL = "ordinal", _("Ordinal score")
    NUMBER = "number", _("Number")
    VERTEBRAL_LEVEL = "vertebral_level", _("Vertebral level")
    TEXT = "text", _("Text")
    ROI = "roi", _("ROI measurement")
    COMPARATIVE = "comparative", _("Comparative (A / equal / B)")
    LIKERT = "likert", _("Likert 1-5")
    COMPUTED = "computed", _("Computed score")


class Question(models.Model):
    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="questions")
    key = models.SlugField(max_length=50)
    order = models.PositiveIntegerField(default=0)
    type = models.CharField(max_length=20, choices=QuestionType.choices)
    label = models.CharField(max_length=300)
    help_text = models.TextField(blank=True)
    # Type-specific settings (choices, value labels, range, unit), validated by questions.py.
    options = models.JSONField(default=dict, blank=True)
    required = models.BooleanField(default=True)
    # Computed questions only: an arithmetic expression over other questions' keys.
    formula = models.CharField(max_length=300, blank=True)
    # Label, help text and answer-value labels in other languages (readerstudy.texts).
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "key"], name="question_key_unique")]

    def __str__(self) -> str:
        return self.key


class SessionStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class Session(models.Model):
    """One reading round; readers start it ``washout_days`` after finishing the previous one."""

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="sessions")
    order = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    # The name in other languages (readerstudy.texts).
    translations = models.JSONField(default=dict, blank=True)
    washout_days = models.PositiveIntegerField(default=0)
    # {"layout": "1x2", "sync_slices": bool, "shuffle_slots": bool, "slots": [{"label",
    # "roles", "viewport", "overlay_role", "window", "arm"}]} (see blinding.hanging_protocol).
    hanging_protocol = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=10, choices=SessionStatus.choices, default=SessionStatus.OPEN
    )

    class Meta:
        ordering = ["study", "order"]
        constraints = [
            models.UniqueConstraint(fields=["study", "order"], name="session_order_unique")
        ]

    def __str__(self) -> str:
        return self.name


class StudyCase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="study_cases")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="+")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "case"], name="study_case_unique")]

    def __str__(self) -> str:
        # Never the case label: audit rows and logs of readers' actions must not carry it.
        return f"study case {self.id}"


class ReaderAssignment(models.Model):
    """A reader's round: the seed and the case order it produced are stored and audited."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="assignments")
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reading_assignments"
    )
    seed = models.BigIntegerField()
    # StudyCase ids (strings) in the order this reader reads them.
    case_order = models.JSONField(default=list)
    # The session whose hanging protocol is shown (another one under a crossover design).
    protocol_session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="+")
    design = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Set when the last case is submitted; the next session's washout counts from here.
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session__order", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["session", "reader"], name="assignment_unique")
        ]

    def __str__(self) -> str:
        return f"assignment {self.id}"


class SlotPlacement(models.Model):
    """Which series a reader sees in which viewport for one case, under blinded UIDs."""

    assignment = models.ForeignKey(
        ReaderAssignment, on_delete=models.CASCADE, related_name="placements"
    )
    study_case = models.ForeignKey(StudyCase, on_delete=models.CASCADE, related_name="+")
    slot = models.CharField(max_length=20)
    slot_index = models.PositiveIntegerField()
    # What the slot shows (hidden from the reader) and how: the content's viewport type and
    # window preset travel with it when A and B are shuffled.
    arm = models.CharField(max_length=50, blank=True)
    viewport = models.CharField(max_length=20, default="stack")
    window = models.CharField(max_length=30, blank=True)
    series = models.ForeignKey("cases.Series", on_delete=models.PROTECT, related_name="+")
    overlay_series = models.ForeignKey(
        "cases.Series", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    blinded_study_uid = models.CharField(max_length=64, db_index=True)
    blinded_series_uid = models.CharField(max_length=64, unique=True)
    blinded_overlay_series_uid = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["slot_index"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "study_case", "slot"], name="placement_unique"
            )
        ]

    def __str__(self) -> str:
        return f"slot {self.slot} of {self.assignment_id}"


class ReadingStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    SUBMITTED = "submitted", _("Submitted")


class ReadingSource(models.TextChoices):
    """Where a reading was made: in the workstation, or recorded elsewhere and imported."""

    PLATFORM = "platform", _("Read in the platform")
    IMPORTED = "imported", _("Imported from a CSV file")


class Reading(models.Model):
    """A reader's answers for one case in one session; amendments supersede, never overwrite."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    assignment = models.ForeignKey(
        ReaderAssignment, on_delete=models.PROTECT, related_name="readings"
    )
    study_case = models.ForeignKey(StudyCase, on_delete=models.PROTECT, related_name="readings")
    answers = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=12, choices=ReadingStatus.choices, default=ReadingStatus.IN_PROGRESS
    )
    is_current = models.BooleanField(default=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    amendment_reason = models.TextField(blank=True)
    # Imported readings name their file and its sha256 in the "reading.imported" audit event.
    source = models.CharField(
        max_length=10, choices=ReadingSource.choices, default=ReadingSource.PLATFORM
    )
    opened_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField()
    active_seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "study_case"],
                condition=Q(is_current=True),
                name="one_current_reading",
            )
        ]

    def __str__(self) -> str:
        return f"reading {self.id}"


class ReferenceSource(models.TextChoices):
    SESSION_OF_SAME_READER = (
        "same_reader_session",
        _("The same reader's reading in another session"),
    )
    NAMED_READER = "named_reader", _("A named reference reader")
    INTRAOPERATIVE = "intraoperative", _("Intraoperative findings")
    CONSENSUS = "consensus", _("Consensus")


class ReferenceStandard(models.Model):
    """The truth a session's readings are compared with.

    Rules (``SESSION_OF_SAME_READER``, ``NAMED_READER``) point at other readings and hold no
    values; entered references (``INTRAOPERATIVE``, ``CONSENSUS``) hold values per case, either
    for one question or a structured form (``question`` empty).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="references")
    # The session whose readings are judged; empty: every session.
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.CASCADE, related_name="references"
    )
    # Empty for rules, which hold for every case.
    study_case = models.ForeignKey(
        StudyCase, null=True, blank=True, on_delete=models.PROTECT, related_name="references"
    )
    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.PROTECT, related_name="references"
    )
    source = models.CharField(max_length=24, choices=ReferenceSource.choices)
    reference_session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reference_reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    values = models.JSONField(default=dict, blank=True)
    provenance = models.TextField(blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # One entered form per case and source, and one value per case, question, source.
            models.UniqueConstraint(
                fields=["study_case", "source"],
                condition=Q(study_case__isnull=False, question__isnull=True),
                name="reference_form_unique",
            ),
            models.UniqueConstraint(
                fields=["study_case", "question", "source"],
                condition=Q(study_case__isnull=False, question__isnull=False),
                name="reference_value_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"reference {self.source} {self.id}"
