"""The Stable Diffusion img2img backend as a registered model and an inference job.

A tiny pipeline built from configs with random weights is saved to a temporary folder,
registered (its manifest sha256 recorded), and run as a pseudo-MRI job: in this process here,
in the real Celery worker in test_worker.py. A file changed, added or removed in the stored
folder makes the load fail.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import User
from cases.models import Case, Instance, SeriesRole
from cases.storage import open_stored
from inference import jobs, registry, worker
from inference.common import sha256_tree
from inference.errors import InferenceError
from inference.models import InferenceJob, JobState, ModelBackend, ModelVersion
from tests.inference.helpers import series_of, write_tiny_sd_pipeline

SD_OPTIONS = ("--strength", "1.0", "--steps", "2", "--resolution", "64", "--prompt", "t2 mri")


@pytest.fixture(scope="session")
def sd_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_sd_pipeline(tmp_path_factory.mktemp("sd"))


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # any hub access would fail loudly


def _register(pipeline: Path, version: str, *options: str) -> str:
    out = io.StringIO()
    call_command(
        "register_model", str(pipeline), "--task", "pseudomri", "--name", "sd-img2img",
        "--model-version", version, *options, stdout=out,
    )  # fmt: skip
    return out.getvalue()


def _stored(instance: Instance) -> pydicom.Dataset:
    with open_stored(instance.storage_key) as handle:
        return pydicom.dcmread(io.BytesIO(handle.read()))


def _run(job: InferenceJob) -> InferenceJob:
    worker.job_run(job_id=job.pk, heartbeat=False)
    job.refresh_from_db()
    return job


@pytest.mark.django_db
def test_a_pipeline_folder_registers_with_its_manifest_checksum(sd_pipeline: Path) -> None:
    output = _register(sd_pipeline, "1", *SD_OPTIONS, "--activate")
    assert "registered and activated" in output
    model = ModelVersion.objects.get(name="sd-img2img")
    assert model.backend == ModelBackend.PSEUDOMRI_SD and model.task == "pseudomri"
    assert model.checkpoint_path.is_dir()
    assert model.sha256 == sha256_tree(sd_pipeline) == sha256_tree(model.checkpoint_path)
    assert model.size_bytes == sum(p.stat().st_size for p in sd_pipeline.rglob("*") if p.is_file())
    assert model.config["strength"] == 1.0 and model.config["steps"] == 2
    assert model.config["prompt"] == "t2 mri" and model.config["resolution"] == 64
    assert model.config["guidance_scale"] == 1.0  # defaults are stored too


@pytest.mark.django_db
def test_bad_pipelines_and_settings_are_refused(
    sd_pipeline: Path, tmp_path: Path, pseudomri_checkpoint: Path
) -> None:
    with pytest.raises(CommandError, match="not a NC-CTM"):
        call_command(
            "register_model", str(sd_pipeline), "--task", "ncctm", "--name", "x",
            "--model-version", "1",
        )  # fmt: skip
    with pytest.raises(CommandError, match="strength must lie in"):
        _register(sd_pipeline, "2", "--strength", "1.5")
    with pytest.raises(CommandError, match="run no denoising step"):
        _register(sd_pipeline, "3", "--strength", "0.2", "--steps", "2")
    with pytest.raises(CommandError, match="multiple of 8"):
        _register(sd_pipeline, "4", "--resolution", "60")
    with pytest.raises(CommandError, match="Stable Diffusion pipeline folders only"):
        _register(pseudomri_checkpoint, "5", "--strength", "0.5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="holds no files"):
        _register(tmp_path / "empty", "6")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "weights.bin").write_bytes(b"\0" * 64)
    with pytest.raises(CommandError, match="no diffusers pipeline"):
        _register(tmp_path / "other", "7")
    with pytest.raises(CommandError, match="LOW < HIGH"):
        _register(sd_pipeline, "8", "--window", "300,-100")
    with pytest.raises(CommandError, match="the window needs lower < upper HU"):
        _register(sd_pipeline, "9", "--window", "nan,350")
    assert not ModelVersion.objects.exists()


@pytest.fixture
def sd_model(db: None, sd_pipeline: Path) -> ModelVersion:
    _register(sd_pipeline, "1", *SD_OPTIONS, "--activate")
    return ModelVersion.objects.get(name="sd-img2img")


@pytest.mark.django_db
def test_a_job_writes_a_synthetic_mr_series_on_the_ct_grid(
    cervical_case: Case, sd_model: ModelVersion
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    job = jobs.job_create(
        actor=None,
        case=cervical_case,
        source_series=ct,
        task="pseudomri",
        parameters={"seed": 3, "strength": "0.5", "steps": 4, "prompt": " t2 mri "},
    )
    assert job.model_version == sd_model
    assert job.parameters == {"seed": 3, "strength": 0.5, "steps": 4, "prompt": "t2 mri"}
    job = _run(job)
    assert job.state == JobState.SUCCEEDED, job.error
    assert "Generating 12 pseudo-MRI slices" in job.log
    mr = job.output_series.get()
    assert (mr.modality, mr.role, mr.source_series) == ("MR", SeriesRole.PSEUDO_MRI, ct)
    assert mr.description.startswith("SYNTHETIC")
    assert mr.frame_of_reference_uid == ct.frame_of_reference_uid
    assert mr.provenance["model_sha256"] == sd_model.sha256
    assert mr.instances.count() == ct.instances.count()
    sources = {i.instance_number: _stored(i) for i in ct.instances.all()}
    pixels = []
    for instance in mr.instances.all():
        ds = _stored(instance)
        source = sources[instance.instance_number]
        assert ds.ImagePositionPatient == source.ImagePositionPatient
        assert ds.ImageOrientationPatient == source.ImageOrientationPatient
        assert ds.PixelSpacing == source.PixelSpacing
        assert (ds.Rows, ds.Columns) == (source.Rows, source.Columns)
        assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert "sd-img2img 1" in ds.DerivationDescription
        pixels.append(ds.pixel_array)
    stack = np.stack(pixels)
    assert 0 < stack.max() <= 4095 and stack.std() > 0


@pytest.mark.django_db
def test_job_parameters_are_validated_against_the_backend(
    cervical_case: Case, sd_model: ModelVersion
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    for parameters, message in (
        ({"strength": 0}, r"strength must lie in \(0, 1\]"),
        ({"strength": 1.5}, r"strength must lie in \(0, 1\]"),
        ({"strength": "strong"}, "strength must be a number"),
        ({"strength": True}, "strength must be a number"),
        ({"prompt": "x" * 301}, "1 to 300 characters"),
        ({"prompt": "   "}, "1 to 300 characters"),
        ({"prompt": 7}, "prompt must be text"),
        ({"steps": 1, "strength": 0.5}, "run no denoising step"),
        ({"steps": 0}, "between 1 and 1000"),
        ({"guidance": 7}, "unknown parameters"),
    ):
        with pytest.raises(InferenceError, match=message):
            jobs.job_create(
                actor=None,
                case=cervical_case,
                source_series=ct,
                model_version=sd_model,
                parameters=parameters,
            )
    assert not InferenceJob.objects.exists()


@pytest.mark.django_db
def test_the_ddim_backend_takes_no_prompt(
    cervical_case: Case, pseudomri_model: ModelVersion
) -> None:
    ct = series_of(cervical_case, SeriesRole.CT)
    with pytest.raises(InferenceError, match=r"unknown parameters for .*: prompt, strength"):
        jobs.job_create(
            actor=None,
            case=cervical_case,
            source_series=ct,
            model_version=pseudomri_model,
            parameters={"prompt": "t2", "strength": 0.5},
        )


@pytest.mark.django_db
@pytest.mark.parametrize("tamper", ["modify", "add", "remove"])
def test_a_tampered_pipeline_folder_is_refused(
    cervical_case: Case, sd_model: ModelVersion, tamper: str
) -> None:
    folder = sd_model.checkpoint_path
    weights = sorted(folder.rglob("*.safetensors"))[0]
    if tamper == "modify":
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif tamper == "add":
        (folder / "unet" / "extra.py").write_text("print('hello')\n")
    else:
        (folder / "scheduler" / "scheduler_config.json").unlink()
    ct = series_of(cervical_case, SeriesRole.CT)
    job = _run(jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri"))
    assert job.state == JobState.FAILED and job.attempts == 1  # not retried
    assert "failed its sha256 check" in job.error
    assert "a file in it was modified, added or removed" in job.error
    assert not job.output_series.exists()
    ModelVersion.objects.filter(pk=sd_model.pk).update(is_active=False)
    with pytest.raises(InferenceError, match="sha256"):
        registry.model_version_activate(actor=None, model_version=sd_model)


def _zero_weights_in_place(path: Path) -> None:
    """Zero a safetensors file's tensor data, writing into the same file (same inode)."""
    with path.open("r+b") as handle:
        header = int.from_bytes(handle.read(8), "little")
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(8 + header)
        handle.write(b"\0" * (size - 8 - header))


@pytest.mark.django_db
def test_a_loaded_pipeline_keeps_the_verified_weights_when_a_file_changes_later(
    cervical_case: Case, sd_model: ModelVersion
) -> None:
    """A worker's cached pipeline runs the bytes that passed the check, never later ones.

    diffusers memory-maps safetensors files on a CPU; without a private copy, a weight file
    rewritten in place after the load would change the cached model without any check.
    """
    ct = series_of(cervical_case, SeriesRole.CT)

    def pixels(job: InferenceJob) -> np.ndarray:
        stack = [_stored(i).pixel_array for i in job.output_series.get().instances.all()]
        return np.stack(stack)

    first = _run(jobs.job_create(actor=None, case=cervical_case, source_series=ct,
                                     task="pseudomri", parameters={"seed": 3}))  # fmt: skip
    assert first.state == JobState.SUCCEEDED, first.error
    for weights in sd_model.checkpoint_path.rglob("*.safetensors"):
        _zero_weights_in_place(weights)
    second = _run(jobs.job_create(actor=None, case=cervical_case, source_series=ct,
                                      task="pseudomri", parameters={"seed": 3}))  # fmt: skip
    assert second.state == JobState.SUCCEEDED, second.error
    np.testing.assert_array_equal(pixels(second), pixels(first))
    # A fresh load (another worker, or this one after eviction) refuses the changed folder.
    from inference.runners import runner_cache_clear

    runner_cache_clear()
    third = _run(jobs.job_create(actor=None, case=cervical_case, source_series=ct,
                                     task="pseudomri", parameters={"seed": 3}))  # fmt: skip
    assert third.state == JobState.FAILED and "failed its sha256 check" in third.error


@pytest.mark.django_db
def test_bad_sd_parameters_are_a_400_through_the_api(
    coordinator: User, cervical_case: Case, sd_model: ModelVersion
) -> None:
    client = APIClient()
    client.force_authenticate(coordinator)
    ct = series_of(cervical_case, SeriesRole.CT)
    for parameters, message in (
        # PostgreSQL's jsonb cannot store NUL: it must be refused before, not fail the insert.
        ({"prompt": "t2\x00mri"}, "NUL"),
        # An integer too large for a float (JSON allows it).
        ({"strength": 10**400}, "strength must be a number"),
    ):
        body = {
            "case": str(cervical_case.pk),
            "series": str(ct.pk),
            "model_version": str(sd_model.pk),
            "parameters": parameters,
        }
        response = client.post("/api/v1/inference/jobs/", body, format="json")
        assert response.status_code == 400, response.content
        assert message in response.json()["detail"]
    assert not InferenceJob.objects.exists()
    with pytest.raises(CommandError, match="NUL"):
        _register(sd_model.checkpoint_path, "nul", "--prompt", "t2\x00mri")
    assert ModelVersion.objects.count() == 1


@pytest.mark.django_db
def test_links_and_special_files_in_a_pipeline_folder_are_refused(
    sd_pipeline: Path, tmp_path: Path, cervical_case: Case, sd_model: ModelVersion
) -> None:
    import os
    import shutil

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text("{}")
    linked = tmp_path / "linked"
    shutil.copytree(sd_pipeline, linked)
    (linked / "vae" / "extra.json").symlink_to(outside / "secret.json")
    with pytest.raises(CommandError, match="symbolic link"):
        _register(linked, "file-link")
    (linked / "vae" / "extra.json").unlink()
    (linked / "elsewhere").symlink_to(outside, target_is_directory=True)
    with pytest.raises(CommandError, match="symbolic link"):
        _register(linked, "dir-link")
    assert ModelVersion.objects.count() == 1

    # In the stored folder: a link or a FIFO (which no manifest line could describe) fails
    # the job at load and activation, like a changed file.
    ct = series_of(cervical_case, SeriesRole.CT)
    stored = sd_model.checkpoint_path
    for make, cleanup in (
        (lambda p: p.symlink_to(outside / "secret.json"), Path.unlink),
        (lambda p: os.mkfifo(p), Path.unlink),
    ):
        odd = stored / "unet" / "odd.json"
        make(odd)
        job = _run(
            jobs.job_create(actor=None, case=cervical_case, source_series=ct, task="pseudomri")
        )
        assert job.state == JobState.FAILED and "odd.json" in job.error, job.error
        with pytest.raises(InferenceError, match=r"odd\.json"):
            registry.model_version_activate(actor=None, model_version=sd_model)
        cleanup(odd)
