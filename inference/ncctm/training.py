"""Patch-based training of the NC-CTM U-Net and evaluation on whole volumes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from monai.losses import DiceCELoss
from torch import nn

from inference.common import seed_everything
from inference.ncctm.config import NCCTMConfig
from inference.ncctm.data import SegmentationCase
from inference.ncctm.inference import NCCTMSegmenter
from inference.ncctm.metrics import Metrics, mean_metrics, structure_metrics
from inference.ncctm.network import build_network
from inference.ncctm.transforms import (
    RandFlipLeftRightd,
    crop_patch,
    resample_to_spacing,
    sample_patch_corners,
    window_hu,
)

#: ``progress(step, total, loss)`` after each optimizer step.
ProgressCallback = Callable[[int, int, float], None]


@dataclass(frozen=True, eq=False)
class PreparedCase:
    """A case at the network's spacing: windowed image ``(1, z, y, x)`` and labels ``(z, y, x)``."""

    case_id: str
    image: npt.NDArray[np.float32]
    labels: npt.NDArray[np.uint8]


@dataclass(eq=False)
class TrainResult:
    """A trained network and its per-step training loss."""

    model: nn.Module
    losses: list[float]


def prepare_case(case: SegmentationCase, config: NCCTMConfig) -> PreparedCase:
    """Window and resample a case, padding it to at least one patch."""
    image = resample_to_spacing(
        window_hu(case.ct_hu, config.hu_window), case.spacing_mm, config.target_spacing
    )
    labels = resample_to_spacing(
        case.labels, case.spacing_mm, config.target_spacing, mode="nearest"
    ).astype(np.uint8)
    pad = [(0, max(0, p - s)) for p, s in zip(config.patch_size, labels.shape, strict=True)]
    image = np.pad(image, pad)  # 0 is the window floor: pads look like fat/air, not tissue
    labels = np.pad(labels, pad)
    return PreparedCase(case.case_id, image[None], labels)


def _batches(
    cases: Sequence[PreparedCase], config: NCCTMConfig, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    flip = RandFlipLeftRightd(keys=("image", "label"), prob=config.flip_prob)
    flip.set_random_state(int(rng.integers(2**31)))
    images, labels = [], []
    for index in rng.integers(0, len(cases), size=config.batch_size):
        case = cases[int(index)]
        corner = sample_patch_corners(case.labels, config.patch_size, 1, config.pos_fraction, rng)[
            0
        ]
        patch = flip(
            {
                "image": crop_patch(case.image, corner, config.patch_size),
                "label": crop_patch(case.labels, corner, config.patch_size)[None],
            }
        )
        images.append(patch["image"])
        labels.append(patch["label"])
    return torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(labels).astype(np.int64))


def train_model(
    cases: Sequence[SegmentationCase],
    config: NCCTMConfig,
    *,
    device: torch.device | str = "cpu",
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train a fresh network on random patches of ``cases``.

    Args:
        cases: Training cases.
        config: Network, sampling and optimizer settings.
        device: Device to train on.
        progress: Called after every step.

    Returns:
        The trained network (in eval mode) and the loss of every step.
    """
    if not cases:
        raise ValueError("training needs at least one case")
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    prepared = [prepare_case(case, config) for case in cases]
    model = build_network(config).to(device)
    # Dice handles the tiny foreground share; cross-entropy gives smooth early gradients.
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=config.iterations, pct_start=0.1
    )
    model.train()
    losses: list[float] = []
    for step in range(config.iterations):
        images, labels = _batches(prepared, config, rng)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images.to(device)), labels.to(device))
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, config.iterations, losses[-1])
    return TrainResult(model=model.eval(), losses=losses)


def evaluate_model(
    model: nn.Module,
    cases: Sequence[SegmentationCase],
    config: NCCTMConfig,
    *,
    device: torch.device | str = "cpu",
) -> tuple[Metrics, dict[str, Metrics]]:
    """Segment each case on its own grid and score it against its labels.

    Returns:
        The mean metrics and the metrics of each case, keyed by case id.
    """
    segmenter = NCCTMSegmenter(model, config, device)
    per_case = {
        case.case_id: structure_metrics(
            segmenter(case.ct_hu, case.spacing_mm), case.labels, config.structures
        )
        for case in cases
    }
    return mean_metrics(list(per_case.values())), per_case
