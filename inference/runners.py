"""Loaded models, kept per worker process, and how each backend turns a CT volume into output.

Loading a checkpoint (sha256 check, unpickling, building the network) costs seconds, so a
worker keeps the last few loaded models in memory, keyed by registry id *and* checksum: a
re-registered or replaced file is never served from the cache. This module imports torch; the
web process only reaches it through the training and registration commands.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import torch
from django.conf import settings

from inference.common import CheckpointError, limit_threads, select_device
from inference.errors import JobInputError, ModelLoadError
from inference.models import DeviceRequirement, ModelBackend, ModelVersion
from inference.series_io import CTVolume

#: ``progress(done, total)`` while a model works through a volume.
Progress = Callable[[int, int], None]
#: How many loaded models a worker process keeps.
CACHE_SIZE = 4


class Runner(Protocol):
    device: torch.device

    def run(
        self, volume: CTVolume, *, parameters: dict[str, Any], progress: Progress
    ) -> npt.NDArray[Any]: ...


@dataclass(frozen=True)
class CheckpointInfo:
    """What a verified checkpoint declares about itself."""

    config: dict[str, Any]
    metadata: dict[str, Any]


class NCCTMRunner:
    """The NC-CTM U-Net with its sliding-window inferer."""

    def __init__(
        self, path: Path, sha256: str, device: torch.device, settings: dict[str, Any]
    ) -> None:
        from inference.ncctm import NCCTMSegmenter, load_model

        model, config, _ = load_model(path, sha256=sha256, device=device)
        self.device = device
        self.config = config
        self.structures = config.structures
        self.segmenter = NCCTMSegmenter(model, config, device)

    def run(
        self, volume: CTVolume, *, parameters: dict[str, Any], progress: Progress
    ) -> npt.NDArray[np.uint8]:
        progress(0, 1)
        labels = self.segmenter(volume.hu, volume.spacing_mm)
        progress(1, 1)
        return labels


class PseudoMRIRunner:
    """The image-conditioned diffusion U-Net, sampled with DDIM slice by slice."""

    def __init__(
        self, path: Path, sha256: str, device: torch.device, settings: dict[str, Any]
    ) -> None:
        from inference.pseudomri import PseudoMRIGenerator, load_model

        model, config, _ = load_model(path, sha256=sha256, device=device)
        self.device = device
        self.config = config
        self.generator = PseudoMRIGenerator(model, config, device)

    def run(
        self, volume: CTVolume, *, parameters: dict[str, Any], progress: Progress
    ) -> npt.NDArray[np.float32]:
        # The U-Net halves the matrix at each level: pad the slices to a size it can take
        # (edge values, so the border stays what it was), and crop the output back.
        multiple = 2 ** (len(self.config.block_out_channels) - 1)
        _, rows, columns = volume.hu.shape
        pad = ((0, 0), (0, -rows % multiple), (0, -columns % multiple))
        ct = np.pad(volume.hu, pad, mode="edge")
        mri = self.generator.generate_volume(
            ct,
            steps=parameters.get("steps"),
            seed=int(parameters.get("seed", 0)),
            batch_size=8,
            progress=progress,
        )
        return mri[:, :rows, :columns]


class StableDiffusionRunner:
    """A registered fine-tuned Stable Diffusion img2img pipeline (a diffusers folder).

    The folder's manifest sha256 is checked before the pipeline is loaded; the model
    version's config holds its settings, which a job's parameters may override (prompt,
    strength, steps, seed). The output is grey levels scaled to ``intensity_scale``, written
    as the same derived synthetic MR series as the DDIM backend's.
    """

    def __init__(
        self, path: Path, sha256: str, device: torch.device, settings: dict[str, Any]
    ) -> None:
        from inference.pseudomri import StableDiffusionImg2ImgBackend, StableDiffusionSettings

        self.device = device
        self.settings = StableDiffusionSettings.from_dict(settings)
        try:
            self.backend = StableDiffusionImg2ImgBackend.from_settings(
                path, self.settings, device=device, sha256=sha256
            )
        except OSError as exc:
            raise CheckpointError(f"the pipeline folder {path} does not load: {exc}") from exc

    def run(
        self, volume: CTVolume, *, parameters: dict[str, Any], progress: Progress
    ) -> npt.NDArray[np.float32]:
        grey = self.backend.generate_slices(
            volume.hu,
            seed=int(parameters.get("seed", 0)),
            prompt=parameters.get("prompt"),
            strength=parameters.get("strength"),
            steps=parameters.get("steps"),
            progress=progress,
        )
        return grey * np.float32(self.settings.intensity_scale)


_RUNNERS: dict[str, type[NCCTMRunner] | type[PseudoMRIRunner] | type[StableDiffusionRunner]] = {
    ModelBackend.NCCTM_UNET: NCCTMRunner,
    ModelBackend.PSEUDOMRI_DDIM: PseudoMRIRunner,
    ModelBackend.PSEUDOMRI_SD: StableDiffusionRunner,
}
_cache: OrderedDict[tuple[str, str, str], Runner] = OrderedDict()
_lock = threading.Lock()


def device_for(model_version: ModelVersion) -> torch.device:
    """The torch device a model version runs on in this process."""
    if model_version.device == DeviceRequirement.GPU:
        try:
            return select_device("cuda")
        except RuntimeError as exc:
            raise JobInputError(
                f"{model_version} needs a GPU, but this worker has none: run workers with a "
                "GPU on the gpu queue"
            ) from exc
    return torch.device("cpu")


def runner_for(model_version: ModelVersion) -> Runner:
    """The loaded model of a registry entry, verified against its sha256 on first load.

    Raises:
        ModelLoadError: If the checkpoint is missing, fails its checksum or has another kind.
        JobInputError: If the model needs a GPU this worker lacks.
    """
    device = device_for(model_version)
    key = (str(model_version.pk), model_version.sha256, str(device))
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
        if settings.INFERENCE_TORCH_THREADS:
            limit_threads(settings.INFERENCE_TORCH_THREADS)
        try:
            runner: Runner = _RUNNERS[model_version.backend](
                model_version.checkpoint_path, model_version.sha256, device, model_version.config
            )
        except KeyError as exc:
            raise ModelLoadError(f"unknown model backend {model_version.backend!r}") from exc
        except CheckpointError as exc:
            raise ModelLoadError(str(exc)) from exc
        except (OSError, RuntimeError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"{model_version} does not load: {exc}") from exc
        _cache[key] = runner
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return runner


def checkpoint_inspect(
    *, backend: str, path: Path, sha256: str, settings: dict[str, Any] | None = None
) -> CheckpointInfo:
    """Verify a checkpoint and load it once, as a job would, before it is registered.

    Args:
        backend: How it is run.
        path: The checkpoint file (a diffusers pipeline: its folder).
        sha256: Its digest.
        settings: Stable Diffusion only: the settings to register (validated here).

    Raises:
        ModelLoadError: If it fails its checksum, cannot be read or is of another kind.
    """
    try:
        if backend == ModelBackend.PSEUDOMRI_SD:
            from inference.pseudomri import StableDiffusionSettings

            try:
                sd_settings = StableDiffusionSettings.from_dict(settings or {})
            except ValueError as exc:
                raise ModelLoadError(f"invalid settings: {exc}") from exc
            StableDiffusionRunner(path, sha256, torch.device("cpu"), sd_settings.to_dict())
            return CheckpointInfo(sd_settings.to_dict(), {})
        if backend == ModelBackend.NCCTM_UNET:
            from inference.ncctm import load_model as load_ncctm

            _, ncctm_config, metadata = load_ncctm(path, sha256=sha256)
            return CheckpointInfo(ncctm_config.to_dict(), metadata)
        if backend == ModelBackend.PSEUDOMRI_DDIM:
            from inference.pseudomri import load_model as load_pseudomri

            _, pseudomri_config, metadata = load_pseudomri(path, sha256=sha256)
            return CheckpointInfo(pseudomri_config.to_dict(), metadata)
    except ModelLoadError:
        raise
    except CheckpointError as exc:
        raise ModelLoadError(str(exc)) from exc
    except (OSError, RuntimeError, TypeError, ValueError) as exc:
        # A checkpoint whose weights do not fit the network its config describes.
        raise ModelLoadError(f"checkpoint {path} does not load: {exc}") from exc
    raise ModelLoadError(f"unknown model backend {backend!r}")


def runner_cache_clear() -> None:
    """Forget loaded models (tests; a worker never needs it)."""
    with _lock:
        _cache.clear()
