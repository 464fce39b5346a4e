"""NC-CTM inference: windowing, resampling, sliding-window U-Net, back to the input grid."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch
from monai.inferers import SlidingWindowInferer
from torch import nn

from inference.ncctm.config import NCCTMConfig
from inference.ncctm.postprocess import keep_largest_component
from inference.ncctm.transforms import resample_to_spacing, window_hu


class NCCTMSegmenter:
    """A loaded NC-CTM network with its sliding-window inferer.

    Workers keep one instance per model version in memory; building it is the costly part.

    Args:
        model: The trained network (put in eval mode here).
        config: Its configuration.
        device: Device to run on; the model is moved there.
    """

    def __init__(
        self, model: nn.Module, config: NCCTMConfig, device: torch.device | str = "cpu"
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.config = config
        self.inferer = SlidingWindowInferer(
            roi_size=config.patch_size,
            sw_batch_size=config.sw_batch_size,
            overlap=config.sw_overlap,
            # Gaussian blending down-weights tile borders, where context is missing.
            mode="gaussian",
        )

    @torch.inference_mode()
    def probabilities(
        self, ct_hu: npt.ArrayLike, spacing_mm: Sequence[float]
    ) -> npt.NDArray[np.float32]:
        """Class probabilities ``(classes, z, y, x)`` on the input grid."""
        volume = np.asarray(ct_hu)
        if volume.ndim != 3:
            raise ValueError(f"expected a (z, y, x) CT volume, got shape {volume.shape}")
        cfg = self.config
        image = resample_to_spacing(
            window_hu(volume, cfg.hu_window), spacing_mm, cfg.target_spacing
        )
        batch = torch.from_numpy(image)[None, None].to(self.device)
        logits = self.inferer(batch, self.model)
        assert isinstance(logits, torch.Tensor)
        probs = torch.softmax(logits, dim=1)[0].float().cpu().numpy()
        # Probabilities, not labels, are resampled: interpolating soft maps keeps thin roots
        # that nearest-neighbour resampling of a label map would break up.
        return resample_to_spacing(
            probs, cfg.target_spacing, spacing_mm, mode="bilinear", output_shape=volume.shape
        )

    def __call__(self, ct_hu: npt.ArrayLike, spacing_mm: Sequence[float]) -> npt.NDArray[np.uint8]:
        """Segment a CT volume.

        Args:
            ct_hu: ``(z, y, x)`` CT in HU.
            spacing_mm: Its voxel spacing ``(dz, dy, dx)``.

        Returns:
            uint8 label map on the input grid (0 background, ``i + 1`` structure ``i``).
        """
        labels = np.argmax(self.probabilities(ct_hu, spacing_mm), axis=0).astype(np.uint8)
        if self.config.keep_largest_component:
            labels = keep_largest_component(labels)
        return labels


def segment_volume(
    ct_hu: npt.ArrayLike,
    spacing_mm: Sequence[float],
    *,
    model: nn.Module,
    config: NCCTMConfig,
    device: torch.device | str = "cpu",
) -> npt.NDArray[np.uint8]:
    """Segment the dural canal and nerve roots of one CT volume.

    Args:
        ct_hu: ``(z, y, x)`` dual-energy mixed CT in HU.
        spacing_mm: Voxel spacing ``(dz, dy, dx)`` in mm.
        model: Trained NC-CTM network.
        config: Its configuration.
        device: Device to run on.

    Returns:
        uint8 label map with the shape of ``ct_hu``.
    """
    return NCCTMSegmenter(model, config, device)(ct_hu, spacing_mm)
