"""The platform-wide roles. Each is a Django group; membership of one study comes on top."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    COORDINATOR = "coordinator", "Study coordinator"
    READER = "reader", "Reader"
