"""The products of a matmul, one k at a time, for all outputs or for a subset of them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class Terms:
    """Products ``a[i, k] * b[k, j]`` for every output (an M×N array) or listed outputs.

    Args:
        a: M×K array, b: K×N array, of a dtype in which the products are exact (float64 for
            float inputs of <= 26 bits, int64 for integer codes).
        rows, cols: index vectors of the outputs to compute (same length), or ``None`` for all.
        finish: applied to each product array (product rounding, scaling), or ``None``.
    """

    def __init__(
        self,
        a: np.ndarray,
        b: np.ndarray,
        rows: np.ndarray | None = None,
        cols: np.ndarray | None = None,
        finish: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.at = np.ascontiguousarray(a.T)
        self.b = np.ascontiguousarray(b)
        self.columns = self.at[:, :, None]  # a[:, k] as an (M, 1) column: one view per step
        self.rows_of_b = self.b[:, None, :]
        self.rows, self.cols, self.finish = rows, cols, finish
        self.count = a.shape[1]
        if rows is None:
            self.shape: tuple[int, ...] = (a.shape[0], b.shape[1])
        else:
            self.shape = (len(rows),)
        dtype = np.result_type(a.dtype, b.dtype)
        self.buffer = np.empty(self.shape, dtype=dtype)  # reused: each term is consumed at once

    def __call__(self, k: int) -> np.ndarray:
        """The products of step ``k`` (in a buffer that the next call overwrites)."""
        if self.rows is None:
            p = np.multiply(self.columns[k], self.rows_of_b[k], out=self.buffer)
        else:
            p = np.multiply(self.at[k][self.rows], self.b[k][self.cols], out=self.buffer)
        return p if self.finish is None else self.finish(p)

    def gather(self, values: np.ndarray) -> np.ndarray:
        """The entries of an M×N array at the listed outputs (or all of it)."""
        return values if self.rows is None else values[self.rows, self.cols]


def select(mask: np.ndarray, dense_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray] | None:
    """Index vectors of the True entries of an M×N mask, or None when it is cheaper to do all."""
    count = int(np.count_nonzero(mask))
    if count > dense_fraction * mask.size:
        return None
    rows, cols = np.nonzero(mask)
    return rows, cols
