"""Slice-wise DDPM training of the pseudo-MRI denoiser on paired CT / MRI."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from inference.common import seed_everything
from inference.pseudomri.config import PseudoMRIConfig
from inference.pseudomri.data import PairedVolume, stack_slices
from inference.pseudomri.model import ConditionalDenoiser, train_scheduler
from inference.pseudomri.transforms import fit_mri_scale, normalize_ct, normalize_mri

#: ``progress(step, total, loss)`` after each optimizer step.
ProgressCallback = Callable[[int, int, float], None]


@dataclass(eq=False)
class TrainResult:
    """The trained denoiser (EMA weights), its configuration with the fitted MRI scale, losses."""

    model: ConditionalDenoiser
    config: PseudoMRIConfig
    losses: list[float]


def train_pseudomri(
    volumes: Sequence[PairedVolume],
    config: PseudoMRIConfig,
    *,
    device: torch.device | str = "cpu",
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train a fresh denoiser on every axial slice of ``volumes``.

    Each step draws slices, a timestep per slice and Gaussian noise, noises the MRI with the
    DDPM schedule and regresses the clean MRI (x0) from it and the CT windows.

    Args:
        volumes: Paired training volumes (all slices share one in-plane size).
        config: Model and optimizer settings; ``mri_scale`` is refitted on ``volumes``.
        device: Device to train on.
        progress: Called after every step.

    Returns:
        The model with averaged (EMA) weights in eval mode, the fitted config and losses.
    """
    seed_everything(config.seed)
    config = dataclasses.replace(config, mri_scale=fit_mri_scale(v.mri for v in volumes))
    ct_hu, mri = stack_slices(volumes)
    condition = torch.from_numpy(normalize_ct(ct_hu, config.ct_windows))
    target = torch.from_numpy(normalize_mri(mri, config.mri_scale))[:, None]
    scheduler: Any = train_scheduler(config)
    model = ConditionalDenoiser(config).to(device)
    # A running average of the weights predicts far more smoothly than the last iterate
    # of a short, noisy training run.
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    lr_schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.learning_rate, total_steps=config.iterations, pct_start=0.1
    )
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    model.train()
    for step in range(config.iterations):
        index = torch.from_numpy(rng.integers(0, len(target), size=config.batch_size))
        x0, cond = target[index], condition[index]
        flip = torch.from_numpy(rng.random(config.batch_size) < config.flip_prob)
        x0 = torch.where(flip.view(-1, 1, 1, 1), x0.flip(-1), x0)
        cond = torch.where(flip.view(-1, 1, 1, 1), cond.flip(-1), cond)
        noise = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, config.num_train_timesteps, (config.batch_size,), generator=generator)
        noisy = scheduler.add_noise(x0, noise, t)
        prediction = model(noisy.to(device), cond.to(device), t.to(device))
        target_x0 = x0.to(device)
        # The L1 term keeps edges sharper than squared error alone within a short budget.
        loss = F.mse_loss(prediction, target_x0) + config.l1_weight * F.l1_loss(
            prediction, target_x0
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_schedule.step()
        # Warm-up of the decay (as in diffusers' EMAModel) so early weights fade quickly.
        decay = min(config.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for averaged, current in zip(ema.parameters(), model.parameters(), strict=True):
                averaged.lerp_(current, 1.0 - decay)
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, config.iterations, losses[-1])
    return TrainResult(model=ema, config=config, losses=losses)
