"""What every reader-study API view shares: the base view that turns the services' rule
errors into 400/403/409 answers with their message, and small output helpers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from readerstudy import questions, services


def iso_or_none(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


class ReaderStudyApi(APIView):
    """Turns the study's rule errors into 400/403/409 answers with the service's message."""

    permission_classes = [IsAuthenticated]

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, questions.AnswerError):
            return Response(
                {
                    "detail": _("Some answers are not valid; nothing was saved."),
                    "errors": services.answer_problems(exc),
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        if isinstance(exc, services.ReaderStudyError):
            body = {"detail": exc.message}
            body.update({key: _json_safe(value) for key, value in exc.details.items()})
            return Response(body, status=exc.status)
        return super().handle_exception(exc)
