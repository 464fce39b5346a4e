"""Training runs behind ``manage.py train_ncctm`` and ``train_pseudomri`` (Django-free).

A run builds its data (synthetic phantoms for now), trains with the core packages, evaluates
on held-out cases against a control (NC-CTM: the same training on shuffled labels; pseudo-MRI:
an intensity-mapping baseline), and writes a checksummed checkpoint whose metadata carries the
metrics and a summary of the training data. Registration in the model registry is the
command's job.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference.common import seed_everything
from inference.ncctm import (
    FOREGROUND,
    NCCTMConfig,
    cross_validate,
    evaluate_model,
    phantom_cases,
    save_model,
    shuffled_label_control,
    train_model,
)
from inference.pseudomri import (
    IntensityMappingBaseline,
    PseudoMRIConfig,
    PseudoMRIGenerator,
    compare_generators,
    phantom_pairs,
    train_pseudomri,
)
from inference.pseudomri import save_model as save_pseudomri

#: ``say(line)``: progress output of a run (the command's stdout).
Say = Callable[[str], None]


@dataclass(frozen=True)
class TrainingOutcome:
    """A trained, evaluated and saved model."""

    checkpoint: Path
    sha256: str
    metrics: dict[str, Any]
    training_data: dict[str, Any]
    seconds: float


def _every(total: int, say: Say, label: str) -> Callable[[int, int, float], None]:
    """A training progress callback that prints about 20 lines per training."""
    step_print = max(1, total // 20)
    start = time.perf_counter()

    def report(step: int, steps: int, loss: float) -> None:
        if step % step_print == 0 or step == steps:
            elapsed = time.perf_counter() - start
            say(f"{label}: step {step}/{steps}  loss {loss:.4f}  {elapsed:.0f} s")

    return report


def _write(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float))


def _number(value: float) -> float | None:
    # Undefined measures (precision of an empty prediction) are NaN; JSON has no NaN.
    return round(float(value), 4) if math.isfinite(value) else None


def _rounded(metrics: dict[str, dict[str, float]]) -> dict[str, dict[str, float | None]]:
    return {k: {m: _number(v) for m, v in values.items()} for k, values in metrics.items()}


@dataclass(frozen=True)
class NCCTMPhantomRun:
    """Options of an NC-CTM training on synthetic lumbar phantoms.

    Attributes:
        phantoms: Number of phantoms (seeds ``seed .. seed + phantoms - 1``).
        held_out: Phantoms kept out of training for the test metrics (the last seeds).
        folds: Cross-validation folds on the others (0: no cross-validation).
        control: Also train on shuffled labels and report the margin over that control.
        shape: Phantom volume shape; crop: field of view cut at a seed-dependent offset.
        seed: First phantom seed.
        config: Network and training configuration.
    """

    phantoms: int
    held_out: int
    folds: int
    control: bool
    shape: tuple[int, int, int]
    crop: tuple[int, int, int] | None
    seed: int
    config: NCCTMConfig


def run_ncctm_on_phantoms(run: NCCTMPhantomRun, *, out: Path, say: Say) -> TrainingOutcome:
    """Train, evaluate (held-out test, optional folds and control) and save an NC-CTM model."""
    if run.held_out < 1 or run.phantoms - run.held_out < 2:
        raise ValueError("need at least 1 held-out phantom and 2 to train on")
    start = time.perf_counter()
    say(f"Generating {run.phantoms} lumbar phantoms {run.shape} (crop {run.crop})")
    cases = phantom_cases(run.phantoms, seed=run.seed, shape=run.shape, crop=run.crop)
    config = run.config
    metrics: dict[str, Any] = {}
    if run.folds >= 2:
        reporters: dict[str, Callable[[int, int, float], None]] = {}

        def progress(stage: str, step: int, total: int, loss: float) -> None:
            reporters.setdefault(stage, _every(total, say, stage))(step, total, loss)

        # Protocol layout: a held-out test split, k folds on the rest, then a model refitted
        # on all of the rest, which is the model saved and tested.
        result = cross_validate(
            cases,
            config,
            n_folds=run.folds,
            test_size=run.held_out,
            seed=run.seed,
            progress=progress,
        )
        metrics["cross_validation"] = {
            "folds": [
                {"fold": f.fold, "val_ids": f.val_ids, "metrics": _rounded(f.metrics)}
                for f in result.folds
            ],
            "mean": _rounded(result.cv_metrics),
        }
        model, losses = result.model, result.losses
        test = [c for c in cases if c.case_id in set(result.test_ids)]
    else:
        test = cases[-run.held_out :]
        trained = train_model(
            cases[: -run.held_out], config, progress=_every(config.iterations, say, "train")
        )
        model, losses = trained.model, trained.losses
    dev = [c for c in cases if c not in test]
    train_seconds = time.perf_counter() - start
    say("Evaluating on the held-out phantoms")
    test_metrics, per_case = evaluate_model(model, test, config)
    metrics["test"] = _rounded(test_metrics)
    metrics["test_per_case"] = {k: _rounded(v) for k, v in per_case.items()}
    metrics["final_loss"] = round(float(np.mean(losses[-20:])), 4)
    dice = test_metrics[FOREGROUND]["dice"]
    summary = (
        f"held-out Dice {dice:.3f} (dural canal {test_metrics['dural_canal']['dice']:.3f}) "
        f"on {len(test)} phantoms"
    )
    if run.control:
        control = train_model(
            shuffled_label_control(dev, seed=run.seed),
            config,
            progress=_every(config.iterations, say, "shuffled-label control"),
        )
        control_metrics, _ = evaluate_model(control.model, test, config)
        metrics["shuffled_label_control"] = _rounded(control_metrics)
        control_dice = control_metrics[FOREGROUND]["dice"]
        metrics["margin_over_control"] = round(dice - control_dice, 4)
        summary += f"; shuffled-label control {control_dice:.3f}"
    metrics["summary"] = summary
    metrics["train_seconds"] = round(train_seconds, 1)
    training_data = {
        "source": "synthetic lumbar phantoms (inference.phantoms)",
        "phantoms": run.phantoms,
        "shape": list(run.shape),
        "crop": list(run.crop) if run.crop else None,
        "train_ids": [c.case_id for c in dev],
        "test_ids": [c.case_id for c in test],
        "folds": run.folds,
    }
    checkpoint = out / "ncctm.pt"
    sha = save_model(
        checkpoint, model, config, {"metrics": metrics, "training_data": training_data}
    )
    _write(out / "metrics.json", {"metrics": metrics, "training_data": training_data})
    say(f"{summary}; trained in {train_seconds:.0f} s")
    return TrainingOutcome(checkpoint, sha, metrics, training_data, time.perf_counter() - start)


@dataclass(frozen=True)
class PseudoMRIPhantomRun:
    """Options of a pseudo-MRI training on synthetic cervical CT / T2 MRI pairs."""

    phantoms: int
    held_out: int
    shape: tuple[int, int, int]
    seed: int
    config: PseudoMRIConfig
    eval_steps: int | None = None


def run_pseudomri_on_phantoms(run: PseudoMRIPhantomRun, *, out: Path, say: Say) -> TrainingOutcome:
    """Train, evaluate against the intensity-mapping baseline and save a pseudo-MRI model."""
    if run.held_out < 1 or run.phantoms < 1:
        raise ValueError("need at least 1 training and 1 held-out phantom")
    start = time.perf_counter()
    seed_everything(run.config.seed)
    say(f"Generating {run.phantoms} + {run.held_out} cervical phantoms {run.shape}")
    train = phantom_pairs(range(run.seed, run.seed + run.phantoms), shape=run.shape)
    test_seeds = range(run.seed + run.phantoms, run.seed + run.phantoms + run.held_out)
    test = phantom_pairs(test_seeds, shape=run.shape)
    result = train_pseudomri(
        train, run.config, progress=_every(run.config.iterations, say, "train")
    )
    train_seconds = time.perf_counter() - start
    say("Evaluating on the held-out phantoms against the intensity-mapping baseline")
    generator = PseudoMRIGenerator(result.model, result.config)
    baseline = IntensityMappingBaseline().fit(train)
    steps = run.eval_steps or result.config.inference_steps
    scores = compare_generators(
        {
            "model": lambda ct: generator.generate_volume(ct, steps=steps, seed=0),
            "baseline": baseline.predict,
        },
        test,
        scale=result.config.mri_scale,
    )
    model_scores, base = scores["model"], scores["baseline"]
    beats = (
        model_scores["psnr"] > base["psnr"]
        and model_scores["ssim"] > base["ssim"]
        and model_scores["mae"] < base["mae"]
    )
    summary = (
        f"held-out PSNR {model_scores['psnr']:.1f} dB (baseline {base['psnr']:.1f}), "
        f"SSIM {model_scores['ssim']:.3f} ({base['ssim']:.3f}), "
        f"MAE {model_scores['mae']:.4f} ({base['mae']:.4f}) at {steps} DDIM steps"
    )
    metrics = {
        "test": _rounded(scores),
        "beats_baseline": beats,
        "eval_steps": steps,
        "final_loss": round(float(np.mean(result.losses[-20:])), 5),
        "summary": summary,
        "train_seconds": round(train_seconds, 1),
    }
    training_data = {
        "source": "synthetic cervical CT / T2 MRI phantoms (inference.phantoms)",
        "phantoms": run.phantoms,
        "shape": list(run.shape),
        "train_ids": [p.case_id for p in train],
        "test_ids": [p.case_id for p in test],
        "slices": int(sum(p.ct_hu.shape[0] for p in train)),
    }
    checkpoint = out / "pseudomri.pt"
    sha = save_pseudomri(
        checkpoint,
        result.model,
        result.config,
        {"metrics": metrics, "training_data": training_data},
    )
    _write(out / "metrics.json", {"metrics": metrics, "training_data": training_data})
    say(f"{summary}; trained in {train_seconds:.0f} s")
    return TrainingOutcome(checkpoint, sha, metrics, training_data, time.perf_counter() - start)


def replace_config(config: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` that ignores options left unset (``None``)."""
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
