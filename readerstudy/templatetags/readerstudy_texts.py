"""``{{ session|localized:"name" }}``: study texts in the reader's language (readerstudy.texts)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

from readerstudy import selectors, texts

register = template.Library()


@register.filter
def localized(obj: Any, field: str) -> str:
    return texts.localized(obj, field)


@register.filter
def localized_options(question: Any) -> dict[str, Any]:
    return texts.localized_options(question)


_STATE_LABELS = {
    selectors.AVAILABLE: _("Available"),
    selectors.LOCKED: _("Locked"),
    selectors.DONE: _("Done"),
    selectors.CLOSED: _("Not open"),
}


@register.filter
def assignment_state_label(state: str) -> str:
    """An assignment's state (``selectors.assignment_state``) as readers' pages name it."""
    return str(_STATE_LABELS.get(state, state))


@register.simple_tag
def translation_of(obj: Any, language: str, field: str) -> str:
    """What the coordinator wrote for ``field`` in ``language`` (empty if nothing)."""
    return str(((obj.translations or {}).get(language) or {}).get(field, ""))
