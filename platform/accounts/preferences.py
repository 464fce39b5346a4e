"""A user's language and time zone: which apply to a request, and the choices offered."""

from __future__ import annotations

import functools
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA zone names offered (Area/Location ones, sorted), plus UTC."""
    names = {name for name in zoneinfo.available_timezones() if "/" in name}
    return ("UTC", *sorted(name for name in names if not name.startswith(("Etc/", "SystemV/"))))


def validate_time_zone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(zone)s is not a time zone name"), params={"zone": value})


def language_codes() -> tuple[str, ...]:
    return tuple(code for code, _name in settings.LANGUAGES)


def zone_for(time_zone: str) -> zoneinfo.ZoneInfo:
    """The user's zone, else the site's (a zone name the database no longer knows: the site's)."""
    try:
        return zoneinfo.ZoneInfo(time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)
