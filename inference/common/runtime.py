"""Process-level knobs for training and inference: seeds, threads and device."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run can be repeated."""
    random.seed(seed)
    # Our code uses explicit Generators; MONAI and torch helpers may still read the global.
    np.random.seed(seed)
    torch.manual_seed(seed)


def limit_threads(n: int) -> None:
    """Cap torch's intra-op threads (workers share a CPU with other processes)."""
    if n > 0:
        torch.set_num_threads(n)


def select_device(prefer: str = "auto") -> torch.device:
    """Pick the torch device.

    Args:
        prefer: ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.

    Returns:
        The device.

    Raises:
        RuntimeError: If ``"cuda"`` is asked for and none is available.
    """
    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if prefer == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("a CUDA device was requested but none is available")
    return torch.device(prefer)
