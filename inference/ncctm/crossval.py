"""k-fold cross-validation with a held-out test split, as in the NC-CTM protocol.

The protocol (PROTOCOLS.md section 2) held out 10 of 50 volumes and ran 5-fold
cross-validation on the other 40. Here each fold's model is scored on its validation fold;
the test split is scored by a model refitted on all development cases, which is the model
that gets registered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.model_selection import KFold, train_test_split
from torch import nn

from inference.ncctm.config import NCCTMConfig
from inference.ncctm.data import SegmentationCase
from inference.ncctm.metrics import Metrics, mean_metrics
from inference.ncctm.training import ProgressCallback, evaluate_model, train_model

#: ``stage_progress(stage, step, total, loss)``; stage is ``"fold-1"`` ... or ``"final"``.
StageProgress = Callable[[str, int, int, float], None]


@dataclass(eq=False)
class FoldResult:
    """One cross-validation fold."""

    fold: int
    train_ids: list[str]
    val_ids: list[str]
    metrics: Metrics
    per_case: dict[str, Metrics]
    final_loss: float


@dataclass(eq=False)
class CrossValidationResult:
    """All folds, the refitted model and its scores on the held-out test split."""

    folds: list[FoldResult]
    test_ids: list[str]
    test_metrics: Metrics
    test_per_case: dict[str, Metrics]
    model: nn.Module
    losses: list[float] = field(default_factory=list)

    @property
    def cv_metrics(self) -> Metrics:
        """Mean over folds of the per-fold validation means."""
        return mean_metrics([fold.metrics for fold in self.folds])

    def summary(self) -> dict[str, object]:
        """Plain-data summary for a metrics JSON and the model registry."""
        return {
            "folds": [
                {
                    "fold": f.fold,
                    "train_ids": f.train_ids,
                    "val_ids": f.val_ids,
                    "metrics": f.metrics,
                    "final_loss": f.final_loss,
                }
                for f in self.folds
            ],
            "cv_metrics": self.cv_metrics,
            "test_ids": self.test_ids,
            "test_metrics": self.test_metrics,
            "test_per_case": self.test_per_case,
        }


def _stage(progress: StageProgress | None, name: str) -> ProgressCallback | None:
    if progress is None:
        return None
    return lambda step, total, loss: progress(name, step, total, loss)


def cross_validate(
    cases: Sequence[SegmentationCase],
    config: NCCTMConfig,
    *,
    n_folds: int = 5,
    test_size: int | float = 0.2,
    seed: int = 0,
    device: torch.device | str = "cpu",
    progress: StageProgress | None = None,
) -> CrossValidationResult:
    """Hold out a test split, cross-validate on the rest, refit on all of it and test.

    Args:
        cases: All cases.
        config: Training configuration (the same for every fold).
        n_folds: Number of folds (at least 2).
        test_size: Held-out cases, as a count or a fraction.
        seed: Seed of the splits.
        device: Device to train on.
        progress: Called after every step of every training run.

    Returns:
        Per-fold results, test metrics and the refitted model.
    """
    ids = np.arange(len(cases))
    dev_idx, test_idx = train_test_split(ids, test_size=test_size, random_state=seed)
    if len(dev_idx) < n_folds:
        raise ValueError(f"{len(dev_idx)} development cases cannot make {n_folds} folds")
    dev = [cases[int(i)] for i in sorted(dev_idx)]
    test = [cases[int(i)] for i in sorted(test_idx)]
    folds = []
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for number, (train_idx, val_idx) in enumerate(splitter.split(dev), start=1):
        train_cases = [dev[int(i)] for i in train_idx]
        val_cases = [dev[int(i)] for i in val_idx]
        result = train_model(
            train_cases, config, device=device, progress=_stage(progress, f"fold-{number}")
        )
        metrics, per_case = evaluate_model(result.model, val_cases, config, device=device)
        folds.append(
            FoldResult(
                fold=number,
                train_ids=[c.case_id for c in train_cases],
                val_ids=[c.case_id for c in val_cases],
                metrics=metrics,
                per_case=per_case,
                final_loss=float(np.mean(result.losses[-10:])),
            )
        )
    final = train_model(dev, config, device=device, progress=_stage(progress, "final"))
    test_metrics, test_per_case = evaluate_model(final.model, test, config, device=device)
    return CrossValidationResult(
        folds=folds,
        test_ids=[c.case_id for c in test],
        test_metrics=test_metrics,
        test_per_case=test_per_case,
        model=final.model,
        losses=final.losses,
    )
