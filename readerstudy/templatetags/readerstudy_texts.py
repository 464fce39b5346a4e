"""``{{ session|localized:"name" }}``: study texts in the reader's language (readerstudy.texts)."""

from __future__ import annotations

from typing import Any

from django import template

from readerstudy import texts

register = template.Library()


@register.filter
def localized(obj: Any, field: str) -> str:
    return texts.localized(obj, field)


@register.filter
def localized_options(question: Any) -> dict[str, Any]:
    return texts.localized_options(question)
