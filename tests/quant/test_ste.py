"""Fake quantization, the clipped straight-through estimator and LSQ, on hand-built examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mixprec.quant.ste import fake_quantize, grid_limits, lsq_gradient, lsq_step_scale

# int3 on the narrow symmetric grid -3..3, step 0.5: x / s = 0.52, -1.48, 6, -10, 1.5, 3.0
X = np.array([0.26, -0.74, 3.0, -5.0, 0.75, 1.5])
S = 0.5


def test_forward_values_codes_and_mask_by_hand() -> None:
    fq = fake_quantize(X, S, "int3")
    # rint: 1, -1, clip(6) = 3, clip(-10) = -3, rint(1.5) = 2 (ties to even), 3
    assert_array_equal(fq.codes, [1, -1, 3, -3, 2, 3])
    assert_array_equal(fq.values, [0.5, -0.5, 1.5, -1.5, 1.0, 1.5])
    # inside the range -3 <= x / s <= 3 (x / s = 3.0 is on the edge: inside)
    assert_array_equal(fq.inside, [True, True, False, False, True, True])


def test_ste_gradient_equals_the_analytic_one() -> None:
    # L = sum c_i q(x_i): dL/dx_i = c_i inside the range, 0 where x saturated
    c = np.array([2.0, -1.0, 5.0, 7.0, 0.5, -3.0])
    grad = fake_quantize(X, S, "int3").backward(c)
    assert_array_equal(grad, [2.0, -1.0, 0.0, 0.0, 0.5, -3.0])


def test_asymmetric_grid_uses_the_zero_point() -> None:
    # uint-like int4 range -8..7 with zero point -8: x / s + z on -8..7 means x / s in 0..15
    fq = fake_quantize(
        np.array([-0.1, 0.0, 1.0, 7.4, 8.0]), 0.5, "int4", zero_point=-8, symmetric=False
    )
    assert_array_equal(fq.codes, [-8, -8, -6, 7, 7])
    assert_array_equal(fq.values, [0.0, 0.0, 1.0, 7.5, 7.5])
    assert_array_equal(fq.inside, [False, True, True, True, False])


def test_float_format_fake_quant_and_its_range() -> None:
    # fp8_e4m3 max 448: x / s = 1.12 -> 1.125 (3 mantissa bits), 500 saturates to 448
    fq = fake_quantize(np.array([2.24, 1000.0, -0.5]), 2.0, "fp8_e4m3")
    assert_array_equal(fq.values, np.float32([2.25, 896.0, -0.5]))
    assert_array_equal(fq.inside, [True, False, True])
    with pytest.raises(ValueError, match="zero_point=0"):
        fake_quantize(X, S, "fp8_e4m3", zero_point=3)


def test_lsq_gradients_by_hand() -> None:
    # LSQ (Esser et al. 2020, eq. 3): dq/ds = rint(v) - v inside, -Q_n / Q_p outside;
    # the step gradient is scaled by g = 1 / sqrt(N Q_p)
    c = np.array([2.0, -1.0, 5.0, 7.0, 0.5, -3.0])
    grad_x, grad_s = lsq_gradient(X, S, "int3", c)
    dq_ds = [1 - 0.52, -1 + 1.48, 3.0, -3.0, 2 - 1.5, 3.0]  # v = 3.0 is on the edge: Q_p
    expected = sum(ci * di for ci, di in zip(c, dq_ds, strict=True)) / math.sqrt(6 * 3)
    assert_allclose(grad_s, expected, rtol=1e-12)
    assert_array_equal(grad_x, [2.0, -1.0, 0.0, 0.0, 0.5, -3.0])


def test_lsq_per_channel_steps_sum_over_their_channel() -> None:
    w = np.array([[0.26, 1.0], [-0.74, -0.2]])  # (in, out), steps (0.5, 0.25)
    s = np.array([0.5, 0.25])
    c = np.ones_like(w)
    _, grad_s = lsq_gradient(w, s, "int3", c, axis=0)
    # channel 0: v = 0.52, -1.48; channel 1: v = 4 (clipped: Q_p = 3), -0.8 -> rint -1
    g = 1 / math.sqrt(2 * 3)
    assert_allclose(grad_s, [(0.48 + 0.48) * g, (3.0 + (-1 + 0.8)) * g], rtol=1e-12)


def test_lsq_step_scale_and_errors() -> None:
    assert lsq_step_scale(784, 127) == 1 / math.sqrt(784 * 127)
    with pytest.raises(ValueError, match="n >= 1"):
        lsq_step_scale(0, 7)
    with pytest.raises(ValueError, match="positive"):
        fake_quantize(X, 0.0, "int4")


def test_grid_limits() -> None:
    assert grid_limits("int8") == (-127.0, 127.0)
    assert grid_limits("int8", symmetric=False) == (-128.0, 127.0)
    assert grid_limits("fp8_e4m3") == (-448.0, 448.0)
