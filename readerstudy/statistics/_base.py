"""Shared pieces of the statistics package: the result base class and input helpers."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

NAN = math.nan


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    """Base of every result: a frozen dataclass of plain Python values."""

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a dict (nested results become dicts, NaN stays NaN)."""
        return dataclasses.asdict(self)


def to_float(value: Any) -> float:
    """Convert a NumPy or Python number to a plain ``float`` (None becomes NaN)."""
    if value is None:
        return NAN
    return float(value)


def two_sided_p(z: float) -> float:
    """Two-sided standard-normal p-value of ``z`` (NaN propagates)."""
    if math.isnan(z):
        return NAN
    return float(2.0 * stats.norm.sf(abs(z)))


def check_categories(categories: Iterable[Hashable]) -> list[Hashable]:
    """Return the declared categories as a list; duplicates are a programming error."""
    cats = list(categories)
    if len(set(cats)) != len(cats):
        raise ValueError(f"categories contain duplicates: {cats!r}")
    return cats


def encode(labels: Sequence[Hashable], index: dict[Hashable, int], what: str) -> NDArray[np.intp]:
    """Map labels to category codes; a label outside the declared categories is a ValueError."""
    try:
        return np.fromiter((index[label] for label in labels), dtype=np.intp, count=len(labels))
    except KeyError as exc:
        raise ValueError(
            f"{what}: label {exc.args[0]!r} is not one of the categories {list(index)!r}"
        ) from None


def same_length(a: Sequence[Any], b: Sequence[Any], names: str = "a and b") -> None:
    """Raise ValueError when two paired inputs differ in length."""
    if len(a) != len(b):
        raise ValueError(f"{names} must have the same length (got {len(a)} and {len(b)})")


def paired_finite(
    x: Iterable[float], y: Iterable[float]
) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Return paired float arrays without incomplete pairs, and how many pairs were dropped.

    Raises:
        ValueError: if the inputs are not one-dimensional or differ in length.
    """
    xa = np.asarray(list(x) if not isinstance(x, np.ndarray) else x, dtype=float)
    ya = np.asarray(list(y) if not isinstance(y, np.ndarray) else y, dtype=float)
    if xa.ndim != 1 or ya.ndim != 1:
        raise ValueError("x and y must be one-dimensional")
    if xa.shape != ya.shape:
        raise ValueError(f"x and y must have the same length (got {xa.size} and {ya.size})")
    keep = np.isfinite(xa) & np.isfinite(ya)
    return xa[keep], ya[keep], int(xa.size - keep.sum())


def agreement_weight_matrix(weights: Any, k: int) -> NDArray[np.float64]:
    """A k x k agreement-weight matrix, checked: finite, in [0, 1], 1 on the diagonal."""
    matrix = np.asarray(weights, dtype=float)
    if matrix.shape != (k, k):
        raise ValueError(f"weight matrix must be {k} x {k}, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)) or np.any(matrix < 0) or np.any(matrix > 1):
        raise ValueError("agreement weights must lie in [0, 1]")
    if np.any(np.diag(matrix) != 1):
        raise ValueError(
            "agreement weights need 1 on the diagonal (disagreement weights, 0 on the "
            "diagonal, go to weights)"
        )
    return matrix
