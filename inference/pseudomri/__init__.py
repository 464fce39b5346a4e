"""Pseudo-MRI: T2-weighted-like slices generated from CT by image-conditioned diffusion.

Django-free: arrays in, arrays out. Typical use::

    from inference.pseudomri import PseudoMRIConfig, phantom_pairs, train_pseudomri

    result = train_pseudomri(phantom_pairs(range(8)), PseudoMRIConfig())
    sha256 = save_model("pseudomri.pt", result.model, result.config)
    model, config, _ = load_model("pseudomri.pt", sha256=sha256)
    t2_like = generate_volume(ct_hu, model=model, config=config, seed=0)
"""

from inference.pseudomri.baseline import IntensityMappingBaseline
from inference.pseudomri.checkpoint import load_model, save_model
from inference.pseudomri.config import DEFAULT_CT_WINDOWS, PseudoMRIConfig
from inference.pseudomri.data import PairedVolume, phantom_pairs, stack_slices
from inference.pseudomri.evaluation import compare_generators, image_metrics
from inference.pseudomri.model import (
    ConditionalDenoiser,
    build_unet,
    sampling_scheduler,
    train_scheduler,
)
from inference.pseudomri.sampling import PseudoMRIGenerator, generate_volume
from inference.pseudomri.sd_backend import (
    StableDiffusionImg2ImgBackend,
    StableDiffusionSettings,
)
from inference.pseudomri.training import TrainResult, train_pseudomri
from inference.pseudomri.transforms import (
    denormalize_mri,
    fit_mri_scale,
    normalize_ct,
    normalize_mri,
)

__all__ = [
    "DEFAULT_CT_WINDOWS",
    "ConditionalDenoiser",
    "IntensityMappingBaseline",
    "PairedVolume",
    "PseudoMRIConfig",
    "PseudoMRIGenerator",
    "StableDiffusionImg2ImgBackend",
    "StableDiffusionSettings",
    "TrainResult",
    "build_unet",
    "compare_generators",
    "denormalize_mri",
    "fit_mri_scale",
    "generate_volume",
    "image_metrics",
    "load_model",
    "normalize_ct",
    "normalize_mri",
    "phantom_pairs",
    "sampling_scheduler",
    "save_model",
    "stack_slices",
    "train_pseudomri",
    "train_scheduler",
]
