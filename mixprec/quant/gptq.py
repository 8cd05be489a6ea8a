"""GPTQ: weight rounding that compensates each rounding error on the weights not yet rounded.

Frantar, Ashkboos, Hoefler and Alistarh 2022, "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers" (arXiv 2210.17323), Algorithm 1. For one layer ``y = x @ w``
(``w`` of shape ``(in, out)``; the paper's ``W`` is ``w.T``, its columns are our input rows) and
calibration inputs ``X`` (``(n, in)``), GPTQ minimises ``||X w - X q||^2`` over grid values ``q``
one input row at a time: with ``H = 2 X^T X / n`` (the Hessian of that error, section 3,
equation 1; the factor ``2 / n`` does not change the result but keeps ``H`` an average),
rounding row ``k`` to ``q_k`` moves the rows ``F`` not yet rounded by

    w_F  <-  w_F - ((w_k - q_k) / [H_F^-1]_kk) * (H_F^-1)_{k, F}          (OBQ, equation 2)

and ``H_F^-1`` loses row and column ``k`` by one step of Gaussian elimination (equation 3).
Section 4 ("Step 3: Cholesky reformulation") shows the rows ``[H_F^-1]_{k, F} / [H_F^-1]_kk``
that this sequence needs are the rows of the upper Cholesky factor ``U`` of ``H^-1``
(``H^-1 = U^T U``) divided by their diagonal; Step 2 ("lazy batch updates") applies the updates
of ``block_size`` rows at once to the rest. This module implements exactly that; the test
compares it with the explicit sequential algorithm (equations 2 and 3) in float64.

Choices, as the paper:

* **damping** ``lambda = damp * mean(diag(H))`` added to the diagonal, ``damp = 0.01`` (the
  paper's 1 %, section 4 "Step 3");
* **order**: the natural order of the inputs (the paper's "arbitrary order" insight, section 4
  "Step 1"), or with ``act_order=True`` decreasing ``diag(H)`` (the heuristic of the authors'
  later code, "act-order": the inputs with the largest activations first);
* **dead inputs** (``H_kk = 0``: never non-zero in the calibration data) get ``H_kk = 1`` and
  weight 0, as the authors' code does;
* the grid (its scales) is fixed before the loop, from the original weights: ``grid(values, k)``
  rounds row ``k``; per-channel and group-wise scales are both a grid of that kind.

All arithmetic is float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mixprec.formats import Format, IntFormat, get_format

__all__ = ["Grid", "gptq", "hessian", "rtn_grid"]

Grid = Callable[[np.ndarray, int], np.ndarray]
"""``grid(values, k)``: the grid values (float64 ``(out,)``) of input row ``k``'s ``values``."""


def hessian(inputs: np.ndarray) -> np.ndarray:
    """``H = 2 X^T X / n`` (float64 ``(in, in)``) of calibration inputs ``X`` (``(n, in)``).

    Raises:
        ValueError: ``inputs`` not a non-empty 2-D finite array.
    """
    x = np.asarray(inputs, np.float64)
    if x.ndim != 2 or len(x) == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"calibration inputs must be a finite (n >= 1, in) array, got {x.shape}")
    return 2.0 * (x.T @ x) / len(x)


def rtn_grid(scales: np.ndarray, fmt: Format | str) -> Grid:
    """The round-to-nearest grid of ``fmt`` with per-weight ``scales`` (``(in, out)``, or
    ``(out,)`` per channel): ``grid(v, k) = s[k] * clip(rint(v / s[k]), -q_max, q_max)``.

    Raises:
        ValueError: a non-integer format.
    """
    f = get_format(fmt)
    if not isinstance(f, IntFormat):
        raise ValueError(f"rtn_grid needs an integer format, got {f.name}")
    s = np.asarray(scales, np.float64)
    q_max = float(f.max)

    def grid(values: np.ndarray, k: int) -> np.ndarray:
        row = s if s.ndim == 1 else s[k]
        return row * np.clip(np.rint(values / row), -q_max, q_max)

    return grid


def _inverse_cholesky(h: np.ndarray) -> np.ndarray:
    """The upper Cholesky factor ``U`` of ``h^-1`` (``h^-1 = U^T U``)."""
    lower = np.linalg.cholesky(h)
    lower_inv = np.linalg.solve(lower, np.eye(len(h)))
    h_inv = lower_inv.T @ lower_inv
    return np.linalg.cholesky(h_inv).T


def gptq(
    w: np.ndarray,
    h: np.ndarray,
    grid: Grid,
    damp: float = 0.01,
    block_size: int = 128,
    act_order: bool = False,
) -> np.ndarray:
    """Round the weights ``w`` (``(in, out)``) onto ``grid`` by GPTQ with Hessian ``h``.

    Args:
        w: float weights ``(in, out)`` of ``y = x @ w``.
        h: the Hessian ``(in, in)`` of the layer's calibration inputs (:func:`hessian`).
        grid: rounds one input row onto the grid (:func:`rtn_grid`).
        damp: relative damping: ``damp * mean(diag(h))`` is added to the diagonal.
        block_size: rows per lazy batch update (the result does not depend on it, up to
            float64 rounding).
        act_order: round the inputs in decreasing ``diag(h)`` (else in their natural order).

    Returns:
        float64 ``(in, out)``: the grid values (divide by the scales for the codes).

    Raises:
        ValueError: shapes that do not match, non-finite values, ``damp < 0``,
            ``block_size < 1``, or a Hessian that is not positive definite after damping.
    """
    wt = np.array(w, np.float64).T  # the paper's W: (out, in)
    h = np.array(h, np.float64)
    rows = wt.shape[1]
    if h.shape != (rows, rows) or not (np.all(np.isfinite(h)) and np.all(np.isfinite(wt))):
        raise ValueError(f"need finite w (in, out) and h (in, in); got {w.shape} and {h.shape}")
    if not damp >= 0 or block_size < 1:
        raise ValueError(f"need damp >= 0 and block_size >= 1, got {damp} and {block_size}")
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    wt[:, dead] = 0.0
    order = np.argsort(-np.diag(h), kind="stable") if act_order else np.arange(rows)
    wt, h = wt[:, order], h[np.ix_(order, order)]
    h[np.diag_indices(rows)] += damp * float(np.mean(np.diag(h)))
    try:
        u = _inverse_cholesky(h)
    except np.linalg.LinAlgError:
        raise ValueError(
            "the Hessian is not positive definite after damping; raise damp (e.g. 0.1) or "
            "calibrate on more images"
        ) from None
    q = np.zeros_like(wt)
    for start in range(0, rows, block_size):
        stop = min(start + block_size, rows)
        block = wt[:, start:stop].copy()
        errors = np.zeros_like(block)
        u_block = u[start:stop, start:stop]
        for i in range(stop - start):
            q[:, start + i] = grid(block[:, i], int(order[start + i]))
            errors[:, i] = (block[:, i] - q[:, start + i]) / u_block[i, i]
            block[:, i:] -= np.outer(errors[:, i], u_block[i, i:])
        wt[:, stop:] -= errors @ u[start:stop, stop:]
    out = np.empty_like(q)
    out[:, order] = q
    return out.T
