"""GPTQ against a direct float64 implementation of the algorithm (OBQ equations 2 and 3)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mixprec.quant.gptq import gptq, hessian, rtn_grid


def sequential_gptq(
    w: np.ndarray, x: np.ndarray, scales: np.ndarray, q_max: int, damp: float, order: np.ndarray
) -> np.ndarray:
    """The algorithm as Frantar et al. 2022 state it before the Cholesky and blocking steps:
    round one input row, spread its error over the rows left by the inverse Hessian
    (equation 2), drop the row from the inverse by Gaussian elimination (equation 3)."""
    h = 2 * x.T @ x / len(x)
    w = w.astype(np.float64).copy()
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[dead] = 0.0
    h += damp * np.mean(np.diag(h)) * np.eye(len(h))
    h_inv = np.linalg.inv(h)
    q = np.zeros_like(w)
    left = list(order)
    for k in order:
        left.remove(k)
        q[k] = scales * np.clip(np.rint(w[k] / scales), -q_max, q_max)
        err = (w[k] - q[k]) / h_inv[k, k]
        w[left] -= np.outer(h_inv[left, k], err)
        h_inv = h_inv - np.outer(h_inv[:, k], h_inv[k, :]) / h_inv[k, k]
    return q


def layer(seed: int, n: int = 200, rows: int = 24, cols: int = 5) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((rows, rows))  # correlated inputs, as real activations are
    x = rng.standard_normal((n, rows)) @ mix * rng.uniform(0.2, 2.0, rows)
    w = rng.standard_normal((rows, cols))
    scales = np.abs(w).max(axis=0) / 7
    return x, w, scales


@pytest.mark.parametrize("act_order", [False, True], ids=["natural", "act-order"])
@pytest.mark.parametrize("block_size", [1, 5, 128])
def test_gptq_equals_the_sequential_algorithm(act_order: bool, block_size: int) -> None:
    x, w, scales = layer(seed=1)
    x[:, 3] = 0.0  # a dead input
    h = hessian(x)
    order = (
        np.argsort(-np.diag(np.where(np.eye(24, dtype=bool) & (h == 0), 1.0, h)), kind="stable")
        if act_order
        else np.arange(24)
    )
    expected = sequential_gptq(w, x, scales, 7, 0.01, order)
    got = gptq(
        w, h, rtn_grid(scales, "int4"), damp=0.01, block_size=block_size, act_order=act_order
    )
    assert_array_equal(np.rint(got / scales), np.rint(expected / scales))
    assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert_array_equal(got[3], 0.0)


def test_gptq_beats_round_to_nearest_on_the_layer_output() -> None:
    for seed in range(3):
        x, w, scales = layer(seed, rows=32, cols=8)
        rtn = scales * np.clip(np.rint(w / scales), -7, 7)
        q = gptq(w, hessian(x), rtn_grid(scales, "int4"))
        assert np.sum((x @ (w - q)) ** 2) < np.sum((x @ (w - rtn)) ** 2)
        codes = q / scales
        assert_allclose(codes, np.rint(codes), atol=1e-9)  # on the grid
        assert np.abs(np.rint(codes)).max() <= 7


def test_gptq_with_group_scales() -> None:
    x, w, _ = layer(seed=4, rows=16, cols=3)
    group = np.repeat(np.abs(w).reshape(4, 4, 3).max(axis=1) / 3, 4, axis=0)  # int3, groups of 4
    q = gptq(w, hessian(x), rtn_grid(group, "int3"))
    assert_allclose(q / group, np.rint(q / group), atol=1e-9)
    expected = sequential_gptq_grouped(w, x, group)
    assert_allclose(q, expected, atol=1e-12)


def sequential_gptq_grouped(w: np.ndarray, x: np.ndarray, scales: np.ndarray) -> np.ndarray:
    h = 2 * x.T @ x / len(x)
    h += 0.01 * np.mean(np.diag(h)) * np.eye(len(h))
    h_inv, w, q = np.linalg.inv(h), w.copy(), np.zeros_like(w)
    for k in range(len(w)):
        q[k] = scales[k] * np.clip(np.rint(w[k] / scales[k]), -3, 3)
        err = (w[k] - q[k]) / h_inv[k, k]
        w[k + 1 :] -= np.outer(h_inv[k + 1 :, k], err)
        h_inv = h_inv - np.outer(h_inv[:, k], h_inv[k, :]) / h_inv[k, k]
    return q


def test_gptq_errors() -> None:
    x, w, scales = layer(seed=0)
    with pytest.raises(ValueError, match="finite"):
        gptq(w, np.eye(3), rtn_grid(scales, "int4"))
    with pytest.raises(ValueError, match="damp"):
        gptq(w, hessian(x), rtn_grid(scales, "int4"), damp=-1)
    with pytest.raises(ValueError, match="positive definite"):
        gptq(w, -np.eye(24), rtn_grid(scales, "int4"), damp=0)
    with pytest.raises(ValueError, match="calibration inputs"):
        hessian(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="integer format"):
        rtn_grid(scales, "fp8_e4m3")
