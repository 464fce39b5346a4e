"""NC-CTM training cases, from the synthetic lumbar phantoms or any HU volume with labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from inference.phantoms import LumbarLabel, generate_lumbar_case


@dataclass(frozen=True, eq=False)
class SegmentationCase:
    """One CT volume with its reference label map.

    Attributes:
        case_id: Identifier used in fold listings and metrics.
        ct_hu: CT in HU, ``(z, y, x)``.
        labels: uint8 label map on the same grid, 0 = background, ``i + 1`` = structure ``i``.
        spacing_mm: Voxel spacing ``(dz, dy, dx)``.
    """

    case_id: str
    ct_hu: npt.NDArray[np.int16]
    labels: npt.NDArray[np.uint8]
    spacing_mm: tuple[float, float, float]


def lumbar_structure_labels(tissue: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Map phantom tissue labels to the NC-CTM label map (1 dural canal, 2 nerve roots)."""
    out = np.zeros(tissue.shape, dtype=np.uint8)
    out[tissue == LumbarLabel.DURAL_CANAL] = 1
    out[tissue == LumbarLabel.NERVE_ROOT] = 2
    return out


def phantom_cases(
    n: int,
    *,
    seed: int = 0,
    shape: tuple[int, int, int] = (32, 96, 96),
    crop: tuple[int, int, int] | None = (32, 64, 64),
) -> list[SegmentationCase]:
    """Lumbar phantoms, each cut to a field of view at a seed-dependent offset.

    The phantom generator puts the dural canal at the same in-plane position in every seed
    (its centroid moves by about one voxel), so a network that learned nothing but a fixed
    blob would already score a high Dice. Cropping each case at a random offset moves the
    canal across the field of view, as patient positioning and reconstruction FOV do in
    real scans, so a good score requires finding the canal in the image.

    Args:
        n: Number of cases (phantom seeds ``seed .. seed + n - 1``).
        seed: First phantom seed; crop offsets derive from each case's seed.
        shape: Phantom volume shape ``(z, y, x)``.
        crop: Field of view cut from each phantom, or ``None`` to keep it whole.

    Returns:
        The cases, ids ``"phantom-<seed>"``.
    """
    cases = []
    for case_seed in range(seed, seed + n):
        phantom = generate_lumbar_case(seed=case_seed, shape=shape)
        ct, labels = phantom.mixed_ct_hu, lumbar_structure_labels(phantom.labels)
        if crop is not None:
            rng = np.random.default_rng([case_seed, 0x5C7])
            spare = np.subtract(shape, crop)
            if np.any(spare < 0):
                raise ValueError(f"crop {crop} is larger than the phantom {shape}")
            z, y, x = (int(rng.integers(0, s + 1)) for s in spare)
            window = np.s_[z : z + crop[0], y : y + crop[1], x : x + crop[2]]
            ct, labels = ct[window], labels[window]
        cases.append(
            SegmentationCase(
                case_id=f"phantom-{case_seed}",
                ct_hu=np.ascontiguousarray(ct),
                labels=np.ascontiguousarray(labels),
                spacing_mm=phantom.spacing_mm,
            )
        )
    return cases


def shuffled_label_control(
    cases: Sequence[SegmentationCase], seed: int = 0
) -> list[SegmentationCase]:
    """Pair every image with another case's labels (a cyclic shift of a random order).

    Training on these is the learning control: anything it scores comes from priors over
    position and size, not from the image.
    """
    if len(cases) < 2:
        raise ValueError("a shuffled-label control needs at least two cases")
    order = np.random.default_rng(seed).permutation(len(cases))
    donors = np.roll(order, 1)  # no case keeps its own labels
    out = list(cases)
    for receiver, donor in zip(order, donors, strict=True):
        source = cases[int(donor)]
        target = cases[int(receiver)]
        if source.labels.shape != target.labels.shape:
            raise ValueError("a shuffled-label control needs cases of one shape")
        out[int(receiver)] = replace(target, labels=source.labels)
    return out
