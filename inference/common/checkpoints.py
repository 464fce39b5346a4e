"""Checkpoint files whose sha256 is checked before a single byte is unpickled.

Weights never come from a hub: a checkpoint is trained here, its digest is recorded next to
it (in the model registry), and every load recomputes the digest first, so a truncated,
swapped or tampered file is refused instead of silently giving other masks or images.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

#: Bumped when the layout of the saved dictionary changes incompatibly.
CHECKPOINT_FORMAT = 1
_CHUNK = 1 << 20


class CheckpointError(RuntimeError):
    """A checkpoint is missing, fails its sha256 check or has an unexpected layout."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tree_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            # A link could point anywhere after registration: a model folder holds files only.
            raise CheckpointError(f"model folder {root} holds a symbolic link ({path.name})")
        if path.is_file():
            files.append(path)
        elif not path.is_dir():
            # A FIFO, socket or device has no content to checksum (and would block a reader).
            raise CheckpointError(f"model folder {root} holds a special file ({path.name})")
    return files


def sha256_tree(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a model folder (e.g. a diffusers pipeline).

    It is the sha256 of a manifest with one line per file, sorted by relative path:
    ``<relative path>\t<sha256 of the file>\n``. Any changed, added, removed or renamed file
    changes it.

    Raises:
        CheckpointError: If the folder does not exist, is empty or holds a symbolic link or
            a special file (FIFO, socket, device).
    """
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(f"model folder {root} does not exist")
    files = _tree_files(root)
    if not files:
        raise CheckpointError(f"model folder {root} holds no files")
    manifest = hashlib.sha256()
    for file in files:
        manifest.update(f"{file.relative_to(root).as_posix()}\t{sha256_file(file)}\n".encode())
    return manifest.hexdigest()


def verify_tree(path: str | os.PathLike[str], *, sha256: str) -> None:
    """Check a model folder against the digest recorded at registration.

    Raises:
        CheckpointError: If it is missing or its digest differs (a file was modified,
            added or removed).
    """
    actual = sha256_tree(path)
    if actual != sha256.strip().lower():
        raise CheckpointError(
            f"model folder {path} failed its sha256 check (expected {sha256}, got {actual}): "
            "a file in it was modified, added or removed; refusing to load it"
        )


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    kind: str,
    state_dict: dict[str, torch.Tensor],
    config: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> str:
    """Write a checkpoint atomically and return its sha256.

    Args:
        path: Destination file; parent directories are created.
        kind: Model family, e.g. ``"ncctm"``; checked again on load.
        state_dict: Network weights.
        config: Plain-data configuration needed to rebuild the network.
        metadata: Plain-data extras (training summary, metrics).

    Returns:
        The hex sha256 digest of the written file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "kind": kind,
        "config": config,
        "metadata": metadata or {},
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
    }
    # Write beside the target and rename, so a reader never sees a half-written file.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return sha256_file(target)


def load_checkpoint(
    path: str | os.PathLike[str], *, sha256: str, kind: str | None = None
) -> dict[str, Any]:
    """Verify a checkpoint's sha256, then load it with ``weights_only=True``.

    Args:
        path: Checkpoint file.
        sha256: Expected hex digest, as recorded when the checkpoint was saved.
        kind: If given, the model family the checkpoint must declare.

    Returns:
        The dictionary with ``config``, ``metadata`` and ``state_dict``.

    Raises:
        CheckpointError: If the file is missing, its digest differs, or its layout or kind
            is not the expected one.
    """
    source = Path(path)
    if not source.is_file():
        raise CheckpointError(f"checkpoint {source} does not exist")
    actual = sha256_file(source)
    if actual != sha256.strip().lower():
        raise CheckpointError(
            f"checkpoint {source} failed its sha256 check (expected {sha256}, got {actual}): "
            "the file was modified or replaced; refusing to load it"
        )
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # a verified file that torch cannot read is still unusable
        raise CheckpointError(f"checkpoint {source} cannot be read: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {source} has an unknown layout")
    if kind is not None and payload.get("kind") != kind:
        raise CheckpointError(
            f"checkpoint {source} holds a {payload.get('kind')!r} model, expected {kind!r}"
        )
    return payload
