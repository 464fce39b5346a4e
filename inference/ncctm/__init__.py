"""NC-CTM: dural canal and nerve-root segmentation of non-contrast dual-energy CT.

Django-free: arrays in, arrays out. Typical use::

    from inference.ncctm import NCCTMConfig, cross_validate, phantom_cases, save_model

    result = cross_validate(phantom_cases(50), NCCTMConfig(), n_folds=5, test_size=10)
    sha256 = save_model("ncctm.pt", result.model, NCCTMConfig(), result.summary())
    model, config, _ = load_model("ncctm.pt", sha256=sha256)
    labels = segment_volume(ct_hu, spacing_mm, model=model, config=config)
"""

from inference.ncctm.checkpoint import load_model, save_model
from inference.ncctm.config import STRUCTURES, NCCTMConfig
from inference.ncctm.crossval import CrossValidationResult, FoldResult, cross_validate
from inference.ncctm.data import (
    SegmentationCase,
    lumbar_structure_labels,
    phantom_cases,
    shuffled_label_control,
)
from inference.ncctm.inference import NCCTMSegmenter, segment_volume
from inference.ncctm.metrics import FOREGROUND, Metrics, mean_metrics, structure_metrics
from inference.ncctm.network import build_network
from inference.ncctm.postprocess import keep_largest_component
from inference.ncctm.training import (
    PreparedCase,
    TrainResult,
    evaluate_model,
    prepare_case,
    train_model,
)
from inference.ncctm.transforms import (
    DEFAULT_HU_WINDOW,
    RandFlipLeftRightd,
    ResampleToSpacingd,
    WindowHUd,
    flip_left_right,
    resample_to_spacing,
    window_hu,
)

__all__ = [
    "DEFAULT_HU_WINDOW",
    "FOREGROUND",
    "STRUCTURES",
    "CrossValidationResult",
    "FoldResult",
    "Metrics",
    "NCCTMConfig",
    "NCCTMSegmenter",
    "PreparedCase",
    "RandFlipLeftRightd",
    "ResampleToSpacingd",
    "SegmentationCase",
    "TrainResult",
    "WindowHUd",
    "build_network",
    "cross_validate",
    "evaluate_model",
    "flip_left_right",
    "keep_largest_component",
    "load_model",
    "lumbar_structure_labels",
    "mean_metrics",
    "phantom_cases",
    "prepare_case",
    "resample_to_spacing",
    "save_model",
    "segment_volume",
    "shuffled_label_control",
    "structure_metrics",
    "train_model",
    "window_hu",
]
