"""NC-CTM transforms: array functions first, then MONAI dictionary wrappers over them.

Arrays are ``(z, y, x)`` volumes in the DICOM patient frame of the phantoms and the ingest:
``x`` runs from the patient's right to left, so a left-right flip is a flip of the last axis.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform, ScaleIntensityRange, Spacing

Shape3 = tuple[int, int, int]
ScalarT = TypeVar("ScalarT", bound=np.generic)
#: What the dictionary transforms map: keys to arrays of any dtype.
ArrayDict = dict[Hashable, npt.NDArray[Any]]

#: Soft-tissue window (HU) that keeps CSF (~10), ligamentum flavum (~60), disc (~90) and fat
#: (~-95) apart; bone saturates, which is fine: only its outline matters for the canal.
DEFAULT_HU_WINDOW = (-150.0, 250.0)


def window_hu(
    hu: npt.ArrayLike, window: tuple[float, float] = DEFAULT_HU_WINDOW
) -> npt.NDArray[np.float32]:
    """Clip HU to ``window`` and scale it linearly to ``[0, 1]``.

    Args:
        hu: CT volume in Hounsfield units.
        window: ``(lower, upper)`` HU bounds.

    Returns:
        A float32 array of the same shape.
    """
    lower, upper = window
    if upper <= lower:
        raise ValueError(f"window upper bound must exceed the lower one, got {window}")
    scale = ScaleIntensityRange(a_min=lower, a_max=upper, b_min=0.0, b_max=1.0, clip=True)
    out = scale(np.asarray(hu, dtype=np.float32))
    return np.asarray(out, dtype=np.float32)


def _affine(spacing: Sequence[float]) -> torch.Tensor:
    return torch.diag(torch.tensor([*map(float, spacing), 1.0], dtype=torch.float64))


def resample_to_spacing(
    volume: npt.ArrayLike,
    spacing: Sequence[float],
    target_spacing: Sequence[float],
    *,
    mode: str = "bilinear",
    output_shape: Sequence[int] | None = None,
) -> npt.NDArray[np.float32]:
    """Resample a volume (or channel-first stack of volumes) to another voxel spacing.

    The first voxel centre stays in place, so resampling back with ``output_shape`` set to
    the original shape lands on the original grid exactly.

    Args:
        volume: ``(z, y, x)`` or ``(c, z, y, x)`` array.
        spacing: Its voxel spacing ``(dz, dy, dx)`` in mm.
        target_spacing: Wanted spacing in mm.
        mode: ``"bilinear"`` (trilinear) for images and probabilities, ``"nearest"`` for labels.
        output_shape: Force the output grid shape (used to return to an input grid).

    Returns:
        The resampled float32 array, with the same number of dimensions as ``volume``.
    """
    array = np.asarray(volume, dtype=np.float32)
    channel_first = array.ndim == 4
    data = array if channel_first else array[None]
    if np.allclose(spacing, target_spacing) and (
        output_shape is None or tuple(output_shape) == data.shape[1:]
    ):
        return array.copy()
    image = MetaTensor(torch.from_numpy(np.ascontiguousarray(data)), affine=_affine(spacing))
    spacer = Spacing(pixdim=tuple(target_spacing), mode=mode, dtype=np.float32)
    out = spacer(image, output_spatial_shape=output_shape)
    result = np.asarray(out.detach().cpu().numpy(), dtype=np.float32)
    return result if channel_first else result[0]


def flip_left_right(array: npt.NDArray[ScalarT]) -> npt.NDArray[ScalarT]:
    """Mirror a ``(..., z, y, x)`` array across the patient's sagittal midplane."""
    return np.ascontiguousarray(np.flip(array, axis=-1))


def sample_patch_corners(
    label: npt.NDArray[np.integer],
    patch_size: Shape3,
    n: int,
    pos_fraction: float,
    rng: np.random.Generator,
) -> npt.NDArray[np.intp]:
    """Choose ``n`` patch corners, a ``pos_fraction`` of them centred on foreground voxels.

    Patches are drawn around foreground on purpose: the canal is well under 1% of a volume,
    so uniform sampling would show the network almost nothing but background.

    Args:
        label: ``(z, y, x)`` label map (0 = background).
        patch_size: Patch shape; the volume must be at least this large.
        n: Number of corners.
        pos_fraction: Share of patches centred on foreground.
        rng: Random generator.

    Returns:
        ``(n, 3)`` corner indices, each patch fully inside the volume.
    """
    shape = np.asarray(label.shape)
    size = np.asarray(patch_size)
    if np.any(size > shape):
        raise ValueError(f"patch {tuple(patch_size)} is larger than the volume {label.shape}")
    foreground = np.flatnonzero(label)
    n_pos = int(rng.binomial(n, pos_fraction)) if foreground.size else 0
    centres = np.empty((n, 3), dtype=np.intp)
    if n_pos:
        picks = rng.choice(foreground, size=n_pos)
        centres[:n_pos] = np.stack(np.unravel_index(picks, label.shape), axis=1)
    centres[n_pos:] = rng.integers(0, shape, size=(n - n_pos, 3))
    return np.clip(centres - size // 2, 0, shape - size)


def crop_patch(
    array: npt.NDArray[ScalarT], corner: Sequence[int], size: Shape3
) -> npt.NDArray[ScalarT]:
    """Cut a ``size`` patch at ``corner`` from the last three axes of ``array``."""
    z, y, x = (int(c) for c in corner)
    return array[..., z : z + size[0], y : y + size[1], x : x + size[2]]


class WindowHUd(MapTransform):
    """Dictionary wrapper of :func:`window_hu`."""

    def __init__(
        self, keys: KeysCollection, window: tuple[float, float] = DEFAULT_HU_WINDOW
    ) -> None:
        super().__init__(keys)
        self.window = window

    def __call__(self, data: Mapping[Hashable, npt.NDArray[Any]]) -> ArrayDict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = window_hu(d[key], self.window)
        return d


class ResampleToSpacingd(MapTransform):
    """Dictionary wrapper of :func:`resample_to_spacing` (one mode per key)."""

    def __init__(
        self,
        keys: KeysCollection,
        spacing: Sequence[float],
        target_spacing: Sequence[float],
        mode: str | Sequence[str] = "bilinear",
    ) -> None:
        super().__init__(keys)
        self.spacing = tuple(spacing)
        self.target_spacing = tuple(target_spacing)
        self.modes = [mode] * len(self.keys) if isinstance(mode, str) else list(mode)

    def __call__(self, data: Mapping[Hashable, npt.NDArray[Any]]) -> ArrayDict:
        d = dict(data)
        for key, mode in self.key_iterator(d, self.modes):
            d[key] = resample_to_spacing(d[key], self.spacing, self.target_spacing, mode=mode)
        return d


class RandFlipLeftRightd(RandomizableTransform, MapTransform):
    """Flip all ``keys`` left-right together with probability ``prob``.

    One draw per call decides for every key, so an image and its label stay aligned.
    """

    def __init__(self, keys: KeysCollection, prob: float = 0.5) -> None:
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)

    def __call__(self, data: Mapping[Hashable, npt.NDArray[Any]]) -> ArrayDict:
        d = dict(data)
        self.randomize(None)
        if self._do_transform:
            for key in self.key_iterator(d):
                d[key] = flip_left_right(d[key])
        return d
