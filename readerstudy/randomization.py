"""Per-reader case orders and slot placements from stored seeds (pure, reproducible).

Everything here is a function of its arguments: a stored seed and the study's case list give
the same order in any process, so an auditor can recompute any reader's order.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

SEED_BITS = 62  # fits a signed 64-bit column on every database


def new_seed() -> int:
    return secrets.randbits(SEED_BITS)


def seeded_order(items: Sequence[T], seed: int) -> list[T]:
    """``items`` shuffled by ``random.Random(seed)`` (Fisher-Yates, Python's documented PRNG)."""
    order = list(items)
    random.Random(seed).shuffle(order)
    return order


def williams_rows(n: int) -> list[list[int]]:
    """The rows of a Williams design for ``n`` items (each row a permutation of ``range(n)``).

    Every item appears once in each position across the rows, and every item follows every
    other item equally often (first-order carry-over balance): ``n`` rows for even ``n``, ``2n``
    for odd ``n`` (the square and its mirror).
    """
    if n <= 0:
        return []
    if n == 1:
        return [[0]]
    # First row 0, 1, n-1, 2, n-2, ...; the other rows add a constant modulo n.
    first = [0]
    low, high = 1, n - 1
    take_low = True
    while len(first) < n:
        if take_low:
            first.append(low)
            low += 1
        else:
            first.append(high)
            high -= 1
        take_low = not take_low
    rows = [[(value + shift) % n for value in first] for shift in range(n)]
    if n % 2:
        rows += [list(reversed(row)) for row in rows]
    return rows


def williams_order(items: Sequence[T], row: int) -> list[T]:
    """``items`` in the order of row ``row`` (modulo the number of rows) of a Williams design."""
    rows = williams_rows(len(items))
    if not rows:
        return []
    return [items[index] for index in rows[row % len(rows)]]


def crossover_sequence(reader_index: int) -> str:
    """``"AB"`` for even reader indices, ``"BA"`` for odd: half the readers see arm B first."""
    return "AB" if reader_index % 2 == 0 else "BA"


def slot_permutation(n_slots: int, *, seed: int, key: str) -> list[int]:
    """Which slot content goes under which slot label, per reader (``seed``) and case (``key``).

    Returns ``perm`` where label ``i`` shows the content defined for slot ``perm[i]``.
    """
    return seeded_order(list(range(n_slots)), _mix(seed, key))


def _mix(seed: int, key: str) -> int:
    # A stable per-case derivation from the assignment seed (hash() is salted per process).
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
