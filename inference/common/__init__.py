"""Helpers shared by the inference models: verified checkpoints, seeding, device choice."""

from inference.common.checkpoints import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    sha256_file,
    sha256_tree,
    verify_tree,
)
from inference.common.runtime import limit_threads, seed_everything, select_device

__all__ = [
    "CheckpointError",
    "limit_threads",
    "load_checkpoint",
    "save_checkpoint",
    "seed_everything",
    "select_device",
    "sha256_file",
    "sha256_tree",
    "verify_tree",
]
