"""NC-CTM core: transforms, training against a shuffled-label control, inference, checkpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from inference.common import CheckpointError
from inference.ncctm import (
    FOREGROUND,
    NCCTMConfig,
    RandFlipLeftRightd,
    SegmentationCase,
    TrainResult,
    cross_validate,
    evaluate_model,
    flip_left_right,
    keep_largest_component,
    load_model,
    phantom_cases,
    resample_to_spacing,
    save_model,
    segment_volume,
    shuffled_label_control,
    structure_metrics,
    train_model,
    window_hu,
)
from readerstudy.statistics import segmentation_overlap

# Small enough for CI (about 15 s per training run on one core), large enough to learn.
SMALL = NCCTMConfig(
    target_spacing=(5.0, 1.875, 1.875),
    patch_size=(16, 48, 48),
    channels=(8, 16, 32),
    strides=(2, 2),
    iterations=300,
    batch_size=2,
    learning_rate=3e-3,
)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # One thread: faster than two on a CPU shared with other jobs, and repeatable.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def cases() -> list[SegmentationCase]:
    # 32 x 96 x 96 phantoms cut to 32 x 64 x 64 at seed-dependent offsets: the canal moves.
    return phantom_cases(12, seed=0, shape=(32, 96, 96), crop=(32, 64, 64))


@pytest.fixture(scope="module")
def trained(cases: list[SegmentationCase]) -> TrainResult:
    return train_model(cases[:8], SMALL)


@pytest.fixture(scope="module")
def control(cases: list[SegmentationCase]) -> TrainResult:
    return train_model(shuffled_label_control(cases[:8], seed=0), SMALL)


def test_window_hu_clips_and_scales() -> None:
    out = window_hu(np.array([-1000, -150, 50, 250, 3000]), (-150.0, 250.0))
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 1.0, 1.0])
    assert out.dtype == np.float32


def test_resampling_there_and_back_lands_on_the_input_grid() -> None:
    volume = np.zeros((20, 30, 40), np.float32)
    volume[10, 15, 20] = 1.0
    fine = resample_to_spacing(volume, (3.0, 1.5, 1.0), (1.0, 1.0, 1.0))
    assert fine.shape == (58, 44, 40)
    back = resample_to_spacing(fine, (1.0, 1.0, 1.0), (3.0, 1.5, 1.0), output_shape=volume.shape)
    assert back.shape == volume.shape
    assert np.unravel_index(np.argmax(back), back.shape) == (10, 15, 20)


def test_flip_mirrors_the_left_right_axis() -> None:
    volume = np.zeros((2, 3, 4), np.int16)
    volume[..., 0] = 7  # patient's right edge (x increases towards the left)
    assert np.all(flip_left_right(volume)[..., -1] == 7)
    assert np.all(flip_left_right(volume)[..., 0] == 0)


def test_random_flip_moves_image_and_label_together() -> None:
    image = np.random.default_rng(0).normal(size=(1, 4, 6, 8)).astype(np.float32)
    label = (image > 0).astype(np.uint8)
    flip = RandFlipLeftRightd(keys=("image", "label"), prob=0.5)
    flip.set_random_state(0)
    flipped = 0
    for _ in range(20):
        out = flip({"image": image, "label": label})
        np.testing.assert_array_equal(out["label"], (out["image"] > 0).astype(np.uint8))
        flipped += int(not np.array_equal(out["image"], image))
        if not np.array_equal(out["image"], image):
            np.testing.assert_array_equal(out["image"], image[..., ::-1])
    assert 0 < flipped < 20  # both outcomes happen


def test_keep_largest_component_drops_detached_blobs() -> None:
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[1:6, 1:6, 1:6] = 1
    labels[3, 3, 6:8] = 2  # a root attached to the canal: kept
    labels[8, 8, 8] = 1  # a detached speck: dropped
    out = keep_largest_component(labels)
    assert out[8, 8, 8] == 0
    assert np.count_nonzero(out == 2) == 2
    assert np.count_nonzero(out == 1) == 125


def test_structure_metrics_use_the_statistics_module() -> None:
    ref = np.zeros((4, 4, 4), np.uint8)
    ref[1:3, 1:3, 1:3] = 1
    ref[0, 0, 0] = 2
    pred = ref.copy()
    pred[1, 1, 1] = 0
    pred[3, 3, 3] = 2
    metrics = structure_metrics(pred, ref, ("dural_canal", "nerve_roots"))
    expected = segmentation_overlap(pred == 1, ref == 1)
    assert metrics["dural_canal"]["dice"] == pytest.approx(expected.dice)
    assert metrics["nerve_roots"]["precision"] == pytest.approx(0.5)
    assert set(metrics) == {"dural_canal", "nerve_roots", FOREGROUND}
    assert set(metrics[FOREGROUND]) == {"dice", "jaccard", "precision", "recall"}


def test_a_fixed_position_prior_scores_low(cases: list[SegmentationCase]) -> None:
    # What a model that learned only "where the canal usually is" would predict: the canal
    # moves between cases, so this must fail here (it scores ~0.76 on centred canals).
    prior = np.mean([c.labels > 0 for c in cases[:8]], axis=0) >= 0.5
    dice = np.mean([segmentation_overlap(prior, c.labels > 0).dice for c in cases[8:]])
    assert dice < 0.4


def test_training_reduces_loss(trained: TrainResult) -> None:
    assert len(trained.losses) == SMALL.iterations
    assert np.mean(trained.losses[-20:]) < 0.5 * np.mean(trained.losses[:20])


def test_model_beats_a_shuffled_label_control(
    cases: list[SegmentationCase], trained: TrainResult, control: TrainResult
) -> None:
    held_out = cases[8:]
    model_metrics, per_case = evaluate_model(trained.model, held_out, SMALL)
    control_metrics, _ = evaluate_model(control.model, held_out, SMALL)
    model_dice = model_metrics[FOREGROUND]["dice"]
    control_dice = control_metrics[FOREGROUND]["dice"]
    assert set(per_case) == {c.case_id for c in held_out}
    assert model_metrics["dural_canal"]["dice"] > 0.8
    assert model_dice > 0.75
    assert model_dice - control_dice > 0.4, (model_dice, control_dice)


def test_segment_volume_returns_a_mask_on_the_input_grid(
    cases: list[SegmentationCase], trained: TrainResult
) -> None:
    # Another spacing and an odd shape: resampling in and out must land on this grid.
    case = cases[8]
    spacing = (4.0, 2.2, 1.6)
    ct = resample_to_spacing(case.ct_hu, case.spacing_mm, spacing)
    ref = resample_to_spacing(case.labels, case.spacing_mm, spacing, mode="nearest")
    mask = segment_volume(ct, spacing, model=trained.model, config=SMALL)
    assert mask.shape == ct.shape
    assert mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 1, 2}
    assert segmentation_overlap(mask > 0, ref > 0).dice > 0.7


def test_cross_validation_keeps_folds_and_test_split_apart() -> None:
    cases = phantom_cases(6, seed=50, shape=(16, 64, 64), crop=(16, 48, 48))
    config = NCCTMConfig(
        target_spacing=(10.0, 2.8125, 2.8125),
        patch_size=(16, 32, 32),
        channels=(4, 8),
        strides=(2,),
        iterations=3,
    )
    stages: set[str] = set()
    result = cross_validate(
        cases, config, n_folds=2, test_size=2, progress=lambda s, *_: stages.add(s)
    )
    assert stages == {"fold-1", "fold-2", "final"}
    assert len(result.folds) == 2
    dev = {c.case_id for c in cases} - set(result.test_ids)
    assert len(result.test_ids) == 2 and len(dev) == 4
    val = [set(f.val_ids) for f in result.folds]
    assert val[0].isdisjoint(val[1]) and val[0] | val[1] == dev
    for fold in result.folds:
        assert set(fold.train_ids) == dev - set(fold.val_ids)
        assert set(fold.metrics) == {"dural_canal", "nerve_roots", FOREGROUND}
    assert set(result.test_metrics) == {"dural_canal", "nerve_roots", FOREGROUND}
    assert result.summary()["test_metrics"] == result.test_metrics
    assert set(result.cv_metrics[FOREGROUND]) == {"dice", "jaccard", "precision", "recall"}


def test_checkpoint_round_trip_and_tamper_refusal(
    tmp_path: Path, cases: list[SegmentationCase], trained: TrainResult
) -> None:
    path = tmp_path / "ncctm.pt"
    sha256 = save_model(path, trained.model, SMALL, {"note": "test"})
    model, config, metadata = load_model(path, sha256=sha256)
    assert config == SMALL and metadata == {"note": "test"}
    case = cases[9]
    np.testing.assert_array_equal(
        segment_volume(case.ct_hu, case.spacing_mm, model=model, config=config),
        segment_volume(case.ct_hu, case.spacing_mm, model=trained.model, config=SMALL),
    )

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        load_model(path, sha256=sha256)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.pt", sha256=sha256)
