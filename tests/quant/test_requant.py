"""Requantization: the gemmlowp/TFLite fixed-point multiplier against exact Python-integer and
``fractions.Fraction`` references, and where the float32 (ONNX Runtime) requantization differs."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixprec.quant.requant import (
    INT32_MAX,
    INT32_MIN,
    as_requantization,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    requantize,
    requantize_float,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

int32s = st.integers(INT32_MIN, INT32_MAX)
# Multipliers as they arise: s_x * s_w / s_y of float32 scales; positive finite floats, spread
# over many binades (tiny ones give (0, 0), large ones a left shift).
multipliers = st.floats(min_value=2.0**-40, max_value=2.0**12, allow_infinity=False)


# -- exact references (Python integers and fractions) -------------------------------------------
def ref_quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier, exactly: the significand rounded to 31 bits, ties away."""
    exact = Fraction(real)
    shift = 0
    while exact / Fraction(2) ** shift >= 1:
        shift += 1
    while exact / Fraction(2) ** shift < Fraction(1, 2):
        shift -= 1
    scaled = exact / Fraction(2) ** shift * 2**31
    fixed = math.floor(scaled + Fraction(1, 2))
    if fixed == 2**31:
        fixed, shift = fixed // 2, shift + 1
    if shift < -31:
        return 0, 0
    return fixed, shift


def c_div(a: int, b: int) -> int:
    """C integer division: truncation toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def ref_srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul, transcribed with Python integers."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return c_div(ab + nudge, 1 << 31)


def ref_rdpot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT (Python's >> and & are two's complement on any int)."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def ref_multiply(x: int, m0: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    shifted = min(max(x * (1 << left), INT32_MIN), INT32_MAX)  # saturating left shift
    return ref_rdpot(ref_srdhm(shifted, m0), right)


# -- the multiplier ------------------------------------------------------------------------------
@given(multipliers)
@settings(max_examples=150, deadline=None)
def test_quantize_multiplier_is_exact(real: float) -> None:
    m0, shift = quantize_multiplier(real)
    assert (m0, shift) == ref_quantize_multiplier(real)
    if m0:
        assert 2**30 <= m0 < 2**31
        # the significand is rounded once to 31 bits: error <= half a unit of 2**(shift - 31)
        error = abs(Fraction(m0) * Fraction(2) ** (shift - 31) - Fraction(real))
        assert error <= Fraction(2) ** (shift - 32)


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (1.0, (1 << 30, 1)),
        (0.5, (1 << 30, 0)),
        (0.75, (3 << 29, 0)),
        (1.0 - 2.0**-40, (1 << 30, 1)),  # rounds up to 2**31: halved, shift + 1
        (2.0**-31, (1 << 30, -30)),
        (2.0**-33, (0, 0)),  # below TFLite's range
        (0.0, (0, 0)),
    ],
    ids=["one", "half", "three-quarters", "rounds-to-2^31", "2^-31", "tiny", "zero"],
)
def test_quantize_multiplier_spot_values(real: float, expected: tuple[int, int]) -> None:
    assert quantize_multiplier(real) == expected


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_quantize_multiplier_rejects(bad: float) -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        quantize_multiplier(bad)


# -- the fixed-point operations ------------------------------------------------------------------
@given(st.lists(st.tuples(int32s, int32s), min_size=1, max_size=50))
@settings(max_examples=100, deadline=None)
def test_srdhm_matches_gemmlowp(pairs: list[tuple[int, int]]) -> None:
    a = np.array([p[0] for p in pairs], np.int32)
    b = np.array([p[1] for p in pairs], np.int32)
    expected = [ref_srdhm(x, y) for x, y in pairs]
    assert saturating_rounding_doubling_high_mul(a, b).tolist() == expected


def test_srdhm_saturates_its_one_overflow() -> None:
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX) == INT32_MIN + 1


@given(st.lists(st.tuples(int32s, st.integers(0, 31)), min_size=1, max_size=50))
@settings(max_examples=100, deadline=None)
def test_rounding_divide_by_pot_matches_gemmlowp(pairs: list[tuple[int, int]]) -> None:
    x = np.array([p[0] for p in pairs], np.int64)
    e = np.array([p[1] for p in pairs], np.int64)
    assert rounding_divide_by_pot(x, e).tolist() == [ref_rdpot(v, k) for v, k in pairs]


def test_rounding_divide_by_pot_ties_away_from_zero() -> None:
    halves = rounding_divide_by_pot(np.array([5, -5, 6, -6, 7, -7]), 1)
    assert halves.tolist() == [3, -3, 3, -3, 4, -4]
    with pytest.raises(ValueError, match=r"\[0, 31\]"):
        rounding_divide_by_pot(1, 32)


@given(st.lists(int32s.filter(lambda v: abs(v) < 2**27), min_size=1, max_size=40), multipliers)
@settings(max_examples=100, deadline=None)
def test_multiply_by_quantized_multiplier(xs: list[int], real: float) -> None:
    m0, shift = quantize_multiplier(real)
    got = multiply_by_quantized_multiplier(np.array(xs, np.int64), m0, shift).tolist()
    assert got == [ref_multiply(x, m0, shift) for x in xs]
    for x, y in zip(xs, got, strict=True):  # two roundings: within 1 of the exact product
        if abs(x << max(shift, 0)) > INT32_MAX:
            continue  # saturated
        exact = Fraction(x * m0) * Fraction(2) ** (shift - 31)
        assert abs(y - exact) <= 1


def test_requantize_fuses_relu_and_saturates() -> None:
    m0, shift = quantize_multiplier(0.5)
    acc = np.array([-1000, -3, 0, 3, 100, 1000])
    codes = requantize(acc, m0, shift, zero_point=-20, lo=-20)
    assert codes.dtype == np.int8
    assert codes.tolist() == [-20, -20, -20, -18, 30, 127]  # 3 * 0.5 = 1.5 -> 2 (ties away)
    floating = requantize_float(acc, 0.5, zero_point=-20, lo=-20)
    assert floating.tolist() == [-20, -20, -20, -18, 30, 127]
    # 1.5 and 2.5: float rounds ties to even, gemmlowp away from zero
    assert requantize_float(np.array([3, 5]), 0.5).tolist() == [2, 2]
    assert requantize(np.array([3, 5]), m0, shift).tolist() == [2, 3]


def test_unknown_requantization_lists_choices() -> None:
    with pytest.raises(ValueError, match="'gemmlowp', 'float'"):
        as_requantization("tflite")


# -- where gemmlowp and float32 requantization differ --------------------------------------------
def test_gemmlowp_and_float_differ_by_one_at_rounding_ties() -> None:
    """On random accumulators and multipliers the two requantizations differ by at most one code,
    and only where the exact product is within the float32 error of a half-integer, or where
    gemmlowp's first rounding lands on a tie of its second (its double rounding)."""
    rng = np.random.default_rng(0)
    acc = rng.integers(-(2**20), 2**20, size=20000)
    differing, total = 0, 0
    for real in np.float32(rng.uniform(2.0**-12, 2.0**-4, size=8)):
        m0, shift = quantize_multiplier(float(real))
        fixed = requantize(acc, m0, shift, lo=-(2**7), hi=2**7 - 1).astype(np.int64)
        floating = requantize_float(acc, real, lo=-(2**7), hi=2**7 - 1).astype(np.int64)
        inside = np.abs(acc * float(real)) < 127  # away from the clamp
        diff = (fixed != floating) & inside
        assert np.abs(fixed - floating).max() <= 1
        # explain every difference
        right = -shift
        first = saturating_rounding_doubling_high_mul(acc, m0)
        double_rounding_tie = (first & ((1 << right) - 1)) == (1 << (right - 1))
        value = acc * float(real)  # float64: exact to 2**-30 relative here
        near_half = np.abs(np.abs(value - np.floor(value)) - 0.5) <= 2.0**-22 * np.abs(value) + 1e-9
        assert np.all(double_rounding_tie[diff] | near_half[diff])
        differing += int(diff.sum())
        total += int(inside.sum())
    assert 0 < differing < total / 10
