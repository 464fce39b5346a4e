"""DDIM sampling of pseudo-MRI slices from CT, deterministic for a given seed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from inference.pseudomri.config import PseudoMRIConfig
from inference.pseudomri.model import ConditionalDenoiser, sampling_scheduler
from inference.pseudomri.transforms import denormalize_mri, normalize_ct

#: ``progress(done_slices, total_slices)`` after each batch.
SliceProgress = Callable[[int, int], None]


class PseudoMRIGenerator:
    """A loaded denoiser that turns CT slices into T2-weighted-like slices.

    Args:
        model: Trained denoiser (put in eval mode here).
        config: Its configuration (with the fitted ``mri_scale``).
        device: Device to sample on; the model is moved there.
    """

    def __init__(
        self,
        model: ConditionalDenoiser,
        config: PseudoMRIConfig,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config

    @torch.inference_mode()
    def generate_slices(
        self,
        ct_hu: npt.ArrayLike,
        *,
        steps: int | None = None,
        seed: int = 0,
        batch_size: int = 16,
        progress: SliceProgress | None = None,
    ) -> npt.NDArray[np.float32]:
        """Sample one MRI slice per CT slice.

        The starting noise of all slices is drawn at once from ``seed`` on the CPU, so the
        same seed gives the same slices whatever ``batch_size`` or device (up to
        floating-point rounding, which differs between batch sizes).

        Args:
            ct_hu: ``(n, y, x)`` CT slices in HU (any in-plane size divisible by
                ``2 ** (levels - 1)``).
            steps: DDIM steps; ``config.inference_steps`` by default.
            seed: Seed of the starting noise.
            batch_size: Slices per forward pass.
            progress: Called after each batch.

        Returns:
            ``(n, y, x)`` float32 MRI-like intensities in the training MRI's units.
        """
        condition = torch.from_numpy(normalize_ct(ct_hu, self.config.ct_windows))
        n = condition.shape[0]
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn((n, 1, *condition.shape[2:]), generator=generator)
        scheduler: Any = sampling_scheduler(self.config)
        scheduler.set_timesteps(steps or self.config.inference_steps)
        out = np.empty((n, *condition.shape[2:]), dtype=np.float32)
        for start in range(0, n, batch_size):
            cond = condition[start : start + batch_size].to(self.device)
            x = noise[start : start + batch_size].to(self.device)
            for t in scheduler.timesteps:
                x0 = self.model(x, cond, t)
                # eta = 0: deterministic DDIM; the only randomness is the starting noise.
                x = scheduler.step(x0, t, x, eta=0.0).prev_sample
            out[start : start + len(x)] = x[:, 0].float().cpu().numpy()
            if progress is not None:
                progress(min(start + batch_size, n), n)
        return denormalize_mri(out, self.config.mri_scale)

    def generate_volume(
        self,
        ct_hu: npt.ArrayLike,
        *,
        steps: int | None = None,
        seed: int = 0,
        batch_size: int = 16,
        progress: SliceProgress | None = None,
    ) -> npt.NDArray[np.float32]:
        """Turn every axial slice of a ``(z, y, x)`` CT volume into a pseudo-MRI slice."""
        volume = np.asarray(ct_hu)
        if volume.ndim != 3:
            raise ValueError(f"expected a (z, y, x) CT volume, got shape {volume.shape}")
        return self.generate_slices(
            volume, steps=steps, seed=seed, batch_size=batch_size, progress=progress
        )


def generate_volume(
    ct_hu: npt.ArrayLike,
    *,
    model: ConditionalDenoiser,
    config: PseudoMRIConfig,
    steps: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> npt.NDArray[np.float32]:
    """Generate a T2-weighted-like volume on the grid of ``ct_hu``.

    Args:
        ct_hu: ``(z, y, x)`` CT in HU.
        model: Trained denoiser.
        config: Its configuration.
        steps: DDIM steps (``config.inference_steps`` by default).
        seed: Seed of the starting noise; the same seed gives the same volume.
        device: Device to sample on.

    Returns:
        ``(z, y, x)`` float32 MRI-like intensities.
    """
    return PseudoMRIGenerator(model, config, device).generate_volume(ct_hu, steps=steps, seed=seed)
