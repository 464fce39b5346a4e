"""Users and the audit trail."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.preferences import validate_time_zone


class User(AbstractUser):
    """A person using the platform. Roles are groups (see ``accounts.roles.Role``)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Preferences; empty: the browser's language (Accept-Language), the site's time zone.
    language = models.CharField(_("language"), max_length=8, blank=True, choices=settings.LANGUAGES)
    time_zone = models.CharField(
        _("time zone"), max_length=64, blank=True, validators=[validate_time_zone]
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class AuditEvent(models.Model):
    """One change that matters: who did what to which object, before and after, and why.

    Rows are written by ``accounts.services.audit_event_record`` inside the transaction of the
    change itself, so an audited change and its audit row commit or roll back together.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
        help_text="Null for changes made by the system (tasks, migrations).",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, db_index=True)
    object_id = models.CharField(max_length=64, db_index=True)
    object_repr = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["object_type", "object_id", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_username or 'system'} {self.verb}"
