"""Pseudo-MRI core: normalization, diffusion training vs an intensity baseline, sampling,
checkpoints and the local Stable Diffusion img2img backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.common import CheckpointError
from inference.pseudomri import (
    IntensityMappingBaseline,
    PairedVolume,
    PseudoMRIConfig,
    PseudoMRIGenerator,
    StableDiffusionImg2ImgBackend,
    TrainResult,
    compare_generators,
    denormalize_mri,
    generate_volume,
    load_model,
    normalize_ct,
    normalize_mri,
    phantom_pairs,
    save_model,
    train_pseudomri,
)
from tests.inference.helpers import write_tiny_sd_pipeline

# About 100 s on one core; measured margins over the baseline are wide (PSNR +6 dB).
SMALL = PseudoMRIConfig(iterations=400)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def train_pairs() -> list[PairedVolume]:
    return phantom_pairs(range(8), shape=(32, 64, 64))


@pytest.fixture(scope="module")
def held_out() -> list[PairedVolume]:
    return phantom_pairs(range(100, 102), shape=(32, 64, 64))


@pytest.fixture(scope="module")
def trained(train_pairs: list[PairedVolume]) -> TrainResult:
    return train_pseudomri(train_pairs, SMALL)


def test_normalization_ranges_and_round_trip() -> None:
    ct = normalize_ct(np.array([[[-2000, 0, 3000]]]), ((-1000.0, 1000.0), (-100.0, 100.0)))
    assert ct.shape == (1, 2, 1, 3)
    np.testing.assert_allclose(ct[0, :, 0], [[-1, 0, 1], [-1, 0, 1]])
    mri = np.array([0.0, 500.0, 1000.0])
    np.testing.assert_allclose(denormalize_mri(normalize_mri(mri, 1000.0), 1000.0), mri)
    assert normalize_mri(np.array([5000.0]), 1000.0)[0] == 1.0


def test_baseline_learns_a_non_monotone_tissue_mapping() -> None:
    # Fat (-100 HU) is bright, muscle (50 HU) dark and CSF (10 HU) bright on T2.
    hu = np.array([-1000, -100, 10, 50], np.int16)[np.arange(64) % 4].reshape(1, 8, 8)
    signal = {-1000: 0, -100: 1250, 10: 2200, 50: 380}
    mri = np.vectorize(signal.get)(hu).astype(np.uint16)
    baseline = IntensityMappingBaseline(n_bins=8).fit([PairedVolume("toy", hu, mri)])
    np.testing.assert_allclose(baseline.predict(hu), mri, atol=1e-3)


def test_training_reduces_loss(trained: TrainResult) -> None:
    assert len(trained.losses) == SMALL.iterations
    assert np.mean(trained.losses[-20:]) < 0.1 * np.mean(trained.losses[:20])
    assert trained.config.mri_scale > 1000  # fitted on the phantoms' 12-bit T2 scale


def test_model_beats_the_intensity_baseline_on_held_out_slices(
    trained: TrainResult, train_pairs: list[PairedVolume], held_out: list[PairedVolume]
) -> None:
    generator = PseudoMRIGenerator(trained.model, trained.config)
    baseline = IntensityMappingBaseline().fit(train_pairs)
    scores = compare_generators(
        {
            "model": lambda ct: generator.generate_volume(ct, seed=0),
            "baseline": baseline.predict,
        },
        held_out,
        scale=trained.config.mri_scale,
    )
    model, base = scores["model"], scores["baseline"]
    assert model["psnr"] > base["psnr"] + 3.0, scores
    assert model["mae"] < 0.95 * base["mae"], scores
    assert model["ssim"] > base["ssim"], scores


def test_ddim_sampling_is_deterministic_for_a_seed(
    trained: TrainResult, held_out: list[PairedVolume]
) -> None:
    ct = held_out[0].ct_hu[10:14]
    generator = PseudoMRIGenerator(trained.model, trained.config)
    first = generator.generate_slices(ct, steps=3, seed=7)
    again = generator.generate_slices(ct, steps=3, seed=7)
    one_by_one = generator.generate_slices(ct, steps=3, seed=7, batch_size=1)
    other = generator.generate_slices(ct, steps=3, seed=8)
    np.testing.assert_array_equal(first, again)
    # Another batch size changes only floating-point rounding, not the noise drawn.
    np.testing.assert_allclose(first, one_by_one, atol=0.05)
    assert np.abs(first - other).max() > 1.0


def test_generate_volume_keeps_the_ct_grid(
    trained: TrainResult, held_out: list[PairedVolume]
) -> None:
    ct = held_out[1].ct_hu[:5]
    volume = generate_volume(ct, model=trained.model, config=trained.config, steps=1)
    assert volume.shape == ct.shape and volume.dtype == np.float32
    assert np.all(np.isfinite(volume))
    assert volume.min() >= 0.0 and volume.max() <= trained.config.mri_scale


def test_checkpoint_round_trip_and_tamper_refusal(
    tmp_path: Path, trained: TrainResult, held_out: list[PairedVolume]
) -> None:
    path = tmp_path / "pseudomri.pt"
    sha256 = save_model(path, trained.model, trained.config)
    model, config, _ = load_model(path, sha256=sha256)
    assert config == trained.config
    ct = held_out[0].ct_hu[:2]
    np.testing.assert_array_equal(
        PseudoMRIGenerator(model, config).generate_slices(ct, seed=1),
        PseudoMRIGenerator(trained.model, trained.config).generate_slices(ct, seed=1),
    )
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(CheckpointError, match="sha256"):
        load_model(path, sha256=sha256)


def test_stable_diffusion_backend_loads_locally_and_keeps_the_slice_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held_out: list[PairedVolume]
) -> None:
    write_tiny_sd_pipeline(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # any hub access would now fail loudly
    backend = StableDiffusionImg2ImgBackend(
        tmp_path / "pipeline", steps=2, strength=1.0, resolution=64
    )
    ct = held_out[0].ct_hu[12:14]
    images = backend.generate_slices(ct, seed=3)
    assert images.shape == (2, 64, 64) and images.dtype == np.float32
    assert np.all(np.isfinite(images)) and images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, backend.generate_slices(ct, seed=3))
    with pytest.raises(FileNotFoundError):
        StableDiffusionImg2ImgBackend(tmp_path / "absent")
