"""Small helpers shared by the inference tests."""

from __future__ import annotations

from cases.models import Case, Series, SeriesRole

#: Phantom shapes of the test cases: small, quick to import, still a CT volume.
LUMBAR_SHAPE = (16, 64, 64)
CERVICAL_SHAPE = (12, 64, 64)


def series_of(case: Case, role: SeriesRole) -> Series:
    """The acquired (not derived) series of ``case`` with ``role``."""
    return Series.objects.get(study__case=case, role=role, source_series__isnull=True)
