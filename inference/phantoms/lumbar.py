"""Synthetic lumbar phantom: dual-energy "mixed" CT, MR myelography and the dural canal mask.

Stands in for the NC-CTM material (PROTOCOLS.md section 2): a non-contrast dual-energy CT in
which the dural canal (CSF, ~10 HU) must be told apart from ligamentum flavum (~60 HU) and
disc (~90 HU), the MR myelogram (MRM) surgeons compare it with, and the reference mask of the
dural canal plus the nerve-root sleeves leaving it at each level. All three share one grid.
Tissue values and noise give contrast-to-noise ratios of the order the protocol reports for
the mixed image (CNR DC-LF ~ 7, DC-IVD ~ 10).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inference.phantoms.anatomy import (
    STREAM_ANATOMY,
    STREAM_CT_NOISE,
    STREAM_MR_NOISE,
    STREAM_TEXTURE,
    Grid,
    Segment,
    coil_bias,
    correlated_noise,
    radial_weight,
    rician,
    rng_for,
    slice_segments,
    stack_segments,
)
from inference.phantoms.labels import LumbarLabel
from inference.phantoms.lumbar_geometry import (
    Layout,
    paint_body_wall,
    paint_canal,
    paint_herniation,
    paint_spine,
)

LUMBAR_DEFAULT_SHAPE = (64, 192, 192)
LUMBAR_DEFAULT_LEVELS = ("L3", "L4", "L5", "S1")
#: Vertebrae a lumbar stack is built from; requested levels must be contiguous in L1..S1.
LUMBAR_VERTEBRAE = ("T12", "L1", "L2", "L3", "L4", "L5", "S1", "S2")
#: In-plane field of view (mm); the z field of view is 40 mm per requested level.
LUMBAR_FOV_XY_MM = 180.0
_FOV_Z_PER_LEVEL_MM = 40.0

#: Prior over herniated discs (L4-L5 and L5-S1 dominate clinically).
_HERNIATION_PRIOR = {"L1-L2": 0.04, "L2-L3": 0.06, "L3-L4": 0.15, "L4-L5": 0.45, "L5-S1": 0.4}

_L = LumbarLabel
_MIXED_HU = {
    _L.AIR: -1000.0,
    _L.SOFT_TISSUE: 50.0,
    _L.FAT: -95.0,
    _L.CORTICAL_BONE: 1000.0,
    _L.CANCELLOUS_BONE: 200.0,
    _L.POSTERIOR_ELEMENTS: 650.0,
    _L.DISC: 90.0,
    _L.LIGAMENTUM_FLAVUM: 60.0,
    _L.DURAL_CANAL: 12.0,
    _L.NERVE_ROOT: 16.0,
    _L.HERNIATION: 92.0,
}
# Heavily T2-weighted, fat-suppressed 3D MRM: only free water (CSF) is bright.
_MRM = {
    _L.AIR: 0.0,
    _L.SOFT_TISSUE: 60.0,
    _L.FAT: 35.0,
    _L.CORTICAL_BONE: 5.0,
    _L.CANCELLOUS_BONE: 55.0,
    _L.POSTERIOR_ELEMENTS: 25.0,
    _L.DISC: 50.0,  # plus a faint nucleus, see _mrm
    _L.LIGAMENTUM_FLAVUM: 30.0,
    _L.DURAL_CANAL: 3000.0,
    _L.NERVE_ROOT: 2500.0,
    _L.HERNIATION: 60.0,
}


def _table(values: dict[LumbarLabel, float]) -> npt.NDArray[np.float32]:
    return np.array([values[label] for label in LumbarLabel], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class LumbarPhantom:
    """A co-registered lumbar NC-CTM case.

    Attributes:
        seed: Seed the phantom was generated from.
        mixed_ct_hu: Dual-energy mixed CT in HU, int16 ``(z, y, x)``; slice 0 is cranial.
        mrm: MR myelography magnitude, uint16, same grid.
        labels: Tissue labels, uint8, values of :class:`LumbarLabel`.
        dural_canal_mask: 0/1 uint8: dural sac plus nerve-root sleeves (the NC-CTM target).
        spacing_mm: Voxel spacing ``(dz, dy, dx)`` in mm.
        levels: Per-slice segment name, ``"L4"`` (vertebra) or ``"L4-L5"`` (disc).
        segments: The vertebra/disc layout along z in mm (depth below the top edge).
        herniation_level: Disc with a herniation, e.g. ``"L4-L5"``, or ``None``.
        herniation_side: ``"left"``, ``"right"`` or ``"central"`` (patient sides), or ``None``.
    """

    seed: int
    mixed_ct_hu: npt.NDArray[np.int16]
    mrm: npt.NDArray[np.uint16]
    labels: npt.NDArray[np.uint8]
    dural_canal_mask: npt.NDArray[np.uint8]
    spacing_mm: tuple[float, float, float]
    levels: tuple[str, ...]
    segments: tuple[Segment, ...]
    herniation_level: str | None
    herniation_side: str | None

    @property
    def shape(self) -> tuple[int, int, int]:
        """Volume shape ``(Z, Y, X)``."""
        nz, ny, nx = self.labels.shape
        return (nz, ny, nx)

    def slices_of(self, level: str) -> npt.NDArray[np.intp]:
        """Indices of the slices whose centre lies in vertebra or disc ``level``."""
        return np.flatnonzero(np.asarray(self.levels) == level)


def generate_lumbar_case(
    *,
    seed: int,
    shape: tuple[int, int, int] = LUMBAR_DEFAULT_SHAPE,
    levels: Sequence[str] = LUMBAR_DEFAULT_LEVELS,
    herniation: bool | None = None,
) -> LumbarPhantom:
    """Generate a lumbar dual-energy CT / MRM phantom.

    Args:
        seed: Non-negative seed; same seed gives byte-identical arrays.
        shape: Volume shape ``(Z, Y, X)``.
        levels: Contiguous vertebrae to cover, cranial first, within L1..S1.
        herniation: ``True``/``False`` to force a disc herniation; ``None`` lets the seed
            decide (about three cases in four have one). Its level and side always come
            from the seed.

    Returns:
        The phantom.

    Raises:
        ValueError: On invalid levels, shape or seed.
    """
    first = _validate_levels(levels)
    names = LUMBAR_VERTEBRAE[first - 1 :]
    fov_grid = Grid.from_fov(
        shape, (_FOV_Z_PER_LEVEL_MM * len(levels), LUMBAR_FOV_XY_MM, LUMBAR_FOV_XY_MM)
    )
    rng = rng_for(seed, STREAM_ANATOMY)
    n = len(names)
    # Fixed draw order, independent of ``herniation``, so forcing it changes nothing else.
    scale = rng.uniform(0.92, 1.06)
    body_h = rng.uniform(25.0, 29.0, n) * scale
    disc_h = rng.uniform(9.0, 12.0, n) * scale
    disc_h[[i for i, name in enumerate(names) if name.startswith("S")]] = 0.0  # fused sacrum
    top_gap = rng.uniform(0.3, 0.6)
    lordosis = rng.uniform(2.0, 8.0)
    body_size = rng.uniform(0.92, 1.08)
    canal = (rng.uniform(10.5, 12.5), rng.uniform(7.5, 9.5))  # bony canal half-axes x, y
    sac = (rng.uniform(7.0, 9.0), rng.uniform(5.5, 7.0))
    girth, subcut = rng.uniform(0.9, 1.1), rng.uniform(10.0, 28.0)
    sp_len = rng.uniform(26.0, 34.0)
    has_hernia = rng.uniform() < 0.75
    discs_here = [f"{a}-{b}" for a, b in itertools.pairwise(levels)]
    prior = np.array([_HERNIATION_PRIOR[name] for name in discs_here] or [1.0])
    hernia_idx = int(rng.choice(len(prior), p=prior / prior.sum()))
    side = str(rng.choice(["left", "right", "central"]))
    hernia_shape = rng.uniform([3.0, 6.0, 0.35, -2.0, 1.0], [6.0, 9.0, 0.55, 2.0, 4.0])
    hu = {
        _L.CORTICAL_BONE: rng.uniform(850, 1100),
        _L.CANCELLOUS_BONE: rng.uniform(150, 260),
        _L.DISC: rng.uniform(82, 98),
        _L.LIGAMENTUM_FLAVUM: rng.uniform(55, 68),
        _L.DURAL_CANAL: rng.uniform(8, 17),
    }
    ct_noise_sd, mr_noise_sd = rng.uniform(6.0, 9.0), rng.uniform(12.0, 20.0)
    # Drawn last so the draws above keep their values. Patients lie off the isocentre and
    # dural sacs differ in calibre and sit off the midline of the bony canal: without this
    # the canal would sit on the same voxels in every seed, and a segmentation model that
    # learned only "where the canal usually is" would score well on held-out phantoms.
    table_offset = rng.uniform([-20.0, -12.0], [20.0, 12.0])  # patient x, y in the FOV (mm)
    sac = (sac[0] * rng.uniform(0.8, 1.15), sac[1] * rng.uniform(0.85, 1.15))
    sac_dx = rng.uniform(-1.5, 1.5)

    # Anatomy is painted in patient coordinates centred on the spine; the grid says where
    # each voxel lies in them, so moving its origin moves the patient within the image.
    grid = dataclasses.replace(
        fov_grid,
        x=fov_grid.x - np.float32(table_offset[0]),
        y=fov_grid.y - np.float32(table_offset[1]),
    )
    top_offset = body_h[0] + top_gap * disc_h[0]
    segments = stack_segments(names, body_h, disc_h, top_offset)
    herniate = has_hernia if herniation is None else herniation
    hernia_level = discs_here[hernia_idx] if herniate and discs_here else None

    lay = Layout.build(grid, segments, scale * body_size, lordosis, canal, sac)
    labels = np.full(grid.shape, _L.SOFT_TISSUE, dtype=np.uint8)
    paint_body_wall(grid, labels, lay, girth, subcut)
    paint_spine(grid, labels, lay, segments, canal, sp_len)
    paint_canal(grid, labels, lay, segments, canal, sac, sac_dx)
    if hernia_level is not None:
        paint_herniation(grid, labels, lay, segments, hernia_level, side, hernia_shape, sac)

    texture = correlated_noise(rng_for(seed, STREAM_TEXTURE), grid.shape, 1.0, 1.5)
    table = _table(_MIXED_HU)
    for label, value in hu.items():
        table[label] = value
    ct = table[labels]
    ct += np.where(labels == _L.CANCELLOUS_BONE, np.float32(30.0) * texture, np.float32(0.0))
    ct += correlated_noise(rng_for(seed, STREAM_CT_NOISE), grid.shape, ct_noise_sd, 0.7)
    mixed = np.rint(np.clip(ct, -1024, 3071)).astype(np.int16)
    mrm = _mrm(grid, labels, lay, mr_noise_sd, rng_for(seed, STREAM_MR_NOISE))
    mask = np.isin(labels, (_L.DURAL_CANAL, _L.NERVE_ROOT)).astype(np.uint8)
    return LumbarPhantom(
        seed=seed,
        mixed_ct_hu=mixed,
        mrm=mrm,
        labels=labels,
        dural_canal_mask=mask,
        spacing_mm=grid.spacing_mm,
        levels=tuple(segments[i].name for i in slice_segments(segments, grid.depths)),
        segments=segments,
        herniation_level=hernia_level,
        herniation_side=side if hernia_level else None,
    )


def _validate_levels(levels: Sequence[str]) -> int:
    names = list(levels)
    allowed = LUMBAR_VERTEBRAE[1:-1]
    if not names or any(name not in allowed for name in names):
        raise ValueError(f"levels must be vertebrae among {allowed}, got {names}")
    first = LUMBAR_VERTEBRAE.index(names[0])
    if names != list(LUMBAR_VERTEBRAE[first : first + len(names)]):
        raise ValueError(f"levels must be contiguous and cranial first, got {names}")
    return first


def _mrm(
    grid: Grid,
    labels: npt.NDArray[np.uint8],
    lay: Layout,
    noise_sd: float,
    rng: np.random.Generator,
) -> npt.NDArray[np.uint16]:
    sig = _table(_MRM)[labels]
    nucleus = radial_weight(grid, 0.0, lay.body_cy - 1.0, 0.6 * lay.body_ax, 0.5 * lay.body_ay)
    sig += np.where(labels == _L.DISC, np.float32(120.0) * nucleus, np.float32(0.0))
    sig *= coil_bias(grid, rng, 0.15)
    mag = rician(sig, noise_sd, rng)
    return np.rint(np.clip(mag, 0, 4095)).astype(np.uint16)
