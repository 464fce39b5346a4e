"""Training, registration and reaping commands (small, minutes-long versions of the figures)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from inference.common import sha256_file
from inference.models import InferenceJob, ModelVersion

pytestmark = pytest.mark.django_db


def _call(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.slow
def test_train_ncctm_learns_far_above_a_shuffled_label_control(tmp_path: Path) -> None:
    # The small configuration of the core tests: 8 training and 4 held-out phantoms whose
    # canal position and shape vary, about a minute for both trainings on one core.
    output = _call(
        "train_ncctm", "--phantoms", "12", "--held-out", "4", "--shape", "32,96,96",
        "--crop", "32,64,64", "--spacing", "5,1.875,1.875", "--patch", "16,48,48",
        "--channels", "8,16,32", "--iterations", "300", "--control", "--activate",
        "--model-version", "small", "--out", str(tmp_path),
    )  # fmt: skip
    assert "step 300/300" in output and "registered and activated" in output
    model = ModelVersion.objects.get(task="ncctm", name="ncctm-unet", version="small")
    assert model.is_active and model.sha256 == sha256_file(model.checkpoint_path)
    test = model.metrics["test"]
    control = model.metrics["shuffled_label_control"]
    assert test["dural_canal"]["dice"] > 0.8, model.metrics["summary"]
    assert test["foreground"]["dice"] - control["foreground"]["dice"] > 0.4, model.metrics
    assert model.metrics["margin_over_control"] > 0.4
    assert len(model.training_data["test_ids"]) == 4
    assert set(model.training_data["test_ids"]).isdisjoint(model.training_data["train_ids"])
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["metrics"]["test"] == test


def test_train_ncctm_with_cross_validation_keeps_the_test_split_apart(tmp_path: Path) -> None:
    output = _call(
        "train_ncctm", "--phantoms", "6", "--held-out", "2", "--folds", "2",
        "--shape", "16,64,64", "--crop", "16,48,48", "--spacing", "10,2.8125,2.8125",
        "--patch", "16,32,32", "--channels", "4,8", "--iterations", "3", "--no-register",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert "fold-1: step 3/3" in output and "fold-2: step 3/3" in output
    assert "final: step 3/3" in output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    folds = metrics["metrics"]["cross_validation"]["folds"]
    test_ids = set(metrics["training_data"]["test_ids"])
    assert len(folds) == 2 and len(test_ids) == 2
    assert all(test_ids.isdisjoint(fold["val_ids"]) for fold in folds)
    assert not ModelVersion.objects.exists()


@pytest.mark.slow
def test_train_pseudomri_beats_the_intensity_baseline(tmp_path: Path) -> None:
    output = _call(
        "train_pseudomri", "--phantoms", "8", "--held-out", "2", "--iterations", "400",
        "--model-version", "small", "--out", str(tmp_path),
    )  # fmt: skip
    assert "registered" in output
    model = ModelVersion.objects.get(task="pseudomri", version="small")
    assert not model.is_active
    scores = model.metrics["test"]
    assert scores["model"]["psnr"] > scores["baseline"]["psnr"], scores
    assert scores["model"]["ssim"] > scores["baseline"]["ssim"], scores
    assert scores["model"]["mae"] < scores["baseline"]["mae"], scores
    assert model.metrics["beats_baseline"] is True
    assert model.config["inference_steps"] == 2 and model.config["mri_scale"] > 1000


def test_register_model_verifies_and_registers(
    ncctm_checkpoint: Path, pseudomri_checkpoint: Path
) -> None:
    output = _call(
        "register_model", str(ncctm_checkpoint), "--task", "ncctm", "--name", "imported",
        "--model-version", "3", "--activate",
    )  # fmt: skip
    assert "registered and activated" in output
    model = ModelVersion.objects.get(name="imported")
    assert model.sha256 == sha256_file(ncctm_checkpoint)
    with pytest.raises(CommandError, match="not a usable Pseudo-MRI"):
        call_command(
            "register_model", str(ncctm_checkpoint), "--task", "pseudomri", "--name", "x",
            "--model-version", "1",
        )  # fmt: skip
    with pytest.raises(CommandError, match="already registered"):
        call_command(
            "register_model", str(ncctm_checkpoint), "--task", "ncctm", "--name", "imported",
            "--model-version", "3",
        )  # fmt: skip
    assert ModelVersion.objects.count() == 1


def test_bad_training_options_are_refused() -> None:
    with pytest.raises(CommandError, match="divisible"):
        call_command("train_ncctm", "--phantoms", "4", "--patch", "15,48,48", "--no-register")
    with pytest.raises(CommandError, match="held-out"):
        call_command("train_ncctm", "--phantoms", "2", "--held-out", "2", "--no-register")
    with pytest.raises(CommandError):
        call_command("train_ncctm", "--phantoms", "4", "--shape", "32,x,96")


def test_reap_command_reports_nothing_to_do() -> None:
    assert "0 stale jobs" in _call("reap_inference_jobs")
    assert not InferenceJob.objects.exists()
