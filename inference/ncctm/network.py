"""Network factory for NC-CTM: a MONAI 3D U-Net sized by :class:`NCCTMConfig`."""

from __future__ import annotations

from monai.networks.nets import UNet
from torch import nn

from inference.ncctm.config import NCCTMConfig


def build_network(config: NCCTMConfig) -> nn.Module:
    """Build the residual 3D U-Net that maps one windowed CT channel to class logits."""
    return UNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=config.num_classes,
        channels=config.channels,
        strides=config.strides,
        num_res_units=config.num_res_units,
        norm="instance",
    )
