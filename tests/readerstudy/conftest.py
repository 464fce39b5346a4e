"""Reader-study fixtures: phantom cases with the series roles the templates need.

The SLIC cases get a pseudo-MRI made by the real output path of the inference app
(``inference.dicom_outputs`` stored with ``cases.ingest.derived_instance_store``), so its
headers say "SYNTHETIC", "AI", the model's name and version, exactly what blinding must hide.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.services import user_create
from cases.ingest import derived_instance_store, instance_ingest
from cases.models import Case, Region, Series, SeriesRole, Study
from cases.services import case_create
from inference.dicom_outputs import Provenance, pseudo_mri_datasets
from inference.phantoms import (
    generate_cervical_case,
    generate_lumbar_case,
    write_cervical_case_dicom,
    write_lumbar_case_dicom,
)
from inference.series_io import load_ct_volume
from readerstudy import services
from readerstudy.models import ReaderAssignment, ReaderStudy
from tests.conftest import PASSWORD

CERVICAL_SHAPE = (8, 48, 48)
LUMBAR_SHAPE = (16, 48, 48)
MODEL_NAME = "pseudomri-diffusion-unet"
MODEL_VERSION = "v7.3-secret"

CERVICAL_ROLES = {"CT": SeriesRole.CT, "MRI-T2": SeriesRole.MRI_T2}
LUMBAR_ROLES = {
    "DECT-mixed": SeriesRole.DECT_MIXED,
    "MRM": SeriesRole.MRM,
    "NC-CTM-mask": SeriesRole.NCCTM_MASK,
}


@pytest.fixture(scope="session")
def cervical_dicom(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, list[Path]]]:
    out = []
    for index in range(1, 4):
        phantom = generate_cervical_case(seed=300 + index, shape=CERVICAL_SHAPE)
        out.append(
            write_cervical_case_dicom(
                phantom,
                tmp_path_factory.mktemp(f"cervical{index}"),
                patient_name=f"PHANTOM^SECRETNAME^{index}",
                patient_id=f"RS-C{index}",
            )
        )
    return out


@pytest.fixture(scope="session")
def lumbar_dicom(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, list[Path]]]:
    out = []
    for index in range(1, 3):
        phantom = generate_lumbar_case(seed=400 + index, shape=LUMBAR_SHAPE)
        out.append(
            write_lumbar_case_dicom(
                phantom,
                tmp_path_factory.mktemp(f"lumbar{index}"),
                patient_name=f"PHANTOM^LUMBARSECRET^{index}",
                patient_id=f"RS-L{index}",
            )
        )
    return out


def import_phantom_case(
    files: dict[str, list[Path]], roles: dict[str, SeriesRole], label: str
) -> Case:
    uids = set()
    for role, paths in files.items():
        for path in paths:
            outcome = instance_ingest(data=path.read_bytes(), role=roles[role])
            assert outcome.status in ("stored", "duplicate"), outcome.reason
            uids.add(outcome.study_instance_uid)
    region = Region.CERVICAL if "CT" in files else Region.LUMBAR
    return case_create(
        actor=None,
        label=label,
        region=region,
        studies=Study.objects.filter(study_instance_uid__in=uids),
    )


def add_pseudo_mri(case: Case) -> Series:
    """A pseudo-MRI series made by the inference output path (not a hand-made stand-in)."""
    ct = Series.objects.get(study__case=case, role=SeriesRole.CT)
    volume = load_ct_volume(ct)
    provenance = Provenance(
        job_id="job-1234",
        task="pseudo-mri",
        model_name=MODEL_NAME,
        model_version=MODEL_VERSION,
        model_sha256="ab" * 32,
        source_series_uid=ct.series_instance_uid,
        created=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )
    mri = np.clip(volume.hu + 1000.0, 0, 3000).astype(np.float32)
    for dataset in pseudo_mri_datasets(volume, mri, provenance=provenance):
        outcome = derived_instance_store(
            dataset=dataset,
            case=case,
            source_series=ct,
            role=SeriesRole.PSEUDO_MRI,
            provenance=provenance.as_json(),
        )
        assert outcome.status in ("stored", "duplicate"), outcome.reason
    return Series.objects.get(study__case=case, role=SeriesRole.PSEUDO_MRI)


@pytest.fixture
def slic_cases(db: None, cervical_dicom: list[dict[str, list[Path]]]) -> list[Case]:
    """Three cervical cases (CT, MRI-T2, pseudo-MRI); labels are what readers must not see."""
    cases = []
    for index, files in enumerate(cervical_dicom, start=1):
        case = import_phantom_case(files, CERVICAL_ROLES, f"SECRET-CSCI-{index:03d}")
        add_pseudo_mri(case)
        cases.append(case)
    return cases


@pytest.fixture
def ncctm_cases(db: None, lumbar_dicom: list[dict[str, list[Path]]]) -> list[Case]:
    return [
        import_phantom_case(files, LUMBAR_ROLES, f"SECRET-NCCTM-{index:03d}")
        for index, files in enumerate(lumbar_dicom, start=1)
    ]


@pytest.fixture
def other_coordinator(db: None) -> User:
    return user_create(
        actor=None, username="other-coordinator", password=PASSWORD, roles=[Role.COORDINATOR]
    )


@pytest.fixture
def surgeon(db: None) -> User:
    return user_create(
        actor=None, username="surgeon-persona", password=PASSWORD, roles=[Role.READER]
    )


StudyFactory = Callable[..., ReaderStudy]


@pytest.fixture
def slic_study(
    coordinator: User, reader_a: User, reader_b: User, slic_cases: list[Case]
) -> ReaderStudy:
    """An active SLIC study with three cases and readers A and B assigned."""
    study = services.study_create_from_template(actor=coordinator, protocol="slic-pseudo-mri")
    result = services.study_cases_add(actor=coordinator, study=study, cases=slic_cases)
    assert len(result.added) == 3, result.message
    services.reader_assign(actor=coordinator, study=study, reader=reader_a)
    services.reader_assign(actor=coordinator, study=study, reader=reader_b)
    services.study_status_set(actor=coordinator, study=study, status="active")
    return study


@pytest.fixture
def ncctm_study(coordinator: User, surgeon: User, ncctm_cases: list[Case]) -> ReaderStudy:
    study = services.study_create_from_template(actor=coordinator, protocol="ncctm-vs-mrm")
    result = services.study_cases_add(actor=coordinator, study=study, cases=ncctm_cases)
    assert len(result.added) == 2, result.message
    services.reader_assign(actor=coordinator, study=study, reader=surgeon)
    services.membership_add(actor=coordinator, study=study, user=surgeon, role="reference")
    services.study_status_set(actor=coordinator, study=study, status="active")
    return study


# --- The seed's SLIC study, with answers giving reader A's published accuracies --------------

# Reader A in PROTOCOLS.md: session 1 against session 2, per finding.
PUBLISHED = {
    "retropharyngeal_hematoma": 7,
    "disc_injury": 5,
    "cord_edema": 7,
    "sci_level": 4,
    "canal_stenosis": 5,
    "interspinous_ligament_injury": 5,
}
DISPLAY = {7: "100.0% (7/7)", 5: "71.4% (5/7)", 4: "57.1% (4/7)"}
YES_NO = [key for key in PUBLISHED if key != "sci_level"]


def _answers(case_index: int, *, session: int) -> dict[str, Any]:
    """Session 2 is the truth; session 1 differs on the cases past each finding's hits."""
    truth = {key: case_index % 2 == 0 for key in YES_NO}
    truth.update(sci_level="C5", slic_ct_morphology=case_index % 5, slic_mri_dlc=case_index % 3)
    if session == 2:
        return truth
    answers = dict(truth)
    for key, hits in PUBLISHED.items():
        if case_index >= hits:
            answers[key] = "C7" if key == "sci_level" else not truth[key]
    return answers


def read_session(reader: User, study: ReaderStudy, order: int, now: dt.datetime) -> None:
    assignment = ReaderAssignment.objects.get(
        session__study=study, session__order=order, reader=reader
    )
    case_ids = list(assignment.case_order)
    for position in range(1, len(case_ids) + 1):
        reading, study_case = services.reading_open(
            actor=reader, assignment=assignment, position=position, now=now
        )
        assert reading is not None
        # The case's index among the study's cases fixes its answers, whatever the order.
        index = sorted(case_ids).index(str(study_case.pk))
        services.reading_submit(
            actor=reader,
            reading=reading,
            version=reading.version,
            answers=_answers(index, session=order),
            now=now,
        )


@pytest.fixture(scope="session")
def seven_patients(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, list[Path]]]:
    return [
        write_cervical_case_dicom(
            generate_cervical_case(seed=700 + index, shape=(8, 32, 32)),
            tmp_path_factory.mktemp(f"slic{index}"),
            patient_name=f"SLIC^{index}",
            patient_id=f"SLIC-{index}",
        )
        for index in range(7)
    ]


@pytest.fixture
def seven_cases(db: None, seven_patients: list[dict[str, list[Path]]]) -> list[Case]:
    cases = []
    for index, files in enumerate(seven_patients):
        case = import_phantom_case(files, CERVICAL_ROLES, f"CSCI-{index + 1:03d}")
        add_pseudo_mri(case)
        cases.append(case)
    return cases


@pytest.fixture
def slic_results_study(coordinator: User, reader_a: User, seven_cases: list[Case]) -> ReaderStudy:
    study = services.study_create_from_template(actor=coordinator, protocol="slic-pseudo-mri")
    added = services.study_cases_add(actor=coordinator, study=study, cases=seven_cases)
    assert len(added.added) == 7, added.message
    services.reader_assign(actor=coordinator, study=study, reader=reader_a)
    services.study_status_set(actor=coordinator, study=study, status="active")
    start = timezone.now() - dt.timedelta(days=60)
    read_session(reader_a, study, 1, start)
    read_session(reader_a, study, 2, start + dt.timedelta(days=31))
    return study
