"""Configuration of the conditional-diffusion pseudo-MRI model, saved in its checkpoints."""

from __future__ import annotations

import dataclasses
from typing import Any

#: CT windows (HU) given to the network as condition channels: air/fat/soft tissue, a narrow
#: soft-tissue window that separates CSF (~10 HU) from cord (~35 HU), and a bone window.
#: T2 signal is a non-monotone function of HU (fat bright, muscle dark, CSF bright, cortex
#: dark); several windows make that per-voxel mapping nearly linear for the network, which
#: a small model then learns within minutes on CPU where a single window takes far longer.
DEFAULT_CT_WINDOWS: tuple[tuple[float, float], ...] = (
    (-1000.0, 200.0),
    (-150.0, 150.0),
    (0.0, 1200.0),
)


@dataclasses.dataclass(frozen=True)
class PseudoMRIConfig:
    """Everything needed to rebuild, train and sample the pseudo-MRI model.

    Attributes:
        ct_windows: HU windows, one condition channel each (the U-Net has ``1 + len`` inputs).
        mri_scale: MRI intensity mapped to +1 (fitted on the training MRI by training).
        block_out_channels: U-Net channels per level; all blocks are convolutional (no
            attention anywhere: attention at these resolutions is slow on CPU).
        layers_per_block: Residual blocks per U-Net level.
        norm_num_groups: GroupNorm groups.
        num_train_timesteps: DDPM diffusion steps.
        inference_steps: Default number of DDIM sampling steps. With x0 prediction the
            first step already gives the conditional mean; later steps add sampled texture
            (MRI-like noise), which looks real but costs time and pixel-wise fidelity, so
            the default is small.
        iterations: Optimizer steps.
        batch_size: Slices per step.
        learning_rate: Peak AdamW learning rate (one-cycle schedule).
        l1_weight: Weight of an L1 term added to the squared-error loss on x0.
        ema_decay: Decay of the exponential moving average of the weights that is kept.
        flip_prob: Probability of a left-right flip of a training pair.
        seed: Seed of weights, batches and noise.
    """

    ct_windows: tuple[tuple[float, float], ...] = DEFAULT_CT_WINDOWS
    mri_scale: float = 2500.0
    block_out_channels: tuple[int, ...] = (16, 32, 64)
    layers_per_block: int = 1
    norm_num_groups: int = 8
    num_train_timesteps: int = 1000
    inference_steps: int = 2
    iterations: int = 400
    batch_size: int = 8
    learning_rate: float = 2e-3
    l1_weight: float = 0.1
    ema_decay: float = 0.99
    flip_prob: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.ct_windows or any(hi <= lo for lo, hi in self.ct_windows):
            raise ValueError(f"each CT window needs lower < upper, got {self.ct_windows}")
        if self.mri_scale <= 0:
            raise ValueError("mri_scale must be positive")
        if not 1 <= self.inference_steps <= self.num_train_timesteps:
            raise ValueError("inference_steps must lie in 1..num_train_timesteps")

    @property
    def in_channels(self) -> int:
        """U-Net inputs: the noisy MRI plus one channel per CT window."""
        return 1 + len(self.ct_windows)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for checkpoints and the model registry."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PseudoMRIConfig:
        """Inverse of :meth:`to_dict`; lists (from JSON) become tuples, unknown keys fail."""
        values: dict[str, Any] = dict(data)
        values["ct_windows"] = tuple(tuple(w) for w in values.get("ct_windows", DEFAULT_CT_WINDOWS))
        if "block_out_channels" in values:
            values["block_out_channels"] = tuple(values["block_out_channels"])
        return cls(**values)
