"""The platform-wide roles. Each is a Django group; membership of one study comes on top."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    COORDINATOR = "coordinator", _("Study coordinator")
    READER = "reader", _("Reader")
