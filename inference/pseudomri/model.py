"""The conditional denoiser: a diffusers ``UNet2DModel`` over [noisy MRI, CT windows]."""

from __future__ import annotations

from typing import Any

import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DModel
from torch import nn

from inference.pseudomri.config import PseudoMRIConfig


def build_unet(config: PseudoMRIConfig) -> UNet2DModel:
    """A small, purely convolutional U-Net predicting the clean MRI slice."""
    levels = len(config.block_out_channels)
    return UNet2DModel(
        in_channels=config.in_channels,
        out_channels=1,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        down_block_types=("DownBlock2D",) * levels,
        up_block_types=("UpBlock2D",) * levels,
        norm_num_groups=config.norm_num_groups,
        # The mid-block attention is the one attention diffusers adds by default; at 256 x 256
        # input it would attend over thousands of positions and dominate CPU time.
        add_attention=False,
    )


def train_scheduler(config: PseudoMRIConfig) -> DDPMScheduler:
    """DDPM noise schedule with x0 ("sample") prediction.

    x0 prediction trains in minutes on CPU here, epsilon prediction does not: with a strong
    condition the network mostly learns a regression CT -> MRI, and that is what x0 asks.
    """
    return DDPMScheduler(
        num_train_timesteps=config.num_train_timesteps,
        beta_schedule="linear",
        prediction_type="sample",
        clip_sample=True,
    )


def sampling_scheduler(config: PseudoMRIConfig) -> DDIMScheduler:
    """DDIM sampler matching :func:`train_scheduler`.

    "trailing" spacing makes the first step start from pure noise at the last training
    timestep for any number of steps (the default "leading" spacing starts a 1-step run at
    t = 0, where the network believes its pure-noise input is already clean).
    """
    ddpm: Any = train_scheduler(config)  # diffusers' config mixins are opaque to mypy
    return DDIMScheduler.from_config(ddpm.config, timestep_spacing="trailing")


class ConditionalDenoiser(nn.Module):
    """Predicts the clean normalized MRI from a noisy one, the CT condition and the timestep.

    The noisy input is scaled by ``sqrt(alpha_bar_t)`` before the U-Net: at high noise levels
    it carries almost no signal, and feeding it at unit variance lets its noise leak into
    the prediction of a briefly trained network. Scaling keeps its signal-to-noise ratio and
    removes most of that leak.

    Args:
        config: Model configuration.
    """

    input_scale: torch.Tensor

    def __init__(self, config: PseudoMRIConfig) -> None:
        super().__init__()
        self.config = config
        self.unet: Any = build_unet(config)
        ddpm: Any = train_scheduler(config)
        alphas = ddpm.alphas_cumprod.float()
        self.register_buffer("input_scale", alphas.sqrt(), persistent=False)

    def forward(
        self, noisy: torch.Tensor, condition: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        """Predict x0.

        Args:
            noisy: ``(n, 1, y, x)`` noisy normalized MRI.
            condition: ``(n, windows, y, x)`` normalized CT.
            timesteps: ``(n,)`` or scalar integer timesteps.

        Returns:
            ``(n, 1, y, x)`` predicted clean MRI in ``[-1, 1]`` units.
        """
        t = timesteps.reshape(-1).to(noisy.device).long()
        if t.numel() == 1:
            t = t.expand(noisy.shape[0])
        scale = self.input_scale.to(noisy.device)[t].to(noisy.dtype).view(-1, 1, 1, 1)
        out = self.unet(torch.cat([noisy * scale, condition], dim=1), t).sample
        assert isinstance(out, torch.Tensor)
        return out
