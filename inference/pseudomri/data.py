"""Paired CT / T2 MRI slices for training and evaluation, from the cervical phantoms."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inference.phantoms import generate_cervical_case


@dataclass(frozen=True, eq=False)
class PairedVolume:
    """A co-registered CT and T2 MRI volume ``(z, y, x)``; axial slices are the samples."""

    case_id: str
    ct_hu: npt.NDArray[np.int16]
    mri: npt.NDArray[np.uint16]

    def __post_init__(self) -> None:
        if self.ct_hu.shape != self.mri.shape or self.ct_hu.ndim != 3:
            raise ValueError(
                f"CT {self.ct_hu.shape} and MRI {self.mri.shape} must be one (z, y, x) grid"
            )


def phantom_pairs(
    seeds: Iterable[int], *, shape: tuple[int, int, int] = (32, 64, 64)
) -> list[PairedVolume]:
    """Cervical phantoms (CT and T2 MRI), one per seed, ids ``"phantom-<seed>"``."""
    out = []
    for seed in seeds:
        phantom = generate_cervical_case(seed=seed, shape=shape)
        out.append(PairedVolume(f"phantom-{seed}", phantom.ct_hu, phantom.mri_t2))
    return out


def stack_slices(
    volumes: Iterable[PairedVolume],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """All axial slices of ``volumes``: CT (HU) and MRI, each ``(n, y, x)`` float32."""
    pairs = list(volumes)
    if not pairs:
        raise ValueError("no volumes given")
    ct = np.concatenate([p.ct_hu for p in pairs]).astype(np.float32)
    mri = np.concatenate([p.mri for p in pairs]).astype(np.float32)
    return ct, mri
