from __future__ import annotations

from pathlib import Path

import pytest

from cases.ingest import instance_ingest
from cases.models import Case, Region, SeriesRole, Study
from cases.services import case_create
from inference.phantoms import generate_cervical_case, write_cervical_case_dicom

SMALL = (12, 64, 64)


@pytest.fixture(scope="session")
def cervical_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    phantom = generate_cervical_case(seed=5, shape=SMALL)
    return write_cervical_case_dicom(
        phantom, tmp_path_factory.mktemp("dicom"), patient_name="PHANTOM^T", patient_id="T1"
    )


@pytest.fixture
def imported_case(db: None, cervical_files: dict[str, list[Path]]) -> Case:
    roles = {"CT": SeriesRole.CT, "MRI-T2": SeriesRole.MRI_T2}
    for role, paths in cervical_files.items():
        for path in paths:
            outcome = instance_ingest(data=path.read_bytes(), role=roles[role])
            assert outcome.status == "stored", outcome.reason
    return case_create(
        actor=None, label="TEST-001", region=Region.CERVICAL, studies=Study.objects.all()
    )
