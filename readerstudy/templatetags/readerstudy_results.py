"""Template filters of the results pages: statistic names and times in the reader's language."""

from __future__ import annotations

import datetime as dt
import re

from django import template
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

register = template.Library()

# The words of the analysis' statistic and comparison names that are not proper names (Cohen,
# Fleiss, Gwet, Krippendorff, McNemar, Wilcoxon, ICC, PABAK stay as the literature writes them).
_WORDS: dict[str, Promise] = {
    "accuracy": _("accuracy"),
    "sensitivity": _("sensitivity"),
    "specificity": _("specificity"),
    "exact level": _("exact level"),
    "kappa": _("kappa"),
    "linear": _("linear"),
    "quadratic": _("quadratic"),
    "nominal": _("nominal"),
    "ordinal": _("ordinal"),
    "interval": _("interval"),
    "ratio": _("ratio"),
    "custom disagreement": _("custom disagreement"),
    "custom agreement": _("custom agreement"),
    "median difference": _("median difference"),
    "median": _("median"),
    "bias": _("bias"),
    "vs": _("vs"),
    "reference": _("reference"),
    "inter-reader": _("inter-reader"),
    "intra-reader": _("intra-reader"),
    "arms": _("arms"),
}
_PATTERN = re.compile(
    r"\b(" + "|".join(re.escape(w) for w in sorted(_WORDS, key=len, reverse=True)) + r")\b"
)


@register.filter
def statistic_label(name: str) -> str:
    """A statistic's or comparison's name with its common words translated."""
    return _PATTERN.sub(lambda match: str(_WORDS[match.group(1)]), str(name))


@register.filter
def iso_datetime(value: str) -> dt.datetime | str:
    """An ISO 8601 time (as stored in cached results) as a datetime, for the ``date`` filter
    to show in the user's zone; text that is not one stays as it is."""
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value
