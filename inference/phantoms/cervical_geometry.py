"""Geometry of the cervical phantom: vertebral layout and the label painting.

Internal to :mod:`inference.phantoms.cervical`; every function paints one group of structures
into the label volume in place, in an order where later structures win.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from inference.phantoms.anatomy import (
    Grid,
    Segment,
    box,
    ellipse,
    ellipsoid_profile,
    slice_segments,
)
from inference.phantoms.labels import (
    CANAL_STENOSIS,
    CORD_EDEMA,
    DISC_INJURY,
    LIGAMENT_INJURY,
    RETROPHARYNGEAL_HEMATOMA,
    CervicalLabel,
)

_L = CervicalLabel
#: Physical field of view (z, y, x) in mm; spacing is this divided by the shape.
CERVICAL_FOV_MM = (160.0, 153.6, 153.6)
#: Vertebrae laid out from the top of the volume; the stack is long enough for any seed.
CERVICAL_VERTEBRAE = ("C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2", "T3", "T4")


@dataclass(frozen=True)
class Layout:
    """Per-slice geometry (``(Z,)`` float arrays in mm) and the slice -> vertebra ownership."""

    body_cy: npt.NDArray[np.float32]
    body_ax: npt.NDArray[np.float32]
    body_ay: npt.NDArray[np.float32]
    canal_cy: npt.NDArray[np.float32]
    cord_ax: npt.NDArray[np.float32]
    cord_ay: npt.NDArray[np.float32]
    owner: npt.NDArray[np.intp]  # vertebra index owning each slice (its body + disc below)
    rel: npt.NDArray[np.float32]  # depth below that vertebra's top


def narrow_disc(segments: tuple[Segment, ...], i: int, keep: float) -> tuple[Segment, ...]:
    """Lose disc height by moving both endplates in; the rest of the stack stays put."""
    disc = segments[i]
    cut = disc.height_mm * (1.0 - keep) / 2
    out = list(segments)
    out[i - 1] = replace(segments[i - 1], bottom_mm=disc.top_mm + cut)
    out[i] = replace(disc, top_mm=disc.top_mm + cut, bottom_mm=disc.bottom_mm - cut)
    out[i + 1] = replace(segments[i + 1], top_mm=disc.bottom_mm - cut)
    return tuple(out)


def build_layout(
    grid: Grid,
    segments: tuple[Segment, ...],
    normal: tuple[Segment, ...],
    scale: float,
    lordosis: float,
    canal_ap: float,
    cord_scale: float,
) -> Layout:
    d = grid.depths
    verts = [s for s in segments if s.kind == "vertebra"]
    idx = np.arange(len(verts), dtype=np.float32)
    centers = np.array([v.center_mm for v in normal if v.kind == "vertebra"])
    # Bodies widen caudally; interpolating between body centres also sizes the discs.
    body_ax = np.interp(d, centers, (7.8 + 0.45 * idx) * scale).astype(np.float32)
    body_ay = np.interp(d, centers, (7.0 + 0.3 * idx) * scale).astype(np.float32)
    # Cervical lordosis: mid-neck levels sit more anterior than the ends.
    shift = -lordosis * np.sin(np.pi * np.clip(d / CERVICAL_FOV_MM[0], 0, 1))
    body_cy = (-6.0 + shift).astype(np.float32)
    canal_cy = (body_cy + body_ay + canal_ap / 2).astype(np.float32)
    # The cord is widest at the cervical enlargement and thins in the thoracic levels.
    cord_ax = np.interp(d, centers, np.where(idx <= 5, 5.8, 4.6) * cord_scale).astype(np.float32)
    cord_ay = np.interp(d, centers, np.where(idx <= 5, 3.7, 3.2) * cord_scale).astype(np.float32)
    owner = np.array([s.vertebra for s in segments])[slice_segments(segments, d)]
    tops = np.array([v.top_mm for v in verts], dtype=np.float32)
    rel = (d - tops[owner]).astype(np.float32)
    return Layout(body_cy, body_ax, body_ay, canal_cy, cord_ax, cord_ay, owner, rel)


def paint_neck(
    grid: Grid,
    labels: npt.NDArray[np.uint8],
    lay: Layout,
    segments: tuple[Segment, ...],
    neck: float,
    prevert: tuple[float, float],
    injury: int,
    hematoma_mm: float,
    wanted: frozenset[str],
) -> None:
    d = grid.depths
    grow = d / CERVICAL_FOV_MM[0]  # the neck widens towards the shoulders
    nax, nay = 60.0 * neck * (1 + 0.1 * grow), 57.0 * neck * (1 + 0.05 * grow)
    outside = ~ellipse(grid, 0.0, 0.0, nax, nay)
    # Subcutaneous fat is thicker at the back of the neck (inner ellipse shifted forward).
    labels[~ellipse(grid, 0.0, -2.0, nax - 5.0, nay - 6.0)] = _L.FAT
    verts = [s for s in segments if s.kind == "vertebra"]
    # Prevertebral soft tissue is thin behind the pharynx and thick behind the oesophagus.
    pv = np.interp(d, [verts[2].center_mm, verts[4].center_mm], prevert)
    hem = np.zeros_like(d)
    if RETROPHARYNGEAL_HEMATOMA in wanted:
        end = verts[min(injury + 1, len(verts) - 1)].bottom_mm
        hem = hematoma_mm * np.clip(np.minimum((d + 8.0) / 8.0, (end - d) / 8.0), 0, 1)
        front = lay.body_cy - lay.body_ay
        half = (pv + hem) / 2
        blood = ellipse(grid, 0.0, front - half, np.where(hem > 0.5, 13.0, 0.0), half + 0.5)
        labels[blood] = _L.HEMATOMA
    air_ay = np.interp(d, [0.0, CERVICAL_FOV_MM[0]], [6.5, 7.0])
    air_ax = np.interp(d, [0.0, CERVICAL_FOV_MM[0]], [10.0, 8.0])
    air_cy = lay.body_cy - lay.body_ay - pv - hem - air_ay
    labels[ellipse(grid, 0.0, air_cy, air_ax, air_ay) | outside] = _L.AIR


def paint_spine(
    grid: Grid,
    labels: npt.NDArray[np.uint8],
    lay: Layout,
    segments: tuple[Segment, ...],
    scale: float,
    canal_ap: float,
    canal_lr: float,
    sp_len: float,
    injury: int,
    wanted: frozenset[str],
) -> None:
    d = grid.depths
    verts = [s for s in segments if s.kind == "vertebra"]
    discs = [s for s in segments if s.kind == "disc"]
    h = np.array([v.height_mm for v in verts], dtype=np.float32)[lay.owner]
    dh = np.array([s.height_mm for s in discs] + [5.0], dtype=np.float32)[lay.owner]
    rel, cax, cay = lay.rel, canal_lr / 2, canal_ap / 2
    wall = max(1.2, grid.pixel_mm)  # thin bone must stay at least one voxel thick
    # Posterior arch (pedicles + laminae) as a ring around the canal, sloping into the disc
    # level below like real laminae; lateral masses leave a facet-joint gap between levels.
    arch = (rel >= 0.15 * h) & (rel < h + 0.5 * dh)
    ring = ellipse(grid, 0.0, lay.canal_cy, np.where(arch, cax + 3.5, 0), cay + 3.5)
    ring &= grid.y >= lay.body_cy.reshape(-1, 1, 1)
    lat = (rel >= 0.05 * h) & (rel < h + 0.8 * dh)
    for side in (-1.0, 1.0):  # two shapes, not a per-voxel loop
        mass = ellipse(grid, side * (cax + 4.5), lay.canal_cy + 1.0, np.where(lat, 5.0, 0), 6.0)
        ring |= mass
    # Spinous processes: C7 (vertebra prominens) and T1 are longest.
    sp_end = h + 0.9 * dh
    torn = np.zeros_like(arch)
    if LIGAMENT_INJURY in wanted:
        # Distraction: the injured level's process ends early, widening the interspinous gap.
        nxt = np.array([v.height_mm for v in verts] + [15.0], dtype=np.float32)[lay.owner + 1]
        at = lay.owner == injury
        sp_end = np.where(at, 0.85 * h, sp_end)
        torn = at & (rel >= 0.85 * h) & (rel < h + dh + 0.35 * nxt)
        torn |= (lay.owner == injury + 1) & (rel < 0.35 * h)
    spinous = (rel >= 0.35 * h) & (rel < sp_end)
    length = sp_len * np.where(np.isin(lay.owner, (5, 6)), 1.3, 1.0) * scale
    # Processes slope caudally: near the lamina they are short, the tip hangs lowest.
    length = length * np.clip((rel - 0.35 * h) / (0.5 * h), 0.35, 1.0)
    back = lay.canal_cy + cay
    sp_w = 2.6 * scale
    ring |= box(grid, -sp_w, np.where(spinous, sp_w, -sp_w), back, back + 3.5 + length)
    labels[ring] = _L.POSTERIOR_ELEMENTS
    if torn.any():
        gap = box(grid, -sp_w - 1, np.where(torn, sp_w + 1, -sp_w - 1), back + 3.5, back + length)
        labels[gap] = _L.LIGAMENT_INJURY

    seg_idx = slice_segments(segments, d)
    kind_disc = np.array([s.kind == "disc" for s in segments])[seg_idx]
    seg_top = np.array([s.top_mm for s in segments], dtype=np.float32)[seg_idx]
    seg_bot = np.array([s.bottom_mm for s in segments], dtype=np.float32)[seg_idx]
    is_body = ~kind_disc
    # C2: the dens rises from the upper part of the body.
    dens = is_body & (lay.owner == 0) & (rel < 0.38 * h)
    body_ax = np.where(dens, 5.0 * scale, lay.body_ax)
    body_ay = np.where(dens, 5.0 * scale, lay.body_ay)
    body_cy = np.where(dens, lay.body_cy + 1.0, lay.body_cy)
    outer = ellipse(grid, 0.0, body_cy, np.where(is_body, body_ax, 0), body_ay)
    endplate = is_body & ~dens & ((d - seg_top < 0.9) | (seg_bot - d < 0.9))
    inner = ellipse(grid, 0.0, body_cy, np.where(endplate, 0, body_ax - wall), body_ay - wall)
    labels[outer] = _L.CORTICAL_BONE
    labels[outer & inner] = _L.CANCELLOUS_BONE
    disc = ellipse(grid, 0.0, lay.body_cy, np.where(kind_disc, lay.body_ax, 0), lay.body_ay)
    labels[disc] = _L.DISC
    if DISC_INJURY in wanted:
        hurt = ellipse(
            grid, 0.0, lay.body_cy, np.where(seg_idx == 2 * injury + 1, lay.body_ax, 0), lay.body_ay
        )
        labels[hurt] = _L.DISC_INJURY


def paint_canal(
    grid: Grid,
    labels: npt.NDArray[np.uint8],
    lay: Layout,
    segments: tuple[Segment, ...],
    canal_ap: float,
    canal_lr: float,
    injury: int,
    bulge_frac: float,
    edema_len: float,
    wanted: frozenset[str],
) -> None:
    d = grid.depths
    cax, cay = canal_lr / 2, canal_ap / 2
    labels[ellipse(grid, 0.0, lay.canal_cy, cax, cay)] = _L.CSF
    front = lay.body_cy + lay.body_ay  # posterior surface of bodies and discs
    back = lay.canal_cy + cay
    cord_cy: npt.NDArray[np.floating] = lay.canal_cy - 0.3
    cord_ax: npt.NDArray[np.floating] = lay.cord_ax
    cord_ay: npt.NDArray[np.floating] = lay.cord_ay
    disc = segments[2 * injury + 1]
    if CANAL_STENOSIS in wanted:
        prof = ellipsoid_profile(d, disc.center_mm, disc.height_mm / 2 + 2.5)
        depth = bulge_frac * canal_ap * prof
        bar = ellipse(grid, 0.0, front, 7.0 * prof, depth)
        bar &= grid.y >= front.reshape(-1, 1, 1)
        labels[bar] = _L.STENOSIS
        # The cord is pushed back and flattened (and so broadened) by the bar.
        room = back - (front + depth)
        flat = np.minimum(cord_ay, np.maximum(room / 2 - 0.2, 1.2))
        cord_ax = cord_ax * (1 + 0.3 * (1 - flat / cord_ay))
        cord_cy = np.maximum(cord_cy, front + depth + flat)
        cord_ay = flat
    labels[ellipse(grid, 0.0, cord_cy, cord_ax, cord_ay)] = _L.SPINAL_CORD
    if CORD_EDEMA in wanted:
        vert = segments[2 * injury]
        span = edema_len * (vert.height_mm + disc.height_mm)
        prof = ellipsoid_profile(d, vert.bottom_mm, span)
        core = ellipse(grid, 0.0, cord_cy, 0.8 * cord_ax * prof, 0.85 * cord_ay * prof)
        labels[core & (labels == _L.SPINAL_CORD)] = _L.CORD_EDEMA
