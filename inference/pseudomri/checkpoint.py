"""Save and load pseudo-MRI denoisers through sha256-verified checkpoints."""

from __future__ import annotations

import os
from typing import Any

import torch

from inference.common import load_checkpoint, save_checkpoint
from inference.pseudomri.config import PseudoMRIConfig
from inference.pseudomri.model import ConditionalDenoiser

KIND = "pseudomri-ddpm"


def save_model(
    path: str | os.PathLike[str],
    model: ConditionalDenoiser,
    config: PseudoMRIConfig,
    metadata: dict[str, Any] | None = None,
) -> str:
    """Write the denoiser and its configuration; return the file's sha256."""
    return save_checkpoint(
        path, kind=KIND, state_dict=model.state_dict(), config=config.to_dict(), metadata=metadata
    )


def load_model(
    path: str | os.PathLike[str], *, sha256: str, device: torch.device | str = "cpu"
) -> tuple[ConditionalDenoiser, PseudoMRIConfig, dict[str, Any]]:
    """Verify and load a checkpoint written by :func:`save_model`.

    Raises:
        inference.common.CheckpointError: If the file is missing or fails its sha256 check.

    Returns:
        The denoiser in eval mode on ``device``, its configuration and the metadata.
    """
    payload = load_checkpoint(path, sha256=sha256, kind=KIND)
    config = PseudoMRIConfig.from_dict(payload["config"])
    model = ConditionalDenoiser(config)
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), config, payload["metadata"]
