"""Synthetic cervical-spine trauma phantom: co-registered CT (HU), T2-weighted MRI and labels.

The phantom stands in for the paired CT / T2 MRI of acute cervical cord injury (pseudo-MRI
study, PROTOCOLS.md section 1). Anatomy is built from analytic shapes in millimetres and then
sampled on the requested grid, so every matrix size shows the same spine. Everything is a
pure function of ``seed`` (and of the requested findings, which never alter the random draws:
a phantom with a finding differs from the finding-free phantom of the same seed only where
the finding is).
"""

from __future__ import annotations

from collections.abc import Iterable
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
from inference.phantoms.cervical_geometry import (
    CERVICAL_FOV_MM,
    CERVICAL_VERTEBRAE,
    Layout,
    build_layout,
    narrow_disc,
    paint_canal,
    paint_neck,
    paint_spine,
)
from inference.phantoms.labels import (
    CERVICAL_FINDINGS,
    DISC_INJURY,
    CervicalLabel,
)

CERVICAL_DEFAULT_SHAPE = (64, 192, 192)
#: Levels an injury may be placed at (each needs a disc and a spinous process below it).
CERVICAL_INJURY_LEVELS = ("C3", "C4", "C5", "C6", "C7")

_L = CervicalLabel
# Mean CT number per label (HU). Bone values are overridden per seed (bone density varies).
_CT_HU = {
    _L.AIR: -1000.0,
    _L.SOFT_TISSUE: 50.0,
    _L.FAT: -100.0,
    _L.CORTICAL_BONE: 1000.0,
    _L.CANCELLOUS_BONE: 280.0,
    _L.POSTERIOR_ELEMENTS: 750.0,
    _L.DISC: 90.0,
    _L.CSF: 8.0,
    _L.SPINAL_CORD: 36.0,
    _L.CORD_EDEMA: 33.0,  # oedema lowers HU by only a few units: near invisible on CT
    _L.DISC_INJURY: 75.0,
    _L.HEMATOMA: 68.0,  # fresh blood is denser than muscle
    _L.STENOSIS: 420.0,  # partly calcified disc-osteophyte bar
    _L.LIGAMENT_INJURY: 48.0,
}
# Mean T2-weighted (fast spin echo) signal per label, arbitrary units on a 12-bit scale.
_T2 = {
    _L.AIR: 0.0,
    _L.SOFT_TISSUE: 380.0,
    _L.FAT: 1250.0,  # fat stays bright on FSE T2 (J-coupling)
    _L.CORTICAL_BONE: 60.0,
    _L.CANCELLOUS_BONE: 650.0,
    _L.POSTERIOR_ELEMENTS: 300.0,
    _L.DISC: 650.0,  # annulus; the nucleus is added on top (see _mri)
    _L.CSF: 2200.0,
    _L.SPINAL_CORD: 780.0,
    _L.CORD_EDEMA: 1650.0,
    _L.DISC_INJURY: 1900.0,
    _L.HEMATOMA: 1500.0,
    _L.STENOSIS: 260.0,
    _L.LIGAMENT_INJURY: 1700.0,
}


def _table(values: dict[CervicalLabel, float]) -> npt.NDArray[np.float32]:
    return np.array([values[label] for label in CervicalLabel], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class CervicalPhantom:
    """A co-registered cervical trauma case.

    Attributes:
        seed: Seed the phantom was generated from.
        ct_hu: CT in Hounsfield units, int16 ``(z, y, x)``; slice 0 is cranial.
        mri_t2: T2-weighted MRI magnitude, uint16, same grid as ``ct_hu``.
        labels: Tissue/finding labels, uint8, values of :class:`CervicalLabel`.
        spacing_mm: Voxel spacing ``(dz, dy, dx)`` in mm.
        findings: Findings present (subset of :data:`CERVICAL_FINDINGS`).
        injury_level: Vertebra the injury is centred on, e.g. ``"C5"``; findings at a disc
            or interspinous space use the one below it (``"C5-C6"``).
        levels: Per-slice segment name: ``"C5"`` (vertebral body) or ``"C5-C6"`` (disc).
        segments: The vertebra/disc layout along z in mm (depth below the top edge).
    """

    seed: int
    ct_hu: npt.NDArray[np.int16]
    mri_t2: npt.NDArray[np.uint16]
    labels: npt.NDArray[np.uint8]
    spacing_mm: tuple[float, float, float]
    findings: frozenset[str]
    injury_level: str
    levels: tuple[str, ...]
    segments: tuple[Segment, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Volume shape ``(Z, Y, X)``."""
        nz, ny, nx = self.labels.shape
        return (nz, ny, nx)

    @property
    def injury_disc(self) -> str:
        """Name of the disc below the injured vertebra, e.g. ``"C5-C6"``."""
        i = CERVICAL_VERTEBRAE.index(self.injury_level)
        return f"{self.injury_level}-{CERVICAL_VERTEBRAE[i + 1]}"

    def slices_of(self, level: str) -> npt.NDArray[np.intp]:
        """Indices of the slices whose centre lies in vertebra or disc ``level``."""
        return np.flatnonzero(np.asarray(self.levels) == level)


def generate_cervical_case(
    *,
    seed: int,
    findings: Iterable[str] = (),
    shape: tuple[int, int, int] = CERVICAL_DEFAULT_SHAPE,
) -> CervicalPhantom:
    """Generate a cervical trauma phantom.

    Args:
        seed: Non-negative seed; same seed gives byte-identical arrays.
        findings: Any of :data:`CERVICAL_FINDINGS`.
        shape: Volume shape ``(Z, Y, X)``; the field of view is fixed
            (:data:`CERVICAL_FOV_MM`), so spacing follows from the shape.

    Returns:
        The phantom.

    Raises:
        ValueError: On an unknown finding or an invalid shape/seed.
    """
    wanted = frozenset(findings)
    unknown = wanted - CERVICAL_FINDINGS
    if unknown:
        raise ValueError(f"unknown findings {sorted(unknown)}; known: {sorted(CERVICAL_FINDINGS)}")
    grid = Grid.from_fov(shape, CERVICAL_FOV_MM)
    rng = rng_for(seed, STREAM_ANATOMY)
    n = len(CERVICAL_VERTEBRAE)
    # Every draw happens unconditionally and in a fixed order, so that findings never
    # shift the random stream (and with it the anatomy).
    scale = rng.uniform(0.9, 1.1)
    neck = rng.uniform(0.92, 1.08)
    body_h = np.concatenate(
        [[rng.uniform(20, 23)], rng.uniform(13, 15.5, 5), rng.uniform(15, 18, 4)]
    )
    body_h *= scale
    disc_h = rng.uniform(4.5, 6.0, n) * scale
    top_offset = rng.uniform(2.0, 6.0)
    canal_ap, canal_lr = rng.uniform(12.0, 16.0), rng.uniform(22.0, 26.0)
    cord_scale = rng.uniform(0.9, 1.1)
    lordosis = rng.uniform(2.0, 6.0)
    injury = int(rng.integers(1, 1 + len(CERVICAL_INJURY_LEVELS)))
    sp_len = rng.uniform(16.0, 22.0)
    prevert = (rng.uniform(3.0, 5.0), rng.uniform(10.0, 14.0))
    hematoma_mm = rng.uniform(7.0, 11.0)
    bulge_frac = rng.uniform(0.4, 0.55)
    edema_len = rng.uniform(0.5, 0.8)
    bone_hu = (rng.uniform(900, 1150), rng.uniform(220, 330), rng.uniform(650, 850))
    ct_noise_sd = rng.uniform(11.0, 16.0)
    mr_noise_sd = rng.uniform(25.0, 40.0)

    normal = stack_segments(CERVICAL_VERTEBRAE, body_h, disc_h, top_offset)
    segments = normal
    if DISC_INJURY in wanted:
        segments = narrow_disc(normal, 2 * injury + 1, keep=0.5)
    # Sizes follow the normal stack, so a narrowed disc changes nothing but that disc.
    lay = build_layout(grid, segments, normal, scale, lordosis, canal_ap, cord_scale)
    labels = np.full(grid.shape, _L.SOFT_TISSUE, dtype=np.uint8)
    paint_neck(grid, labels, lay, segments, neck, prevert, injury, hematoma_mm, wanted)
    paint_spine(grid, labels, lay, segments, scale, canal_ap, canal_lr, sp_len, injury, wanted)
    paint_canal(
        grid, labels, lay, segments, canal_ap, canal_lr, injury, bulge_frac, edema_len, wanted
    )

    texture = correlated_noise(rng_for(seed, STREAM_TEXTURE), grid.shape, 1.0, 1.5)
    ct = _ct(labels, texture, bone_hu, ct_noise_sd, rng_for(seed, STREAM_CT_NOISE))
    mri = _mri(grid, labels, lay, texture, mr_noise_sd, rng_for(seed, STREAM_MR_NOISE))
    seg_idx = slice_segments(segments, grid.depths)
    return CervicalPhantom(
        seed=seed,
        ct_hu=ct,
        mri_t2=mri,
        labels=labels,
        spacing_mm=grid.spacing_mm,
        findings=wanted,
        injury_level=CERVICAL_VERTEBRAE[injury],
        levels=tuple(segments[i].name for i in seg_idx),
        segments=segments,
    )


def _ct(
    labels: npt.NDArray[np.uint8],
    texture: npt.NDArray[np.float32],
    bone_hu: tuple[float, float, float],
    noise_sd: float,
    rng: np.random.Generator,
) -> npt.NDArray[np.int16]:
    table = _table(_CT_HU)
    table[_L.CORTICAL_BONE], table[_L.CANCELLOUS_BONE], table[_L.POSTERIOR_ELEMENTS] = bone_hu
    hu = table[labels]
    # Trabecular texture in the marrow: CT resolves it as coarse mottling.
    hu += np.where(labels == _L.CANCELLOUS_BONE, np.float32(35.0) * texture, np.float32(0.0))
    hu += correlated_noise(rng, labels.shape, noise_sd, 0.7)
    return np.rint(np.clip(hu, -1024, 3071)).astype(np.int16)


def _mri(
    grid: Grid,
    labels: npt.NDArray[np.uint8],
    lay: Layout,
    texture: npt.NDArray[np.float32],
    noise_sd: float,
    rng: np.random.Generator,
) -> npt.NDArray[np.uint16]:
    sig = _table(_T2)[labels]
    # Nucleus pulposus (water-rich, bright) inside a darker annulus.
    nucleus = radial_weight(grid, 0.0, lay.body_cy - 0.5, 0.7 * lay.body_ax, 0.6 * lay.body_ay)
    sig += np.where(labels == _L.DISC, np.float32(1100.0) * nucleus, np.float32(0.0))
    sig += np.where(labels == _L.CANCELLOUS_BONE, np.float32(60.0) * texture, np.float32(0.0))
    sig *= coil_bias(grid, rng, 0.12)
    mag = rician(sig, noise_sd, rng)
    return np.rint(np.clip(mag, 0, 4095)).astype(np.uint16)
