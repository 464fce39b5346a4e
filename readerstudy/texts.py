"""A study's reader-facing texts in more than one language.

The texts a coordinator writes (study and session names, instructions, question labels, help
texts, the labels of answer values) are stored in the study's main language on their own
fields, and in other languages in each object's ``translations``::

    {"ja": {"label": "椎間板損傷", "help_text": "...", "values": {"0": "損傷なし"}}}

A reader sees the text in their language where the coordinator wrote one, else the main text.
Answers never depend on the language: values (``0``, ``"A"``, ``true``) are the same in all.
"""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils import translation

#: The translatable fields of each kind of object, with their longest allowed text.
STUDY_FIELDS = {"title": 200, "description": 5000, "reader_title": 200, "reader_instructions": 5000}
SESSION_FIELDS = {"name": 100}
QUESTION_FIELDS = {"label": 300, "help_text": 5000}
MAX_VALUE_LABEL = 200


# Unicode categories a reader cannot see: separators, controls, format characters (zero-width
# space and joiners, bidi marks), surrogates, private use and unassigned code points.
_INVISIBLE = {"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"}


def has_visible_text(text: str) -> bool:
    """Whether ``text`` shows anything: a reason of one zero-width space is not a reason."""
    return any(unicodedata.category(char) not in _INVISIBLE for char in text)


class TranslationsError(ValueError):
    """Translations that do not fit the object (unknown language or field, a text too long)."""


def _language() -> str:
    return (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]


def localized(obj: Any, field: str, language: str | None = None) -> str:
    """``obj.field`` in ``language`` (default: the active one) where a translation exists."""
    texts = (getattr(obj, "translations", None) or {}).get(language or _language(), {})
    return texts.get(field) or getattr(obj, field)


def localized_options(question: Any, language: str | None = None) -> dict[str, Any]:
    """The question's options with the labels of its answer values in ``language``."""
    options = copy.deepcopy(question.options or {})
    texts = (question.translations or {}).get(language or _language(), {})
    labels: Mapping[str, str] = texts.get("values") or {}
    if not labels:
        return options
    for item in options.get("values", []):
        item["label"] = labels.get(str(item.get("value")), item.get("label"))
    if isinstance(options.get("labels"), dict):
        options["labels"] = {
            value: labels.get(str(value), label) for value, label in options["labels"].items()
        }
    return options


def clean_translations(
    value: object, fields: Mapping[str, int], *, values: bool = False
) -> dict[str, dict[str, Any]]:
    """Check translations written by a coordinator; return them without empty texts.

    Raises:
        TranslationsError: With a message naming what is wrong.
    """
    if not isinstance(value, dict):
        raise TranslationsError("translations must be an object keyed by language code")
    languages = {code for code, _name in settings.LANGUAGES}
    clean: dict[str, dict[str, Any]] = {}
    for language, texts in value.items():
        if language not in languages:
            raise TranslationsError(
                f"unknown language {language!r}; one of {', '.join(sorted(languages))}"
            )
        if not isinstance(texts, dict):
            raise TranslationsError(f"translations[{language!r}] must be an object")
        kept: dict[str, Any] = {}
        for name, text in texts.items():
            if values and name == "values":
                kept["values"] = _clean_value_labels(text, language)
                continue
            if name not in fields:
                raise TranslationsError(
                    f"translations[{language!r}] has unknown field {name!r}; "
                    f"one of {', '.join(sorted([*fields, *(['values'] if values else [])]))}"
                )
            if not isinstance(text, str) or len(text) > fields[name]:
                raise TranslationsError(
                    f"translations[{language!r}][{name!r}] must be text of at most "
                    f"{fields[name]} characters"
                )
            if text.strip():
                kept[name] = text.strip()
        if kept:
            clean[language] = kept
    return clean


def _clean_value_labels(labels: object, language: str) -> dict[str, str]:
    if not isinstance(labels, dict) or not all(
        isinstance(label, str) and len(label) <= MAX_VALUE_LABEL for label in labels.values()
    ):
        raise TranslationsError(
            f"translations[{language!r}]['values'] must map answer values to labels of at most "
            f"{MAX_VALUE_LABEL} characters"
        )
    return {str(value): label.strip() for value, label in labels.items() if label.strip()}
