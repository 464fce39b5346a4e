"""Baseline pseudo-MRI: a per-voxel intensity mapping from HU to MRI signal."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.pseudomri.data import PairedVolume


class IntensityMappingBaseline:
    """Piecewise-linear map HU -> MRI fitted as the mean MRI signal per HU quantile bin.

    The conditional mean per bin is the best any function of a voxel's HU alone can do in
    squared error, so the diffusion model has to use spatial context to beat it.

    Args:
        n_bins: Number of quantile bins of the training HU.
    """

    def __init__(self, n_bins: int = 64) -> None:
        if n_bins < 2:
            raise ValueError("n_bins must be at least 2")
        self.n_bins = n_bins
        self.knots_hu = np.empty(0, dtype=np.float64)
        self.knots_mri = np.empty(0, dtype=np.float64)

    def fit(self, volumes: Iterable[PairedVolume]) -> IntensityMappingBaseline:
        """Fit on paired volumes; returns ``self``."""
        pairs = list(volumes)
        hu = np.concatenate([p.ct_hu.ravel() for p in pairs]).astype(np.float64)
        mri = np.concatenate([p.mri.ravel() for p in pairs]).astype(np.float64)
        edges = np.unique(np.quantile(hu, np.linspace(0.0, 1.0, self.n_bins + 1)))
        bins = np.clip(np.searchsorted(edges, hu, side="right") - 1, 0, max(len(edges) - 2, 0))
        counts = np.bincount(bins)
        filled = counts > 0
        # Knots at each bin's mean HU, so a bin holding a single tissue maps it exactly.
        self.knots_hu = (np.bincount(bins, hu) / np.maximum(counts, 1))[filled]
        self.knots_mri = (np.bincount(bins, mri) / np.maximum(counts, 1))[filled]
        return self

    def predict(self, ct_hu: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Map HU to MRI signal (constant beyond the outermost knots)."""
        if self.knots_hu.size == 0:
            raise RuntimeError("the baseline must be fitted before predicting")
        hu = np.asarray(ct_hu, dtype=np.float64)
        return np.interp(hu, self.knots_hu, self.knots_mri).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (knots) for a metrics JSON or a registry entry."""
        return {"knots_hu": self.knots_hu.tolist(), "knots_mri": self.knots_mri.tolist()}
