"""The API's JSON parser: DRF's, refusing NUL characters anywhere in the body.

PostgreSQL stores no NUL character in text or jsonb columns, so a NUL in any string of a JSON
body (an answer, a question's options, a hanging protocol, a job's parameters) would otherwise
reach the database and end as a 500. Refusing it here gives every endpoint a clear 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from readerstudy.questions import contains_nul


class NulFreeJSONParser(JSONParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if contains_nul(data):
            raise ParseError(_("The JSON body must not contain NUL characters (\\u0000)."))
        return data
