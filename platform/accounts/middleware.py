"""Each request in its user's language and time zone."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from accounts.preferences import zone_for


class UserPreferencesMiddleware:
    """After Django's LocaleMiddleware (Accept-Language, the language cookie) and the
    authentication middleware: a signed-in user's saved language wins over the browser's, and
    every time is shown in the user's zone, else the site's (``TIME_ZONE``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        saved_zone = ""
        if user is not None and user.is_authenticated:
            if user.language:
                translation.activate(user.language)
                request.LANGUAGE_CODE = translation.get_language()
            saved_zone = user.time_zone
        timezone.activate(zone_for(saved_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
