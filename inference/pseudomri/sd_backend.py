"""Second pseudo-MRI backend: a locally stored, fine-tuned Stable Diffusion img2img pipeline.

The research this product serves fine-tuned Stable Diffusion on T2-weighted slices. Such a
pipeline, saved in diffusers format, is loaded from disk only (``local_files_only=True``):
nothing is fetched from a hub. Each CT slice, windowed to grey levels, is the init image.
The report warns that generation from noise may lose the patient's own anatomy; img2img
keeps it to the degree ``strength`` leaves the CT's structure in the starting latents.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from inference.common.checkpoints import verify_tree

#: Default soft-tissue window of the init image.
DEFAULT_WINDOW = (-250.0, 350.0)
#: Longest prompt accepted (CLIP reads 77 tokens; a registry entry stays readable).
MAX_PROMPT_LENGTH = 300
#: Most scheduler steps a job may ask for.
MAX_STEPS = 1000


@dataclasses.dataclass(frozen=True)
class StableDiffusionSettings:
    """How a registered pipeline is run: stored as the model version's config.

    Jobs may override ``prompt``, ``strength`` and ``steps`` (and give a seed); the rest is
    fixed at registration.

    Attributes:
        prompt: Text prompt the model was fine-tuned with.
        strength: img2img strength in (0, 1]: 0 would keep the CT, 1 ignores it.
        steps: Scheduler steps (img2img runs about ``steps * strength`` of them).
        guidance_scale: Classifier-free guidance; 1 disables it (and halves the cost).
        resolution: Side the slices are resized to for the pipeline (a multiple of 8).
        window: HU window mapping the CT to the init image's grey levels.
        intensity_scale: Stored value of a white output pixel in the derived MR series.
    """

    prompt: str = "T2-weighted MRI of the cervical spine"
    strength: float = 0.6
    steps: int = 30
    guidance_scale: float = 1.0
    resolution: int = 512
    window: tuple[float, float] = DEFAULT_WINDOW
    intensity_scale: float = 4095.0

    def __post_init__(self) -> None:
        check_generation(self.prompt, self.strength, self.steps)
        if not 1.0 <= self.guidance_scale <= 30.0:
            raise ValueError("guidance_scale must lie between 1 and 30")
        if not 8 <= self.resolution <= 2048 or self.resolution % 8:
            raise ValueError("resolution must be a multiple of 8 between 8 and 2048")
        if (
            len(self.window) != 2
            or not np.all(np.isfinite(self.window))
            or self.window[1] <= self.window[0]
        ):
            raise ValueError(f"the window needs lower < upper HU, got {self.window}")
        if not 1.0 <= self.intensity_scale <= 4095.0:
            raise ValueError("intensity_scale must lie between 1 and 4095")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the model registry."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StableDiffusionSettings:
        """Inverse of :meth:`to_dict`; unknown keys and wrong types fail with ValueError."""
        values = dict(data)
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown Stable Diffusion settings: {', '.join(unknown)}")
        try:
            if "window" in values:
                values["window"] = tuple(float(v) for v in values["window"])
            for key in ("strength", "guidance_scale", "intensity_scale"):
                if key in values:
                    values[key] = _number(values[key], key)
            for key in ("steps", "resolution"):
                if key in values:
                    values[key] = _whole(values[key], key)
            if "prompt" in values and not isinstance(values["prompt"], str):
                raise ValueError("prompt must be text")
        except TypeError as exc:
            raise ValueError(f"invalid Stable Diffusion settings: {exc}") from exc
        return cls(**values)


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key} must be a number")
    try:
        return float(value)
    except (OverflowError, ValueError) as exc:  # OverflowError: an int beyond a float
        raise ValueError(f"{key} must be a number") from exc


def _whole(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{key} must be a whole number")
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{key} must be a whole number") from exc


def check_generation(prompt: str, strength: float, steps: int) -> None:
    """Validate the per-run options of img2img.

    Raises:
        ValueError: Saying which option is out of range.
    """
    if not prompt.strip() or len(prompt) > MAX_PROMPT_LENGTH:
        raise ValueError(f"the prompt must have 1 to {MAX_PROMPT_LENGTH} characters")
    if "\x00" in prompt:
        # Not text to a tokenizer, and PostgreSQL's jsonb cannot store it (a 500, not a 400).
        raise ValueError("the prompt must not contain NUL characters")
    if not 0.0 < strength <= 1.0:
        raise ValueError("strength must lie in (0, 1]")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must lie between 1 and {MAX_STEPS}")
    if int(steps * strength) < 1:
        raise ValueError(
            f"{steps} steps at strength {strength} run no denoising step: raise one of them"
        )


def _copy_weights_into_memory(pipeline: Any) -> None:
    """Give every CPU tensor of the pipeline's networks its own memory (not a file mapping)."""
    with torch.no_grad():
        for component in pipeline.components.values():
            if not isinstance(component, torch.nn.Module):
                continue
            for tensor in (*component.parameters(), *component.buffers()):
                if tensor.device.type == "cpu":
                    tensor.data = tensor.data.clone()


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

        sha256: If given, the folder's digest (``inference.common.sha256_tree``), checked
            before anything is loaded, and again once the weights are copied from the
            (memory-mapped) files into this process's memory.

    Raises:
        FileNotFoundError: If ``path`` has no ``model_index.json``.
        CheckpointError: If the folder fails its sha256 check.
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
        sha256: str | None = None,
    ) -> None:
        source = Path(path)
        if sha256 is not None:
            verify_tree(source, sha256=sha256)
        if not (source / "model_index.json").is_file():
            raise FileNotFoundError(f"{source} holds no diffusers pipeline (model_index.json)")
        if resolution % 8:
            raise ValueError("resolution must be a multiple of 8")
        # Imported here: transformers (the text encoder) is only needed by this backend.
        from diffusers import StableDiffusionImg2ImgPipeline

        self.pipeline: Any = StableDiffusionImg2ImgPipeline.from_pretrained(
            source, local_files_only=True, safety_checker=None, requires_safety_checker=False
        ).to(torch.device(device))
        if sha256 is not None:
            # safetensors weights are memory-mapped from the files: a file rewritten in place
            # would change this (cached) pipeline unchecked. Copy them into this process's
            # memory, then check the folder again: what runs is what passed the check.
            _copy_weights_into_memory(self.pipeline)
            verify_tree(source, sha256=sha256)
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

    @classmethod
    def from_settings(
        cls,
        path: str | os.PathLike[str],
        settings: StableDiffusionSettings,
        *,
        device: torch.device | str = "cpu",
        sha256: str | None = None,
    ) -> StableDiffusionImg2ImgBackend:
        """A backend run as a registry entry's settings say."""
        return cls(
            path,
            prompt=settings.prompt,
            strength=settings.strength,
            steps=settings.steps,
            guidance_scale=settings.guidance_scale,
            resolution=settings.resolution,
            window=settings.window,
            device=device,
            sha256=sha256,
        )

    @torch.inference_mode()
    def generate_slices(
        self,
        ct_hu: npt.ArrayLike,
        *,
        seed: int = 0,
        batch_size: int = 4,
        prompt: str | None = None,
        strength: float | None = None,
        steps: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Generate one grey-level slice in ``[0, 1]`` per CT slice, on the CT's grid.

        Args:
            ct_hu: ``(n, y, x)`` CT slices in HU.
            seed: Seed of the pipeline's generator; fixed seeds repeat results.
            batch_size: Slices per pipeline call.
            prompt: strength: steps: This call's options (default: the backend's).
            progress: ``progress(done, total)`` after each batch.

        Returns:
            ``(n, y, x)`` float32 in ``[0, 1]``.
        """
        slices = np.asarray(ct_hu, dtype=np.float32)
        if slices.ndim != 3:
            raise ValueError(f"expected (n, y, x) CT slices, got shape {slices.shape}")
        prompt = self.prompt if prompt is None else prompt
        strength = self.strength if strength is None else strength
        steps = self.steps if steps is None else steps
        check_generation(prompt, strength, steps)
        out = np.empty(slices.shape, dtype=np.float32)
        generator = torch.Generator().manual_seed(seed)
        for start in range(0, len(slices), batch_size):
            chunk = slices[start : start + batch_size]
            result = self.pipeline(
                prompt=[prompt] * len(chunk),
                image=self._init_images(chunk),
                strength=strength,
                num_inference_steps=steps,
                guidance_scale=self.guidance_scale,
                generator=generator,
                output_type="pt",
            ).images
            grey = result.float().mean(dim=1, keepdim=True).cpu()
            grey = F.interpolate(grey, size=slices.shape[1:], mode="bilinear")
            out[start : start + len(chunk)] = grey[:, 0].clamp(0, 1).numpy()
            if progress is not None:
                progress(start + len(chunk), len(slices))
        return out

    def generate_volume(self, ct_hu: npt.ArrayLike, *, seed: int = 0) -> npt.NDArray[np.float32]:
        """Turn every axial slice of a ``(z, y, x)`` CT volume into a pseudo-MRI slice."""
        return self.generate_slices(ct_hu, seed=seed)
