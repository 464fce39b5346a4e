"""Post-processing of predicted label maps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import ndimage


def keep_largest_component(
    labels: npt.NDArray[np.integer], applied_labels: Sequence[int] | None = None
) -> npt.NDArray[np.integer]:
    """Zero every voxel of ``applied_labels`` outside the largest connected component.

    The labels are joined before the components are found (MONAI's
    ``KeepLargestConnectedComponent(independent=False)``): nerve roots leave the dural sac,
    so canal and roots form one object and a detached blob of either is a false positive.
    scipy does the labelling because MONAI's CPU path needs scikit-image.

    Args:
        labels: Integer label map.
        applied_labels: Labels to treat as foreground; all non-zero labels by default.

    Returns:
        A filtered copy.
    """
    foreground = labels > 0 if applied_labels is None else np.isin(labels, applied_labels)
    components, count = ndimage.label(foreground, structure=ndimage.generate_binary_structure(3, 3))
    out = labels.copy()
    if count <= 1:
        return out
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    out[foreground & (components != int(np.argmax(sizes)))] = 0
    return out
