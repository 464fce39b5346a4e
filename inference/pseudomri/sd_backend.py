"""Second pseudo-MRI backend: a locally stored, fine-tuned Stable Diffusion img2img pipeline.

The research this product serves fine-tuned Stable Diffusion on T2-weighted slices. Such a
pipeline, saved in diffusers format, is loaded from disk only (``local_files_only=True``):
nothing is fetched from a hub. Each CT slice, windowed to grey levels, is the init image.
The report warns that generation from noise may lose the patient's own anatomy; img2img
keeps it to the degree ``strength`` leaves the CT's structure in the starting latents.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

#: Default soft-tissue window of the init image.
DEFAULT_WINDOW = (-250.0, 350.0)


class StableDiffusionImg2ImgBackend:
    """Generate T2-weighted-like slices with a local Stable Diffusion img2img pipeline.

    Args:
        path: Directory of a pipeline saved with ``save_pretrained``.
        prompt: Text prompt the model was fine-tuned with.
        strength: img2img strength (0 keeps the CT, 1 ignores it).
        steps: Scheduler steps (img2img runs about ``steps * strength`` of them).
        guidance_scale: Classifier-free guidance; 1 disables it (and halves the cost).
        resolution: Side the slices are resized to for the pipeline (a multiple of 8).
        window: HU window mapping the CT to the init image's grey levels.
        device: Device to run on.

    Raises:
        FileNotFoundError: If ``path`` has no ``model_index.json``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        prompt: str = "T2-weighted MRI of the cervical spine",
        strength: float = 0.6,
        steps: int = 30,
        guidance_scale: float = 1.0,
        resolution: int = 512,
        window: tuple[float, float] = DEFAULT_WINDOW,
        device: torch.device | str = "cpu",
    ) -> None:
        source = Path(path)
        if not (source / "model_index.json").is_file():
            raise FileNotFoundError(f"{source} holds no diffusers pipeline (model_index.json)")
        if resolution % 8:
            raise ValueError("resolution must be a multiple of 8")
        # Imported here: transformers (the text encoder) is only needed by this backend.
        from diffusers import StableDiffusionImg2ImgPipeline

        self.pipeline: Any = StableDiffusionImg2ImgPipeline.from_pretrained(
            source, local_files_only=True, safety_checker=None, requires_safety_checker=False
        ).to(torch.device(device))
        self.pipeline.set_progress_bar_config(disable=True)
        self.prompt = prompt
        self.strength = strength
        self.steps = steps
        self.guidance_scale = guidance_scale
        self.resolution = resolution
        self.window = window

    def _init_images(self, ct_hu: npt.NDArray[np.floating]) -> torch.Tensor:
        lo, hi = self.window
        grey = torch.from_numpy(np.clip((ct_hu - lo) / (hi - lo), 0.0, 1.0).astype(np.float32))
        grey = F.interpolate(grey[:, None], size=(self.resolution,) * 2, mode="bilinear")
        return grey.expand(-1, 3, -1, -1)  # the pipeline expects RGB in [0, 1]

    @torch.inference_mode()
    def generate_slices(
        self, ct_hu: npt.ArrayLike, *, seed: int = 0, batch_size: int = 4
    ) -> npt.NDArray[np.float32]:
        """Generate one grey-level slice in ``[0, 1]`` per CT slice, on the CT's grid.

        Args:
            ct_hu: ``(n, y, x)`` CT slices in HU.
            seed: Seed of the pipeline's generator; fixed seeds repeat results.
            batch_size: Slices per pipeline call.

        Returns:
            ``(n, y, x)`` float32 in ``[0, 1]``.
        """
        slices = np.asarray(ct_hu, dtype=np.float32)
        if slices.ndim != 3:
            raise ValueError(f"expected (n, y, x) CT slices, got shape {slices.shape}")
        out = np.empty(slices.shape, dtype=np.float32)
        generator = torch.Generator().manual_seed(seed)
        for start in range(0, len(slices), batch_size):
            chunk = slices[start : start + batch_size]
            result = self.pipeline(
                prompt=[self.prompt] * len(chunk),
                image=self._init_images(chunk),
                strength=self.strength,
                num_inference_steps=self.steps,
                guidance_scale=self.guidance_scale,
                generator=generator,
                output_type="pt",
            ).images
            grey = result.float().mean(dim=1, keepdim=True).cpu()
            grey = F.interpolate(grey, size=slices.shape[1:], mode="bilinear")
            out[start : start + len(chunk)] = grey[:, 0].clamp(0, 1).numpy()
        return out

    def generate_volume(self, ct_hu: npt.ArrayLike, *, seed: int = 0) -> npt.NDArray[np.float32]:
        """Turn every axial slice of a ``(z, y, x)`` CT volume into a pseudo-MRI slice."""
        return self.generate_slices(ct_hu, seed=seed)
