"""Fixtures of the inference app: tiny checkpoints, registered models and phantom cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from cases.ingest import instance_ingest
from cases.models import Case, Region, SeriesRole, Study
from cases.services import case_create
from inference.models import ModelTask, ModelVersion
from inference.phantoms import (
    generate_cervical_case,
    generate_lumbar_case,
    write_cervical_case_dicom,
    write_lumbar_case_dicom,
)
from inference.registry import model_version_register
from inference.runners import runner_cache_clear
from tests.inference.helpers import CERVICAL_SHAPE, LUMBAR_SHAPE

LUMBAR_ROLES = {
    "DECT-mixed": SeriesRole.DECT_MIXED,
    "MRM": SeriesRole.MRM,
    "NC-CTM-mask": SeriesRole.NCCTM_MASK,
}
CERVICAL_ROLES = {"CT": SeriesRole.CT, "MRI-T2": SeriesRole.MRI_T2}


@pytest.fixture(autouse=True)
def private_models_dir(settings: SettingsWrapper, tmp_path: Path) -> None:
    """Registered checkpoints go to this test's folder (tests that tamper with them)."""
    settings.SAGITTAL_MODELS_DIR = tmp_path / "models"
    # A model loaded by one test must not be served to the next from the process cache.
    runner_cache_clear()


@pytest.fixture
def private_media(settings: SettingsWrapper, tmp_path: Path) -> None:
    """Stored DICOM files go to this test's folder (tests that corrupt them)."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session")
def ncctm_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny NC-CTM network with random weights (enough to exercise the pipeline)."""
    import torch

    from inference.ncctm import NCCTMConfig, build_network, save_model

    torch.manual_seed(0)
    config = NCCTMConfig(
        target_spacing=(10.0, 2.8125, 2.8125),
        patch_size=(8, 32, 32),
        channels=(4, 8),
        strides=(2,),
        iterations=1,
    )
    path = tmp_path_factory.mktemp("ckpt") / "ncctm-tiny.pt"
    save_model(path, build_network(config), config, {"metrics": {"summary": "untrained"}})
    return path


@pytest.fixture(scope="session")
def pseudomri_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pseudo-MRI denoiser with random weights."""
    import torch

    from inference.pseudomri import ConditionalDenoiser, PseudoMRIConfig, save_model

    torch.manual_seed(0)
    config = PseudoMRIConfig(block_out_channels=(8, 16), norm_num_groups=4, iterations=1)
    path = tmp_path_factory.mktemp("ckpt") / "pseudomri-tiny.pt"
    save_model(path, ConditionalDenoiser(config), config, {"training_data": {"phantoms": 0}})
    return path


@pytest.fixture
def ncctm_model(db: None, ncctm_checkpoint: Path) -> ModelVersion:
    return model_version_register(
        actor=None,
        task=ModelTask.NCCTM,
        name="ncctm-tiny",
        version="1",
        checkpoint=ncctm_checkpoint,
        activate=True,
    )


@pytest.fixture
def pseudomri_model(db: None, pseudomri_checkpoint: Path) -> ModelVersion:
    return model_version_register(
        actor=None,
        task=ModelTask.PSEUDO_MRI,
        name="pseudomri-tiny",
        version="1",
        checkpoint=pseudomri_checkpoint,
        activate=True,
    )


@pytest.fixture(scope="session")
def lumbar_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    phantom = generate_lumbar_case(seed=7, shape=LUMBAR_SHAPE)
    return write_lumbar_case_dicom(
        phantom, tmp_path_factory.mktemp("lumbar"), patient_name="PHANTOM^L", patient_id="L7"
    )


@pytest.fixture(scope="session")
def cervical_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    phantom = generate_cervical_case(seed=5, shape=CERVICAL_SHAPE)
    return write_cervical_case_dicom(
        phantom, tmp_path_factory.mktemp("cervical"), patient_name="PHANTOM^C", patient_id="C5"
    )


def import_phantom_case(
    files: dict[str, list[Path]], roles: dict[str, SeriesRole], label: str, region: Region
) -> Case:
    uids = set()
    for role, paths in files.items():
        for path in paths:
            outcome = instance_ingest(data=path.read_bytes(), role=roles[role])
            assert outcome.status == "stored", outcome.reason
            uids.add(outcome.study_instance_uid)
    return case_create(
        actor=None,
        label=label,
        region=region,
        studies=Study.objects.filter(study_instance_uid__in=uids),
    )


@pytest.fixture
def lumbar_case(db: None, lumbar_files: dict[str, list[Path]]) -> Case:
    return import_phantom_case(lumbar_files, LUMBAR_ROLES, "NCCTM-T01", Region.LUMBAR)


@pytest.fixture
def cervical_case(db: None, cervical_files: dict[str, list[Path]]) -> Case:
    return import_phantom_case(cervical_files, CERVICAL_ROLES, "CSCI-T01", Region.CERVICAL)
