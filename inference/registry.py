"""The model registry: registering checkpoints (verified, copied into SAGITTAL_MODELS_DIR) and
choosing the active model of each task. Views, the API and the training commands call these.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import audit_event_record
from inference.errors import (
    InferenceError,
    ModelLoadError,
)
from inference.models import (
    DeviceRequirement,
    ModelBackend,
    ModelTask,
    ModelVersion,
)

log = logging.getLogger(__name__)

#: The backend that runs the checkpoints of each task.
TASK_BACKENDS = {
    ModelTask.NCCTM: ModelBackend.NCCTM_UNET,
    ModelTask.PSEUDO_MRI: ModelBackend.PSEUDOMRI_DDIM,
}


# --- model registry -------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"


def _sha256_file(path: Path) -> str:
    """The digest of a checkpoint file, or of a model folder's manifest (diffusers pipeline).

    Raises:
        CheckpointError: If a folder is empty or holds a symbolic link.
    """
    from inference.common.checkpoints import sha256_file, sha256_tree

    return sha256_tree(path) if path.is_dir() else sha256_file(path)


def _copy_into_models_dir(source: Path, *, task: str, name: str, version: str, sha: str) -> Path:
    """Copy a checkpoint file or folder under SAGITTAL_MODELS_DIR (atomically).

    Returns:
        Its path relative to SAGITTAL_MODELS_DIR.
    """
    root = Path(settings.SAGITTAL_MODELS_DIR)
    suffix = "" if source.is_dir() else ".pt"
    relative = Path(task) / f"{_slug(name)}-{_slug(version)}-{sha[:12]}{suffix}"
    target = root / relative
    if source.resolve() == target.resolve():
        return relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        # Copy beside the target and rename: a reader never sees a half-copied folder.
        tmp_dir = tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            shutil.copytree(source, Path(tmp_dir) / "pipeline")
            if target.exists():
                shutil.rmtree(target)
            os.replace(Path(tmp_dir) / "pipeline", target)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        return relative
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return relative


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _json_safe(value: Any) -> Any:
    """Plain JSON: non-finite numbers (undefined metrics) become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def model_version_register(
    *,
    actor: User | None,
    task: ModelTask | str,
    name: str,
    version: str,
    checkpoint: Path,
    device: DeviceRequirement | str = DeviceRequirement.CPU,
    description: str = "",
    training_data: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    activate: bool = False,
    settings_: dict[str, Any] | None = None,
) -> ModelVersion:
    """Verify a checkpoint, copy it into the models directory and register it.

    The checkpoint is loaded once, as a job would load it, before anything is recorded: a
    file that is not a model of ``task`` is refused here, not in a coordinator's job.

    A folder is a fine-tuned Stable Diffusion img2img pipeline in diffusers format (pseudo-MRI
    only): its sha256 is that of the sorted manifest of its files' relative paths and sha256s,
    checked again on every load, and ``settings_`` (prompt, strength, steps, guidance_scale,
    resolution, window, intensity_scale; see ``StableDiffusionSettings``) become its config.

    Args:
        actor: Who registers it (``None`` for commands and the demo).
        task: The task the model does.
        name: Model name (e.g. ``"ncctm-unet"``).
        version: Version, unique per task and name.
        checkpoint: The checkpoint file written by the training commands.
        device: Whether jobs need a GPU worker.
        description: Free text for the model card.
        training_data: What it was trained on (defaults to the checkpoint's metadata).
        metrics: Its evaluation (defaults to the checkpoint's metadata).
        activate: Make it the active model of its task.
        settings_: Settings of a Stable Diffusion pipeline (defaults where not given).

    Raises:
        InferenceError: If the version exists, the checkpoint does not load, or settings are
            given for a checkpoint that takes none.
    """
    from inference.common.checkpoints import CheckpointError
    from inference.runners import checkpoint_inspect

    task = ModelTask(task)
    device = DeviceRequirement(device)
    name, version = name.strip(), version.strip()
    if not name or not version:
        raise InferenceError("a model needs a name and a version")
    if ModelVersion.objects.filter(task=task, name=name, version=version).exists():
        raise InferenceError(f"{task.label} model {name} {version} is already registered")
    source = Path(checkpoint)
    if not source.is_file() and not source.is_dir():
        raise InferenceError(f"checkpoint {source} does not exist")
    if source.is_dir():
        if task != ModelTask.PSEUDO_MRI:
            raise InferenceError(
                f"a folder is registered as a Stable Diffusion pipeline, which is not a "
                f"{task.label} model; give a checkpoint file of train_ncctm"
            )
        backend = ModelBackend.PSEUDOMRI_SD
    else:
        if settings_:
            raise InferenceError("settings are for Stable Diffusion pipeline folders only")
        backend = TASK_BACKENDS[task]
    try:
        sha = _sha256_file(source)
        info = checkpoint_inspect(backend=backend, path=source, sha256=sha, settings=settings_)
    except CheckpointError as exc:
        raise InferenceError(f"the checkpoint is not a usable {task.label} model: {exc}") from exc
    except ModelLoadError as exc:
        raise InferenceError(f"the checkpoint is not a usable {task.label} model: {exc}") from exc
    relative = _copy_into_models_dir(source, task=task, name=name, version=version, sha=sha)
    stored = Path(settings.SAGITTAL_MODELS_DIR) / relative
    if _sha256_file(stored) != sha:
        raise InferenceError(f"copying the checkpoint to {stored} changed it; nothing registered")
    with transaction.atomic():
        model_version = ModelVersion.objects.create(
            task=task,
            backend=backend,
            name=name,
            version=version,
            description=description,
            checkpoint=str(relative),
            sha256=sha,
            size_bytes=_size(stored),
            config=_json_safe(info.config),
            training_data=_json_safe(
                info.metadata.get("training_data", {}) if training_data is None else training_data
            ),
            metrics=_json_safe(info.metadata.get("metrics", {}) if metrics is None else metrics),
            device=device,
            created_by=actor,
        )
        audit_event_record(
            actor=actor,
            verb="model_version.register",
            obj=model_version,
            after={
                "task": task.value,
                "name": name,
                "version": version,
                "sha256": sha,
                "device": device.value,
            },
        )
        if activate:
            model_version_activate(actor=actor, model_version=model_version)
    return model_version


def model_version_activate(*, actor: User | None, model_version: ModelVersion) -> ModelVersion:
    """Make ``model_version`` the one active model of its task (audited).

    Its checkpoint is checked first (present, sha256 as registered): activating a model that
    cannot load would only move the failure into every job.

    Raises:
        InferenceError: If the checkpoint is missing or was modified.
    """
    from inference.common.checkpoints import CheckpointError

    path = model_version.checkpoint_path
    if not path.is_file() and not path.is_dir():
        raise InferenceError(
            _("the checkpoint of %(model)s is missing (%(path)s)")
            % {"model": model_version, "path": path}
        )
    try:
        actual = _sha256_file(path)
    except CheckpointError as exc:
        raise InferenceError(
            _("the checkpoint of %(model)s is unusable: %(error)s")
            % {"model": model_version, "error": exc}
        ) from exc
    if actual != model_version.sha256:
        raise InferenceError(
            _(
                "the checkpoint of %(model)s failed its sha256 check: it was modified after "
                "registration; refusing to activate it"
            )
            % {"model": model_version}
        )
    with transaction.atomic():
        versions = list(
            ModelVersion.objects.select_for_update().filter(task=model_version.task).order_by("pk")
        )
        previous = next((v for v in versions if v.is_active), None)
        if previous is not None and previous.pk == model_version.pk:
            return previous
        if previous is not None:
            # Deactivate first: at most one active row per task is a database constraint.
            ModelVersion.objects.filter(pk=previous.pk).update(is_active=False)
        ModelVersion.objects.filter(pk=model_version.pk).update(is_active=True)
        model_version.is_active = True
        audit_event_record(
            actor=actor,
            verb="model_version.activate",
            obj=model_version,
            before={"active": str(previous.pk) if previous else None},
            after={"active": str(model_version.pk)},
        )
    return model_version
