"""The reader-study demo: both templates, the surgeon's references, a simulated completed study."""

from __future__ import annotations

from pathlib import Path

import pytest
from demo import reader_studies as demo
from demo.phantom_cases import DemoReport, demo_users_ensure

from accounts.models import AuditEvent, User
from cases.models import Series, SeriesRole
from readerstudy.models import (
    ReaderAssignment,
    ReaderStudy,
    Reading,
    ReferenceStandard,
    StudyMembership,
)
from tests.readerstudy.conftest import CERVICAL_ROLES, LUMBAR_ROLES, import_phantom_case


@pytest.mark.django_db
def test_demo_studies_are_created_once(
    cervical_dicom: list[dict[str, list[Path]]], lumbar_dicom: list[dict[str, list[Path]]]
) -> None:
    demo_users_ensure(password="demo-password-for-tests", report=DemoReport())
    for index, files in enumerate(cervical_dicom, start=1):
        import_phantom_case(files, CERVICAL_ROLES, f"CSCI-{index:03d}")
    for index, files in enumerate(lumbar_dicom, start=1):
        import_phantom_case(files, LUMBAR_ROLES, f"NCCTM-{index:03d}")

    report = demo.demo_load(password="demo-password-for-tests")
    assert (report.studies_created, report.pseudo_mri_series_created) == (3, 3)
    assert report.readings_simulated == 12  # 2 simulated readers x 2 sessions x 3 cases

    stand_in = Series.objects.filter(role=SeriesRole.PSEUDO_MRI).first()
    assert stand_in is not None and "demo stand-in" in stand_in.provenance["model"]["name"]

    slic = ReaderStudy.objects.get(title=demo.SLIC_TITLE)
    assert slic.status == "active" and slic.study_cases.count() == 3
    readers = set(
        ReaderAssignment.objects.filter(session__study=slic).values_list(
            "reader__username", flat=True
        )
    )
    assert readers == {"reader-a", "reader-b"}

    ncctm = ReaderStudy.objects.get(title=demo.NCCTM_TITLE)
    surgeon = User.objects.get(username="surgeon")
    roles = set(
        StudyMembership.objects.filter(study=ncctm, user=surgeon).values_list("role", flat=True)
    )
    assert roles == {"reader", "reference"}
    references = ReferenceStandard.objects.filter(study=ncctm, study_case__isnull=False)
    assert references.count() == 2
    assert all("SIMULATED" in ref.provenance for ref in references)

    completed = ReaderStudy.objects.get(title=demo.COMPLETED_TITLE)
    assert completed.status == "closed" and "SIMULATED" in completed.description
    readings = Reading.objects.filter(assignment__session__study=completed)
    assert readings.count() == 12 and not readings.exclude(status="submitted").exists()
    assert all(r.active_seconds > 0 for r in readings)
    for username in ("sim-reader-1", "sim-reader-2"):
        assert "SIMULATED" in User.objects.get(username=username).get_full_name()
    assert all(
        a.finished_at is not None for a in ReaderAssignment.objects.filter(session__study=completed)
    )

    events = AuditEvent.objects.count()
    again = demo.demo_load(password="demo-password-for-tests")
    assert (again.studies_created, again.pseudo_mri_series_created, again.readings_simulated) == (
        0,
        0,
        0,
    )
    assert AuditEvent.objects.count() == events
