"""Intensity normalization of CT condition and MRI target, both to ``[-1, 1]``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

#: Percentile of the training MRI that is mapped to +1 (robust to a few hot voxels).
MRI_SCALE_PERCENTILE = 99.9


def normalize_ct(
    hu: npt.ArrayLike, windows: Sequence[tuple[float, float]]
) -> npt.NDArray[np.float32]:
    """Map CT slices to one ``[-1, 1]`` channel per HU window.

    Args:
        hu: ``(n, y, x)`` CT slices in HU.
        windows: ``(lower, upper)`` HU bounds per channel.

    Returns:
        ``(n, len(windows), y, x)`` float32.
    """
    slices = np.asarray(hu, dtype=np.float32)
    if slices.ndim != 3:
        raise ValueError(f"expected (n, y, x) CT slices, got shape {slices.shape}")
    channels = [np.clip((slices - lo) / (hi - lo), 0.0, 1.0) for lo, hi in windows]
    return (np.stack(channels, axis=1) * 2.0 - 1.0).astype(np.float32)


def normalize_mri(mri: npt.ArrayLike, scale: float) -> npt.NDArray[np.float32]:
    """Map MRI magnitudes ``[0, scale]`` to ``[-1, 1]`` (brighter voxels are clipped)."""
    out = np.clip(np.asarray(mri, dtype=np.float32) / scale, 0.0, 1.0) * 2.0 - 1.0
    return out.astype(np.float32)


def denormalize_mri(x: npt.ArrayLike, scale: float) -> npt.NDArray[np.float32]:
    """Inverse of :func:`normalize_mri`, clipping to the valid range."""
    out = (np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0) + 1.0) * 0.5 * scale
    return out.astype(np.float32)


def fit_mri_scale(volumes: Iterable[npt.ArrayLike]) -> float:
    """The intensity that :func:`normalize_mri` should map to +1, from training MRI."""
    values = np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in volumes])
    scale = float(np.percentile(values, MRI_SCALE_PERCENTILE))
    if scale <= 0:
        raise ValueError("training MRI is empty or all zero")
    return scale
