"""Request guards that must run before anything reads the body."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class RequestSizeLimitMiddleware:
    """Refuse a request whose Content-Length exceeds ``SAGITTAL_MAX_UPLOAD_BYTES`` with 413.

    It sits before CSRF and session handling because Django's CSRF check parses a POST body
    (uploads included) to look for the token: a 2 GB upload must be refused from its header,
    not after it was spooled to disk.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length_text = request.META.get("CONTENT_LENGTH") or "0"
        limit = settings.SAGITTAL_MAX_UPLOAD_BYTES
        if length_text.isdigit() and int(length_text) > limit:
            message = f"the request is {length_text} bytes; the limit is {limit}"
            return HttpResponse(
                json.dumps({"error": message, "detail": message}),
                status=413,
                content_type="application/json",
            )
        return self.get_response(request)
