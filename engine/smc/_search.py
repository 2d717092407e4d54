"""Sparse tables answering "first index at or after ``start`` whose value crosses ``v``" in
O(log n), so forward scans over years of candles stay linear overall."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

F64 = npt.NDArray[np.float64]


@njit(cache=True)
def build_max_table(values: F64) -> F64:
    """Row ``k`` holds ``max(values[i : i + 2**k])`` for every ``i`` where it fits."""
    n = values.shape[0]
    levels = 1
    while (1 << levels) <= n:
        levels += 1
    table = np.full((levels, max(n, 1)), -np.inf)
    table[0, :n] = values
    for k in range(1, levels):
        half = 1 << (k - 1)
        for i in range(n - (1 << k) + 1):
            a = table[k - 1, i]
            b = table[k - 1, i + half]
            table[k, i] = a if a > b else b
    return table


@njit(cache=True)
def first_above(table: F64, n: int, start: int, v: float) -> int:
    """First ``i >= start`` with ``values[i] > v``, or ``-1``; ``table`` from build_max_table."""
    p = start
    if p >= n:
        return -1
    for k in range(table.shape[0] - 1, -1, -1):
        if p + (1 << k) <= n and table[k, p] <= v:
            p += 1 << k
    return p if p < n else -1


@njit(cache=True)
def first_at_least(table: F64, n: int, start: int, v: float) -> int:
    """First ``i >= start`` with ``values[i] >= v``, or ``-1``."""
    p = start
    if p >= n:
        return -1
    for k in range(table.shape[0] - 1, -1, -1):
        if p + (1 << k) <= n and table[k, p] < v:
            p += 1 << k
    return p if p < n else -1
