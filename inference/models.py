"""The model registry and the inference jobs that run registered models on a case's series.

Only the Django side lives here; the networks, training and sampling are the Django-free
packages ``inference.ncctm`` and ``inference.pseudomri`` (this module must not import torch).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.models import Case, Series


class ModelTask(models.TextChoices):
    NCCTM = "ncctm", _("NC-CTM dural canal segmentation")
    PSEUDO_MRI = "pseudomri", _("Pseudo-MRI (T2-weighted) from CT")


class ModelBackend(models.TextChoices):
    """How a checkpoint is loaded and run."""

    NCCTM_UNET = "ncctm-unet", _("MONAI 3D U-Net (sliding window)")
    PSEUDOMRI_DDIM = "pseudomri-ddim", _("Image-conditioned diffusion U-Net (DDIM)")
    PSEUDOMRI_SD = "pseudomri-sd", _("Fine-tuned Stable Diffusion img2img (local diffusers folder)")


class DeviceRequirement(models.TextChoices):
    CPU = "cpu", _("CPU (default queue)")
    GPU = "gpu", _("GPU (gpu queue)")


class ModelVersion(models.Model):
    """A trained checkpoint, registered with its checksum, configuration and metrics.

    The checkpoint file (or, for a diffusers pipeline, folder) lies under
    ``SAGITTAL_MODELS_DIR``; its sha256 (of a folder: of the sorted manifest of its files'
    paths and sha256s) is verified on every load. At most one version per task is active:
    jobs started without naming a version use it, and a fresh install has none until a model
    is trained or registered.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.CharField(max_length=20, choices=ModelTask.choices)
    backend = models.CharField(max_length=30, choices=ModelBackend.choices)
    name = models.CharField(max_length=100)
    version = models.CharField(max_length=50)
    description = models.TextField(blank=True)
    checkpoint = models.CharField(
        max_length=500,
        help_text="Path of the checkpoint file or folder relative to SAGITTAL_MODELS_DIR.",
    )
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField(default=0)
    config = models.JSONField(default=dict, blank=True)
    training_data = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    device = models.CharField(
        max_length=10, choices=DeviceRequirement.choices, default=DeviceRequirement.CPU
    )
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["task", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "name", "version"], name="inference_model_version_unique"
            ),
            models.UniqueConstraint(
                fields=["task"],
                condition=Q(is_active=True),
                name="inference_one_active_model_per_task",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.task})"

    @property
    def checkpoint_path(self) -> Path:
        return Path(settings.SAGITTAL_MODELS_DIR) / self.checkpoint

    @property
    def queue(self) -> str:
        """The Celery queue whose workers can run this model."""
        if self.device == DeviceRequirement.GPU:
            return str(settings.CELERY_GPU_QUEUE)
        return str(settings.CELERY_TASK_DEFAULT_QUEUE)


class JobState(models.TextChoices):
    PENDING = "PENDING", _("Pending")
    RUNNING = "RUNNING", _("Running")
    SUCCEEDED = "SUCCEEDED", _("Succeeded")
    FAILED = "FAILED", _("Failed")
    CANCELLED = "CANCELLED", _("Cancelled")


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class InferenceJob(models.Model):
    """One run of a model on one series of a case, executed by a Celery worker.

    The row is the source of truth for the job (Celery keeps no state of its own): workers
    claim it by incrementing ``attempts`` and only write while the state is RUNNING and the
    attempt is still theirs, so a cancelled job or one taken over after a lost worker cannot be
    overwritten by a late writer.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="inference_jobs")
    source_series = models.ForeignKey(
        Series, on_delete=models.CASCADE, related_name="inference_jobs"
    )
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="jobs")
    parameters = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=10, choices=JobState.choices, default=JobState.PENDING, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)
    # The state in a few words: an English msgid (marked with gettext_noop where it is written)
    # and the values of its %(name)s placeholders, shown in each reader's language.
    message = models.CharField(max_length=300, blank=True)
    message_args = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    device = models.CharField(max_length=50, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the last claim")
    timings = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    output_series = models.ManyToManyField(Series, blank=True, related_name="producing_jobs")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="inference_job_stale_idx")]

    def __str__(self) -> str:
        return f"{self.model_version.task} job {self.id} ({self.state})"

    @property
    def display_message(self) -> str:
        """``message`` in the active language, its placeholders filled."""
        if not self.message:
            return ""
        text = gettext(self.message)
        if not self.message_args:
            return text
        try:
            return text % self.message_args
        except (KeyError, TypeError, ValueError):  # a catalogue that does not fit: English
            return self.message % self.message_args

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES
