"""Geometry and noise primitives shared by the spine phantoms.

Conventions used by every phantom in this package:

* Arrays are indexed ``(z, y, x)``: an axial stack, slice 0 is the most cranial slice.
* Physical coordinates are millimetres in the DICOM patient frame (LPS) relative to the
  volume centre: ``+x`` points to the patient's left (column index grows), ``+y`` points
  posterior (row index grows). Along z we use *depth* in mm below the top edge of the
  volume, which is what the vertebral layout is naturally expressed in.
* Shapes are drawn by broadcasting per-slice parameters of shape ``(Z, 1, 1)`` against
  row/column coordinates of shape ``(1, Y, 1)`` / ``(1, 1, X)``, so no Python loop ever
  runs per voxel or per slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import ndimage

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

#: Independent random streams: anatomy must not change when a finding or a noise level
#: changes, so each concern draws from its own ``SeedSequence([seed, stream])``.
STREAM_ANATOMY = 0
STREAM_CT_NOISE = 1
STREAM_MR_NOISE = 2
STREAM_TEXTURE = 3
STREAM_MR_NOISE_2 = 4


def rng_for(seed: int, stream: int) -> np.random.Generator:
    """Return the generator of one independent random stream of a phantom seed."""
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([seed, stream]))


@dataclass(frozen=True)
class Grid:
    """Voxel-centre coordinates of a volume in millimetres.

    Attributes:
        shape: Volume shape ``(Z, Y, X)``.
        spacing_mm: Voxel spacing ``(dz, dy, dx)`` in mm.
        depth: Depth of each slice centre below the top edge, shape ``(Z, 1, 1)``.
        y: Row coordinates (posterior positive), shape ``(1, Y, 1)``.
        x: Column coordinates (patient left positive), shape ``(1, 1, X)``.
    """

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    depth: FloatArray
    y: FloatArray
    x: FloatArray

    @classmethod
    def from_fov(cls, shape: tuple[int, int, int], fov_mm: Sequence[float]) -> Grid:
        """Build a grid that spans a fixed physical field of view.

        Fixing the field of view (not the spacing) keeps the anatomy identical in mm for
        any requested matrix, so a 200 x 512 x 512 benchmark volume shows the same spine
        as the 64 x 192 x 192 default, only sampled more finely.
        """
        if len(shape) != 3 or min(shape) < 8:
            raise ValueError(f"shape must be (Z, Y, X) with every size >= 8, got {shape}")
        nz, ny, nx = (int(s) for s in shape)
        # Rounded so that spacing written to DICOM is exactly what the arrays assume.
        dz, dy, dx = (round(float(f) / n, 6) for f, n in zip(fov_mm, (nz, ny, nx), strict=True))
        depth = ((np.arange(nz, dtype=np.float32) + 0.5) * dz).reshape(nz, 1, 1)
        y = ((np.arange(ny, dtype=np.float32) - (ny - 1) / 2) * dy).reshape(1, ny, 1)
        x = ((np.arange(nx, dtype=np.float32) - (nx - 1) / 2) * dx).reshape(1, 1, nx)
        return cls((nz, ny, nx), (dz, dy, dx), depth, y, x)

    @property
    def pixel_mm(self) -> float:
        """Largest in-plane spacing; thin structures are made at least this thick."""
        return max(self.spacing_mm[1], self.spacing_mm[2])

    @property
    def depths(self) -> FloatArray:
        """Slice-centre depths as a flat ``(Z,)`` array."""
        return self.depth.reshape(-1)


def col(values: npt.ArrayLike) -> FloatArray:
    """Reshape a per-slice vector ``(Z,)`` to ``(Z, 1, 1)`` for broadcasting."""
    return np.asarray(values, dtype=np.float32).reshape(-1, 1, 1)


def ellipse(
    grid: Grid,
    cx: npt.ArrayLike,
    cy: npt.ArrayLike,
    ax: npt.ArrayLike,
    ay: npt.ArrayLike,
) -> BoolArray:
    """Inside-test of an axial ellipse whose parameters may vary per slice.

    Args:
        grid: Volume grid.
        cx: Centre x (mm), scalar or per-slice ``(Z,)``.
        cy: Centre y (mm), scalar or per-slice ``(Z,)``.
        ax: Semi-axis along x (mm); values <= 0 give an empty slice.
        ay: Semi-axis along y (mm); values <= 0 give an empty slice.

    Returns:
        Boolean mask of shape ``grid.shape``.
    """
    nz = grid.shape[0]
    cx_, cy_, ax_, ay_ = (np.broadcast_to(col(v), (nz, 1, 1)) for v in (cx, cy, ax, ay))
    present = (ax_ > 0) & (ay_ > 0)
    out = np.zeros(grid.shape, dtype=bool)
    if not present.any():
        return out
    # Evaluate on the bounding box only: most shapes (vertebrae, canal, cord) cover a few
    # percent of a slice, which makes large matrices several times faster.
    zs = np.flatnonzero(present.reshape(-1))
    zb = slice(int(zs[0]), int(zs[-1]) + 1)
    ys, xs = grid.y.reshape(-1), grid.x.reshape(-1)
    y0 = int(np.searchsorted(ys, float((cy_ - ay_)[present].min())))
    y1 = int(np.searchsorted(ys, float((cy_ + ay_)[present].max()), side="right"))
    x0 = int(np.searchsorted(xs, float((cx_ - ax_)[present].min())))
    x1 = int(np.searchsorted(xs, float((cx_ + ax_)[present].max()), side="right"))
    # The two squared terms are thin (Z,1,X) / (Z,Y,1) arrays; only their sum is 3D.
    tx = ((grid.x[..., x0:x1] - cx_[zb]) / np.maximum(ax_[zb], 1e-3)) ** 2
    ty = ((grid.y[:, y0:y1] - cy_[zb]) / np.maximum(ay_[zb], 1e-3)) ** 2
    inside: BoolArray = (tx + ty) <= 1.0
    out[zb, y0:y1, x0:x1] = inside & present[zb]
    return out


def box(
    grid: Grid,
    x0: npt.ArrayLike,
    x1: npt.ArrayLike,
    y0: npt.ArrayLike,
    y1: npt.ArrayLike,
) -> BoolArray:
    """Inside-test of an axis-aligned rectangle ``x0 <= x < x1, y0 <= y < y1`` per slice."""
    in_x = (grid.x >= col(x0)) & (grid.x < col(x1))
    in_y = (grid.y >= col(y0)) & (grid.y < col(y1))
    return _full(in_x & in_y, grid)


def _full(mask: BoolArray, grid: Grid) -> BoolArray:
    """Materialise a broadcastable mask at full volume shape (scalar shapes are 2D)."""
    if mask.shape == grid.shape:
        return mask
    return np.broadcast_to(mask, grid.shape).copy()


def ellipsoid_profile(depths: FloatArray, center: float, half_height: float) -> FloatArray:
    """Per-slice in-plane scale ``sqrt(1 - ((d - c) / h)^2)`` of an ellipsoid (0 outside)."""
    u = 1.0 - ((depths - center) / max(half_height, 1e-3)) ** 2
    out: FloatArray = np.sqrt(np.clip(u, 0.0, None)).astype(np.float32)
    return out


def tube(
    grid: Grid,
    start: tuple[float, float, float],
    end: tuple[float, float, float],
    radius: float,
) -> tuple[tuple[slice, slice, slice], BoolArray]:
    """Voxels within ``radius`` of a 3D segment, evaluated on its bounding box only.

    Args:
        grid: Volume grid.
        start: Segment start as ``(depth, y, x)`` in mm.
        end: Segment end as ``(depth, y, x)`` in mm.
        radius: Tube radius in mm.

    Returns:
        The bounding-box slices into the volume and the boolean mask for that box.
    """
    p0, p1 = np.asarray(start, np.float64), np.asarray(end, np.float64)
    lo, hi = np.minimum(p0, p1) - radius, np.maximum(p0, p1) + radius
    axes = (grid.depths, grid.y.reshape(-1), grid.x.reshape(-1))
    bounds = tuple(
        slice(int(np.searchsorted(a, lo[i])), int(np.searchsorted(a, hi[i], side="right")))
        for i, a in enumerate(axes)
    )
    sl: tuple[slice, slice, slice] = (bounds[0], bounds[1], bounds[2])
    d = axes[0][sl[0]].reshape(-1, 1, 1) - p0[0]
    y = axes[1][sl[1]].reshape(1, -1, 1) - p0[1]
    x = axes[2][sl[2]].reshape(1, 1, -1) - p0[2]
    v = p1 - p0
    t = np.clip((d * v[0] + y * v[1] + x * v[2]) / max(float(v @ v), 1e-9), 0.0, 1.0)
    dist2 = (d - t * v[0]) ** 2 + (y - t * v[1]) ** 2 + (x - t * v[2]) ** 2
    mask: BoolArray = dist2 <= radius**2
    return sl, mask


@dataclass(frozen=True)
class Segment:
    """One vertebral body or intervertebral disc along the cranio-caudal axis.

    Attributes:
        name: ``"C5"`` for a vertebra, ``"C5-C6"`` for the disc below it.
        kind: ``"vertebra"`` or ``"disc"``.
        top_mm: Depth of the cranial boundary below the top edge of the volume.
        bottom_mm: Depth of the caudal boundary.
        vertebra: Index of the vertebra (for a disc: of the vertebra above it).
    """

    name: str
    kind: Literal["vertebra", "disc"]
    top_mm: float
    bottom_mm: float
    vertebra: int

    @property
    def center_mm(self) -> float:
        """Depth of the segment centre."""
        return (self.top_mm + self.bottom_mm) / 2

    @property
    def height_mm(self) -> float:
        """Cranio-caudal height of the segment."""
        return self.bottom_mm - self.top_mm


def stack_segments(
    names: Sequence[str],
    body_heights: Sequence[float] | npt.NDArray[np.floating],
    disc_heights: Sequence[float] | npt.NDArray[np.floating],
    top_offset_mm: float,
) -> tuple[Segment, ...]:
    """Lay vertebrae and discs out along depth, starting ``top_offset_mm`` above the volume.

    Args:
        names: Vertebra names, cranial first.
        body_heights: Body height per vertebra (mm).
        disc_heights: Height of the disc *below* each vertebra (mm); the last is unused.
        top_offset_mm: How far above the top edge the first vertebra starts (>= 0).

    Returns:
        Alternating vertebra/disc segments, cranial first.
    """
    segments: list[Segment] = []
    depth = -float(top_offset_mm)
    for i, name in enumerate(names):
        body, gap = float(body_heights[i]), float(disc_heights[i])
        segments.append(Segment(name, "vertebra", depth, depth + body, i))
        depth += body
        if i + 1 < len(names):
            disc = f"{name}-{names[i + 1]}"
            segments.append(Segment(disc, "disc", depth, depth + gap, i))
            depth += gap
    return tuple(segments)


def slice_segments(segments: Sequence[Segment], depths: FloatArray) -> npt.NDArray[np.intp]:
    """Index into ``segments`` of the segment containing each slice centre."""
    bottoms = np.array([s.bottom_mm for s in segments])
    idx = np.searchsorted(bottoms, depths, side="right")
    return np.clip(idx, 0, len(segments) - 1)


def correlated_noise(
    rng: np.random.Generator, shape: tuple[int, int, int], sd: float, sigma_px: float
) -> FloatArray:
    """Gaussian noise with in-plane correlation, rescaled to standard deviation ``sd``.

    Reconstructed CT noise is not white: the kernel correlates neighbouring pixels, which
    is what gives CT its grainy look, so white noise is blurred in-plane and rescaled.
    """
    white = rng.standard_normal(shape, dtype=np.float32)
    if sigma_px > 0:
        white = ndimage.gaussian_filter(white, (0.0, sigma_px, sigma_px), truncate=3.0)
    std = float(white.std())
    white *= np.float32(sd / max(std, 1e-6))
    return white


def rician(signal: FloatArray, sigma: float, rng: np.random.Generator) -> FloatArray:
    """Magnitude of the signal plus complex Gaussian noise (Rician statistics).

    Magnitude MR images have a non-zero noise floor in air and a positive bias at low
    SNR; adding real noise to the magnitude would get both wrong.
    """
    real = signal + rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    imag = rng.standard_normal(signal.shape, dtype=np.float32) * np.float32(sigma)
    out: FloatArray = np.sqrt(real * real + imag * imag)
    return out


def coil_bias(grid: Grid, rng: np.random.Generator, amplitude: float) -> FloatArray:
    """Smooth multiplicative receive-coil bias field, brighter posteriorly.

    Spine coils sit behind the patient, so signal falls off towards anterior; a separable
    field keeps this cheap (a ``(1, Y, X)`` array broadcast over slices).
    """
    ny, nx = grid.shape[1], grid.shape[2]
    yr = grid.y.reshape(-1) / max(float(np.abs(grid.y).max()), 1e-3)
    xr = grid.x.reshape(-1) / max(float(np.abs(grid.x).max()), 1e-3)
    tilt = rng.uniform(-0.3, 0.3)
    field = 1.0 + amplitude * (0.6 * yr[:, None] + tilt * xr[None, :] - 0.3 * xr[None, :] ** 2)
    out: FloatArray = field.astype(np.float32).reshape(1, ny, nx)
    return out


def radial_weight(
    grid: Grid, cx: npt.ArrayLike, cy: npt.ArrayLike, ax: npt.ArrayLike, ay: npt.ArrayLike
) -> FloatArray:
    """1 at an ellipse's centre falling to 0 at its boundary (used for disc nuclei)."""
    r2 = ((grid.x - col(cx)) / np.maximum(col(ax), 1e-3)) ** 2 + (
        (grid.y - col(cy)) / np.maximum(col(ay), 1e-3)
    ) ** 2
    out: FloatArray = np.clip(1.0 - r2, 0.0, 1.0).astype(np.float32)
    return out
