"""Configuration of the NC-CTM segmentation model: one plain dataclass, saved in checkpoints."""

from __future__ import annotations

import dataclasses
from typing import Any

from inference.ncctm.transforms import DEFAULT_HU_WINDOW

#: Structures of the label map, in label order (label ``i + 1`` is ``STRUCTURES[i]``).
STRUCTURES = ("dural_canal", "nerve_roots")


@dataclasses.dataclass(frozen=True)
class NCCTMConfig:
    """Everything needed to rebuild, train and run the NC-CTM network.

    Attributes:
        structures: Foreground structure names; the network predicts background plus these.
        hu_window: HU window applied before the network.
        target_spacing: Voxel spacing ``(dz, dy, dx)`` in mm the network works at.
        patch_size: Training patch and sliding-window ROI, in voxels at ``target_spacing``.
        channels: Feature channels per U-Net level.
        strides: Downsampling strides between levels (one fewer than ``channels``).
        num_res_units: Residual units per U-Net block.
        iterations: Optimizer steps.
        batch_size: Patches per step.
        learning_rate: Adam learning rate.
        pos_fraction: Share of patches centred on foreground.
        flip_prob: Probability of a left-right flip per patch.
        seed: Seed of weights, patch sampling and augmentation.
        sw_overlap: Overlap of sliding-window tiles.
        sw_batch_size: Tiles per forward pass.
        keep_largest_component: Drop foreground outside the largest connected component.
    """

    structures: tuple[str, ...] = STRUCTURES
    hu_window: tuple[float, float] = DEFAULT_HU_WINDOW
    target_spacing: tuple[float, float, float] = (2.5, 0.9375, 0.9375)
    patch_size: tuple[int, int, int] = (32, 96, 96)
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = 1
    iterations: int = 400
    batch_size: int = 2
    learning_rate: float = 2e-3
    pos_fraction: float = 0.67
    flip_prob: float = 0.5
    seed: int = 0
    sw_overlap: float = 0.25
    sw_batch_size: int = 2
    keep_largest_component: bool = True

    def __post_init__(self) -> None:
        if len(self.strides) != len(self.channels) - 1:
            raise ValueError("strides must have one entry fewer than channels")
        factor = 1
        for stride in self.strides:
            factor *= stride
        if any(size % factor for size in self.patch_size):
            raise ValueError(f"patch_size {self.patch_size} must be divisible by {factor}")

    @property
    def num_classes(self) -> int:
        """Network output channels: background plus one per structure."""
        return len(self.structures) + 1

    def to_dict(self) -> dict[str, Any]:
        """Plain data for checkpoints and the model registry."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NCCTMConfig:
        """Inverse of :meth:`to_dict`; lists (from JSON) become tuples, unknown keys fail."""
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)
