"""Training runs behind ``manage.py train_ncctm`` and ``train_pseudomri`` (Django-free).

A run takes its data (synthetic phantoms, a cases directory or the platform's cases: see
``inference.training_data``), trains with the core packages, evaluates
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
from collections.abc import Callable, Sequence
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
from inference.ncctm.data import SegmentationCase
from inference.pseudomri import (
    IntensityMappingBaseline,
    PairedVolume,
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


def _save(
    out: Path,
    filename: str,
    save: Callable[[Path, dict[str, Any]], str],
    *,
    metrics: dict[str, Any],
    training_data: dict[str, Any],
    started: float,
    say: Say,
) -> TrainingOutcome:
    """The common tail of every run: checkpoint (with metadata), metrics JSON, outcome."""
    metadata = {"metrics": metrics, "training_data": training_data}
    checkpoint = out / filename
    sha = save(checkpoint, metadata)
    _write(out / "metrics.json", metadata)
    say(f"{metrics['summary']}; trained in {metrics['train_seconds']:.0f} s")
    return TrainingOutcome(checkpoint, sha, metrics, training_data, time.perf_counter() - started)


# --- NC-CTM ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NCCTMRun:
    """Options of an NC-CTM training, whatever the data.

    Attributes:
        held_out: Cases kept out of training for the test metrics (without folds: the last
            cases of the list; with folds: drawn with ``seed``).
        folds: Cross-validation folds on the others (0: no cross-validation).
        control: Also train on shuffled labels and report the margin over that control
            (needs cases of one shape).
        seed: Seed of the splits and of the control's shuffle.
        config: Network and training configuration.
    """

    held_out: int
    folds: int
    control: bool
    seed: int
    config: NCCTMConfig


def ncctm_phantom_data(
    phantoms: int, *, shape: tuple[int, int, int], crop: tuple[int, int, int] | None, seed: int
) -> tuple[list[SegmentationCase], dict[str, Any]]:
    """Synthetic lumbar phantoms (seeds ``seed ..``) and their training-data summary."""
    cases = phantom_cases(phantoms, seed=seed, shape=shape, crop=crop)
    summary = {
        "source": "synthetic lumbar phantoms (inference.phantoms)",
        "phantoms": phantoms,
        "shape": list(shape),
        "crop": list(crop) if crop else None,
    }
    return cases, summary


def check_ncctm_split(n_cases: int, run: NCCTMRun) -> None:
    """Refuse a split the cases cannot make, before anything is trained.

    Raises:
        ValueError: Saying how many cases the split needs.
    """
    if run.held_out < 1:
        raise ValueError("need at least 1 held-out case")
    train = n_cases - run.held_out
    needed = max(2, run.folds)
    if train < needed:
        raise ValueError(
            f"{n_cases} cases are too few: {run.held_out} held-out and at least {needed} to "
            f"train on{f' in {run.folds} folds' if run.folds >= 2 else ''} are needed "
            "(lower --held-out or --folds, or add cases)"
        )


def run_ncctm(
    cases: list[SegmentationCase],
    training_data: dict[str, Any],
    run: NCCTMRun,
    *,
    out: Path,
    say: Say,
) -> TrainingOutcome:
    """Train, evaluate (held-out test, optional folds and control) and save an NC-CTM model.

    Args:
        cases: Training and test cases (phantoms or a coordinator's own).
        training_data: Where they came from; the split is added to it.
        run: Split and training options.
        out: Folder of the checkpoint (``ncctm.pt``) and ``metrics.json``.
        say: Progress output.

    Raises:
        ValueError: If the cases cannot make the split or the control.
    """
    check_ncctm_split(len(cases), run)
    start = time.perf_counter()
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
    say(f"Evaluating on {len(test)} held-out cases")
    test_metrics, per_case = evaluate_model(model, test, config)
    metrics["test"] = _rounded(test_metrics)
    metrics["test_per_case"] = {k: _rounded(v) for k, v in per_case.items()}
    metrics["first_loss"] = round(float(np.mean(losses[:20])), 4)
    metrics["final_loss"] = round(float(np.mean(losses[-20:])), 4)
    dice = test_metrics[FOREGROUND]["dice"]
    summary = (
        f"held-out Dice {dice:.3f} (dural canal {test_metrics['dural_canal']['dice']:.3f}) "
        f"on {len(test)} cases"
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
        **training_data,
        "train_ids": [c.case_id for c in dev],
        "test_ids": [c.case_id for c in test],
        "folds": run.folds,
    }
    return _save(
        out,
        "ncctm.pt",
        lambda path, metadata: save_model(path, model, config, metadata),
        metrics=metrics,
        training_data=training_data,
        started=start,
        say=say,
    )


# --- pseudo-MRI -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PseudoMRIRun:
    """Options of a pseudo-MRI training, whatever the data.

    Attributes:
        config: Model and training configuration (its seed seeds weights, batches, noise).
        eval_steps: DDIM steps of the evaluation (default: the config's).
    """

    config: PseudoMRIConfig
    eval_steps: int | None = None


def pseudomri_phantom_data(
    phantoms: int, held_out: int, *, shape: tuple[int, int, int], seed: int
) -> tuple[list[PairedVolume], list[PairedVolume], dict[str, Any]]:
    """Training and held-out cervical phantom pairs, and their summary."""
    if held_out < 1 or phantoms < 1:
        raise ValueError("need at least 1 training and 1 held-out phantom")
    train = phantom_pairs(range(seed, seed + phantoms), shape=shape)
    test = phantom_pairs(range(seed + phantoms, seed + phantoms + held_out), shape=shape)
    summary = {
        "source": "synthetic cervical CT / T2 MRI phantoms (inference.phantoms)",
        "phantoms": phantoms,
        "shape": list(shape),
    }
    return train, test, summary


def split_pairs(
    pairs: list[PairedVolume], held_out: int
) -> tuple[list[PairedVolume], list[PairedVolume]]:
    """The last ``held_out`` pairs for testing, the others for training.

    Raises:
        ValueError: If there are too few pairs.
    """
    if held_out < 1 or len(pairs) - held_out < 1:
        raise ValueError(
            f"{len(pairs)} cases are too few: {max(held_out, 1)} held-out and at least 1 to "
            "train on are needed (lower --held-out or add cases)"
        )
    return pairs[:-held_out], pairs[-held_out:]


def check_pseudomri_pairs(pairs: Sequence[PairedVolume], config: PseudoMRIConfig) -> None:
    """All slices must share one matrix the U-Net can halve at each level.

    Raises:
        ValueError: Naming the case whose matrix differs.
    """
    multiple = 2 ** (len(config.block_out_channels) - 1)
    first = pairs[0].ct_hu.shape[1:]
    for pair in pairs:
        matrix = pair.ct_hu.shape[1:]
        if matrix != first:
            raise ValueError(
                f"{pair.case_id} has {matrix[0]} x {matrix[1]} slices, {pairs[0].case_id} "
                f"{first[0]} x {first[1]}: the training slices must share one matrix size"
            )
        if any(size % multiple for size in matrix):
            raise ValueError(
                f"{pair.case_id} has {matrix[0]} x {matrix[1]} slices: the network needs a "
                f"multiple of {multiple}"
            )


def run_pseudomri(
    train: list[PairedVolume],
    test: list[PairedVolume],
    training_data: dict[str, Any],
    run: PseudoMRIRun,
    *,
    out: Path,
    say: Say,
) -> TrainingOutcome:
    """Train, evaluate against the intensity-mapping baseline and save a pseudo-MRI model.

    Args:
        train: Training pairs; test: held-out pairs (at least one each).
        training_data: Where they came from; the split is added to it.
        run: Training options.
        out: Folder of the checkpoint (``pseudomri.pt``) and ``metrics.json``.
        say: Progress output.

    Raises:
        ValueError: If a split is empty or the slices do not share one usable matrix.
    """
    if not train or not test:
        raise ValueError("need at least 1 training and 1 held-out case")
    check_pseudomri_pairs([*train, *test], run.config)
    start = time.perf_counter()
    seed_everything(run.config.seed)
    result = train_pseudomri(
        train, run.config, progress=_every(run.config.iterations, say, "train")
    )
    train_seconds = time.perf_counter() - start
    say(f"Evaluating on {len(test)} held-out cases against the intensity-mapping baseline")
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
        "first_loss": round(float(np.mean(result.losses[:20])), 5),
        "final_loss": round(float(np.mean(result.losses[-20:])), 5),
        "summary": summary,
        "train_seconds": round(train_seconds, 1),
    }
    training_data = {
        **training_data,
        "train_ids": [p.case_id for p in train],
        "test_ids": [p.case_id for p in test],
        "slices": int(sum(p.ct_hu.shape[0] for p in train)),
    }
    return _save(
        out,
        "pseudomri.pt",
        lambda path, metadata: save_pseudomri(path, result.model, result.config, metadata),
        metrics=metrics,
        training_data=training_data,
        started=start,
        say=say,
    )


def replace_config(config: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` that ignores options left unset (``None``)."""
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
