"""Image similarity of pseudo-MRI to real MRI: MAE, PSNR and SSIM (MONAI metrics)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import torch
from monai.metrics import PSNRMetric, SSIMMetric

from inference.pseudomri.data import PairedVolume

MEASURES = ("mae", "psnr", "ssim")
#: A generator maps a ``(z, y, x)`` CT volume in HU to an MRI-like volume.
VolumeGenerator = Callable[[npt.NDArray[np.int16]], npt.NDArray[np.float32]]


def image_metrics(
    pred: npt.ArrayLike, ref: npt.ArrayLike, *, scale: float, ssim_window: int = 7
) -> dict[str, float]:
    """Mean slice-wise MAE, PSNR (dB) and SSIM with intensities divided by ``scale``.

    Both images are clipped to ``[0, scale]`` and scaled to ``[0, 1]``, so PSNR and SSIM use
    a data range of 1 and MAE is a fraction of the MRI's bright level.

    Args:
        pred: ``(n, y, x)`` predicted slices.
        ref: ``(n, y, x)`` real MRI slices.
        scale: Intensity mapped to 1 (the model's ``mri_scale``).
        ssim_window: SSIM Gaussian window (7 suits 64-pixel slices; 11 is the usual).

    Returns:
        ``{"mae": ..., "psnr": ..., "ssim": ...}``.
    """
    p = np.clip(np.asarray(pred, dtype=np.float32) / scale, 0.0, 1.0)
    r = np.clip(np.asarray(ref, dtype=np.float32) / scale, 0.0, 1.0)
    if p.shape != r.shape or p.ndim != 3:
        raise ValueError(f"expected two (n, y, x) stacks of one shape, got {p.shape}, {r.shape}")
    pt, rt = torch.from_numpy(p)[:, None], torch.from_numpy(r)[:, None]
    psnr = PSNRMetric(max_val=1.0)(pt, rt)
    ssim = SSIMMetric(spatial_dims=2, data_range=1.0, win_size=ssim_window)(pt, rt)
    assert isinstance(psnr, torch.Tensor) and isinstance(ssim, torch.Tensor)
    return {
        "mae": float(np.abs(p - r).mean()),
        "psnr": float(psnr.mean()),
        "ssim": float(ssim.mean()),
    }


def compare_generators(
    generators: dict[str, VolumeGenerator],
    volumes: Sequence[PairedVolume],
    *,
    scale: float,
) -> dict[str, dict[str, float]]:
    """Score several generators on the same held-out pairs.

    Args:
        generators: Name -> generator (e.g. ``{"model": ..., "baseline": ...}``).
        volumes: Held-out paired volumes.
        scale: Intensity mapped to 1 for all of them.

    Returns:
        ``{name: {"mae", "psnr", "ssim"}}`` over all slices of all volumes.
    """
    ref = np.concatenate([v.mri for v in volumes]).astype(np.float32)
    out = {}
    for name, generate in generators.items():
        pred = np.concatenate([generate(v.ct_hu) for v in volumes])
        out[name] = image_metrics(pred, ref, scale=scale)
    return out
