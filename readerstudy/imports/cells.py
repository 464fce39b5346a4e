"""From a CSV cell's text to a typed answer: booleans, numbers (with a decimal comma), labels
of choices, level ranges, ROI JSON, dates and slot lists, undoing the export's formula guard.

Conversion only: the caller validates the result with the question's JSON Schema.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from readerstudy import questions

# The export quotes text starting with these with "'" against spreadsheet formula injection.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")
_CLOCK_SKEW = dt.timedelta(minutes=5)
_LEVEL_RANGE = re.compile(r"([A-Za-z][0-9]{1,2})\s*[-\u2013/]\s*([A-Za-z][0-9]{1,2})")


def _unquote(text: str) -> str:
    """Undo the export's formula guard ("'=..." -> "=...", "''..." -> "'...")."""
    if len(text) > 1 and text[0] == "'" and text[1] in (*_FORMULA_START, "'"):
        return text[1:]
    return text


def _integer(text: str) -> int:
    if _INTEGER.fullmatch(text):
        return int(text)
    number = float(text.replace(",", ".") if _DECIMAL_COMMA.fullmatch(text) else text)
    if not math.isfinite(number) or number != int(number):
        raise ValueError
    return int(number)  # "2.0" from a spreadsheet


def _number(text: str, integer: bool) -> int | float:
    if integer or _INTEGER.fullmatch(text):
        return _integer(text)
    if _DECIMAL_COMMA.fullmatch(text):  # "3,5" from a European spreadsheet
        text = text.replace(",", ".")
    return float(text)


def _by_label(text: str, choices: Sequence[Mapping[str, Any]]) -> Any:
    wanted = text.casefold()
    for choice in choices:
        if str(choice["label"]).casefold() == wanted:
            return choice["value"]
    return None


def _level(text: str) -> str:
    return text.lower() if text.lower() == questions.NO_LEVEL else text.upper()


def cell_value(spec: questions.QuestionSpec, text: str) -> Any:
    """The typed answer a cell's text stands for (``None``: not answered).

    Raises ``ValueError`` when the text cannot be that type; the caller validates the result
    against the question's JSON Schema (ranges, enums, levels).
    """
    text = text.strip()
    if text == "":
        return None
    if "\x00" in text:  # PostgreSQL stores no NUL character in text or JSON
        raise ValueError(_("the cell contains a NUL character"))
    kind = spec.type
    if kind == questions.YES_NO:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(_("expected true/false (or yes/no)"))
    if kind in (questions.ORDINAL, questions.LIKERT):
        try:
            return _integer(text)
        except ValueError:
            pass
        if kind == questions.ORDINAL:
            value = _by_label(text, spec.options.get("values", []))
        else:
            labels = spec.options.get("labels") or questions.DEFAULT_LIKERT_LABELS
            value = _by_label(text, [{"value": int(k), "label": v} for k, v in labels.items()])
        if value is None:
            raise ValueError(_("expected a whole number (or a value's label)"))
        return value
    if kind == questions.NUMBER:
        try:
            return _number(text, bool(spec.options.get("integer")))
        except ValueError:
            raise ValueError(
                _("expected a whole number")
                if spec.options.get("integer")
                else _("expected a number")
            ) from None
    if kind == questions.SINGLE_CHOICE:
        choices = spec.options.get("choices", [])
        if any(choice["value"] == text for choice in choices):
            return text
        return _by_label(text, choices) or text
    if kind == questions.COMPARATIVE:
        for value in questions.COMPARATIVE_VALUES:
            if text.casefold() == value.casefold():
                return value
        labels = {**questions.DEFAULT_COMPARATIVE_LABELS, **spec.options.get("labels", {})}
        found = _by_label(text, [{"value": k, "label": v} for k, v in labels.items()])
        return found if found is not None else text
    if kind == questions.VERTEBRAL_LEVEL:
        if text.startswith("{"):
            value = _json(text)
            if isinstance(value, dict):
                return {k: _level(v) if isinstance(v, str) else v for k, v in value.items()}
            return value
        match = _LEVEL_RANGE.fullmatch(text)
        if match:
            return {"from": _level(match.group(1)), "to": _level(match.group(2))}
        return _level(text)
    if kind == questions.ROI:
        return _json(text)
    return text  # text (and computed, which the caller ignores)


# Deeper than any ROI or level range: a limit well below Python's recursion limit.
_MAX_JSON_DEPTH = 32


def _no_constant(name: str) -> Any:
    raise ValueError(_("expected JSON (%(name)s is not a JSON number)") % {"name": name})


def _json(text: str) -> Any:
    """Strict JSON (no NaN or Infinity, which jsonb refuses), at most ``_MAX_JSON_DEPTH`` deep,
    without NUL characters."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(_("expected JSON (%(error)s)") % {"error": exc.msg}) from None
    except RecursionError:
        raise ValueError(_("expected JSON (nested too deeply)")) from None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list) and depth > _MAX_JSON_DEPTH:
            raise ValueError(_("expected JSON (nested too deeply)"))
        if isinstance(item, dict):
            stack += [(key, depth + 1) for key in item]
            stack += [(child, depth + 1) for child in item.values()]
        elif isinstance(item, list):
            stack += [(child, depth + 1) for child in item]
        elif isinstance(item, str) and "\x00" in item:
            raise ValueError(_("the JSON contains a NUL character"))
    return value


def parse_moment(text: str) -> dt.datetime:
    moment = parse_datetime(text.strip())
    if moment is None:
        raise ValueError(_("expected an ISO 8601 date and time, e.g. 2025-01-31T14:05:00+00:00"))
    try:
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        moment = moment.astimezone(dt.UTC)  # as stored; years 1 and 9999 may not fit
    except OverflowError:
        raise ValueError(_("the date is out of range for an ISO 8601 date and time")) from None
    # A reading recorded elsewhere is in the past (a few minutes of clock skew aside); one in
    # the future would start the next session's washout from then.
    if moment > timezone.now() + _CLOCK_SKEW:
        raise ValueError(_("the moment is in the future"))
    return moment


def parse_slots(text: str) -> dict[str, str]:
    slots: dict[str, str] = {}
    for part in text.split(";"):
        label, sep, arm = part.partition("=")
        if not sep or not label.strip() or not arm.strip() or label.strip() in slots:
            raise ValueError(_("expected slot=arm pairs separated by ';', e.g. A=NC-CTM;B=MRM"))
        slots[label.strip()] = arm.strip()
    return slots


def row_cell(row: list[str], columns: Mapping[str, int], name: str) -> str:
    index = columns.get(name)
    return _unquote(row[index].strip()) if index is not None else ""
