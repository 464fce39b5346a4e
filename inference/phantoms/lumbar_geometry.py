"""Geometry of the lumbar phantom: per-slice layout and the label painting.

Internal to :mod:`inference.phantoms.lumbar`; painting happens in place, later structures win.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inference.phantoms.anatomy import (
    Grid,
    Segment,
    box,
    col,
    ellipse,
    ellipsoid_profile,
    slice_segments,
    tube,
)
from inference.phantoms.labels import LumbarLabel

_L = LumbarLabel
_BONE = (_L.CORTICAL_BONE, _L.CANCELLOUS_BONE, _L.POSTERIOR_ELEMENTS)


@dataclass(frozen=True)
class Layout:
    """Per-slice geometry in mm (``(Z,)`` arrays) and the slice -> vertebra ownership."""

    body_cy: npt.NDArray[np.float32]
    body_ax: npt.NDArray[np.float32]
    body_ay: npt.NDArray[np.float32]
    sac_scale: npt.NDArray[np.float32]
    owner: npt.NDArray[np.intp]
    rel: npt.NDArray[np.float32]
    h: npt.NDArray[np.float32]
    dh: npt.NDArray[np.float32]

    @property
    def back(self) -> npt.NDArray[np.float32]:
        """Posterior surface of the bodies and discs (the anterior canal wall)."""
        return self.body_cy + self.body_ay

    @classmethod
    def build(
        cls,
        grid: Grid,
        segments: tuple[Segment, ...],
        size: float,
        lordosis: float,
        canal: tuple[float, float],
        sac: tuple[float, float],
    ) -> Layout:
        d = grid.depths
        verts = [s for s in segments if s.kind == "vertebra"]
        centers = np.array([v.center_mm for v in verts])
        sacral = np.array([v.name.startswith("S") for v in verts])
        body_ax = np.interp(d, centers, (21.0 + np.arange(len(verts))) * size)
        body_ay = np.interp(d, centers, np.where(sacral, 16.0, 15.5) * size)
        # The dural sac tapers through the sacrum (it ends around S2).
        sac_scale = np.interp(d, centers, np.where(sacral, 0.8, 1.0))
        sac_scale = np.where(d > verts[-1].top_mm, 0.6, sac_scale)
        shift = -lordosis * np.sin(np.pi * np.clip(d / (d[-1] + d[0]), 0, 1))
        owner = np.array([s.vertebra for s in segments])[slice_segments(segments, d)]
        tops = np.array([v.top_mm for v in verts])
        h = np.array([v.height_mm for v in verts])[owner]
        discs = {s.vertebra: s.height_mm for s in segments if s.kind == "disc"}
        dh = np.array([discs.get(i, 0.0) for i in range(len(verts))])[owner]
        f32 = np.float32
        return cls(
            body_cy=(-22.0 + shift).astype(f32),
            body_ax=body_ax.astype(f32),
            body_ay=body_ay.astype(f32),
            sac_scale=sac_scale.astype(f32),
            owner=owner,
            rel=(d - tops[owner]).astype(f32),
            h=h.astype(f32),
            dh=dh.astype(f32),
        )


def paint_body_wall(
    grid: Grid, labels: npt.NDArray[np.uint8], lay: Layout, girth: float, subcut: float
) -> None:
    ax, ay, cy = 160.0 * girth, 125.0 * girth, -50.0
    outside = ~ellipse(grid, 0.0, cy, ax, ay)
    labels[~ellipse(grid, 0.0, cy - 0.3 * subcut, ax - 0.8 * subcut, ay - 0.7 * subcut)] = _L.FAT
    front = lay.body_cy - lay.body_ay
    labels[ellipse(grid, 0.0, front - 30.0, 70.0, 30.0)] = _L.FAT  # retroperitoneum
    vessels = ellipse(grid, 18.0, front - 14.0, 11.0, 11.0)  # aorta, left of midline
    vessels |= ellipse(grid, -22.0, front - 14.0, 13.0, 9.0)  # IVC
    for side in (-1.0, 1.0):  # psoas muscles, growing caudally
        grow = np.linspace(0.8, 1.2, grid.shape[0])
        vessels |= ellipse(grid, side * (lay.body_ax + 12.0), lay.body_cy + 3.0, 12 * grow, 16.0)
    labels[vessels] = _L.SOFT_TISSUE
    labels[outside] = _L.AIR


def _on(cond: npt.NDArray[np.bool_], size: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Ellipse semi-axis on the slices where a shape exists, 0 (= absent) elsewhere."""
    return np.where(cond, size, 0.0)


def paint_spine(
    grid: Grid,
    labels: npt.NDArray[np.uint8],
    lay: Layout,
    segments: tuple[Segment, ...],
    canal: tuple[float, float],
    sp_len: float,
) -> None:
    rel, h, dh = lay.rel, lay.h, lay.dh
    cax, cay = canal
    ccy = lay.back + cay
    lamina = (rel >= 0.3 * h) & (rel < h + 0.4 * dh)
    bone = ellipse(grid, 0.0, ccy, _on(lamina, cax + 5.0), cay + 5.0)
    bone &= grid.y > col(ccy + 1.0)  # laminae only behind the canal: foramina stay open
    ped = (rel >= 0.05 * h) & (rel < 0.55 * h)
    tp = (rel >= 0.15 * h) & (rel < 0.45 * h)
    facet = (rel >= 0.6 * h) | (rel < 0.1 * h)
    for s in (-1.0, 1.0):  # left and right shapes, each vectorised over the volume
        # Boxes vanish where y1 == y0.
        x0, x1 = sorted((s * (cax - 0.5), s * (cax + 6.5)))
        bone |= box(grid, x0, x1, lay.back - 3.0, np.where(ped, ccy + 2.0, lay.back - 3.0))
        x0, x1 = sorted((s * (cax + 4.0), s * (cax + 30.0)))
        bone |= box(grid, x0, x1, ccy - 1.0, np.where(tp, ccy + 5.0, ccy - 1.0))
        bone |= ellipse(grid, s * (cax + 4.0), ccy + 10.0, _on(facet, 5.5), 6.0)
    spinous = (rel >= 0.3 * h) & (rel < h + 0.3 * dh)
    y0 = ccy + cay + 4.0
    bone |= box(grid, -3.5, 3.5, y0, np.where(spinous, y0 + sp_len, y0))
    labels[bone] = _L.POSTERIOR_ELEMENTS

    seg_idx = slice_segments(segments, grid.depths)
    is_disc = np.array([s.kind == "disc" for s in segments])[seg_idx]
    seg_top = np.array([s.top_mm for s in segments], dtype=np.float32)[seg_idx]
    seg_bot = np.array([s.bottom_mm for s in segments], dtype=np.float32)[seg_idx]
    d = grid.depths
    wall = max(1.0, grid.pixel_mm)  # cortex at least one voxel thick at any matrix
    outer = ellipse(grid, 0.0, lay.body_cy, _on(~is_disc, lay.body_ax), lay.body_ay)
    endplate = (d - seg_top < 1.0) | (seg_bot - d < 1.0)
    inner = ellipse(grid, 0.0, lay.body_cy, _on(~endplate, lay.body_ax - wall), lay.body_ay - wall)
    labels[outer] = _L.CORTICAL_BONE
    labels[outer & inner] = _L.CANCELLOUS_BONE
    labels[ellipse(grid, 0.0, lay.body_cy, _on(is_disc, lay.body_ax), lay.body_ay)] = _L.DISC


def paint_canal(
    grid: Grid,
    labels: npt.NDArray[np.uint8],
    lay: Layout,
    segments: tuple[Segment, ...],
    canal: tuple[float, float],
    sac: tuple[float, float],
    sac_dx: float = 0.0,
) -> None:
    cax, cay = canal
    ccy = lay.back + cay
    labels[ellipse(grid, 0.0, ccy, cax, cay)] = _L.FAT  # epidural fat fills the bony canal
    # Ligamentum flavum lines the posterior canal; thickest at the interlaminar (disc) level.
    near_disc = (lay.rel >= 0.6 * lay.h) | (lay.rel < 0.1 * lay.h)
    t = np.maximum(np.where(near_disc, 4.0, 2.5), grid.pixel_mm)
    lf = ellipse(grid, 0.0, ccy, cax, cay) & ~ellipse(grid, 0.0, ccy, cax - t, cay - t)
    lf &= grid.y > col(ccy - 1.0)
    labels[lf] = _L.LIGAMENTUM_FLAVUM
    sax, say = sac[0] * lay.sac_scale, np.minimum(sac[1] * lay.sac_scale, cay - 0.5)
    scy = lay.back + 0.8 + say
    # The sac may sit off the canal's midline, but never through its lateral wall.
    room = np.maximum(cax - sax - 0.5, 0.0)
    scx = np.clip(sac_dx, -room, room)
    labels[ellipse(grid, scx, scy, sax, say)] = _L.DURAL_CANAL
    # Nerve-root sleeves: from the lateral sac, caudally and laterally out of the foramen
    # below each lumbar pedicle. Tubes are evaluated on their bounding boxes only.
    radius = max(2.4, 0.75 * grid.pixel_mm)
    paintable = np.array([label not in _BONE and label != _L.DISC for label in LumbarLabel])
    for v in [s for s in segments if s.kind == "vertebra" and s.name.startswith("L")]:
        disc = next((s for s in segments if s.kind == "disc" and s.vertebra == v.vertebra), None)
        end_depth = v.bottom_mm + 0.3 * (disc.height_mm if disc else 0.0)
        k = int(
            np.clip(np.searchsorted(grid.depths, v.top_mm + 0.5 * v.height_mm), 0, len(scy) - 1)
        )
        for s in (-1.0, 1.0):
            start = (
                v.top_mm + 0.5 * v.height_mm,
                float(scy[k]),
                float(scx[k]) + s * (float(sax[k]) - 1.0),
            )
            end = (end_depth, float(lay.back[k]) - 1.0, s * (cax + 13.0))
            box_sl, inside = tube(grid, start, end, radius)
            sub = labels[box_sl]
            sub[inside & paintable[sub]] = _L.NERVE_ROOT


def paint_herniation(
    grid: Grid,
    labels: npt.NDArray[np.uint8],
    lay: Layout,
    segments: tuple[Segment, ...],
    level: str,
    side: str,
    shape: npt.NDArray[np.float64],
    sac: tuple[float, float],
) -> None:
    """Extrude disc material backwards into the canal, indenting the dural sac."""
    off_x, half_w, depth_frac, dz, extra_z = (float(v) for v in shape)
    disc = next(s for s in segments if s.name == level)
    prof = ellipsoid_profile(grid.depths, disc.center_mm + dz, disc.height_mm / 2 + extra_z)
    sign = {"left": 1.0, "right": -1.0, "central": 0.0}[side]  # +x is the patient's left
    depth = depth_frac * 2 * sac[1]
    blob = ellipse(
        grid, sign * off_x, lay.back + depth / 2 - 1.0, half_w * prof, (depth / 2 + 1) * prof
    )
    blob &= grid.y >= col(lay.back - 1.0)
    blob &= ~np.isin(labels, _BONE)
    labels[blob] = _L.HERNIATION
