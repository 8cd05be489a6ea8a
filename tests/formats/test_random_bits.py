"""Stochastic rounding with N random bits (``quantize(..., random_bits=N)``): the exact expected
value over all 2**N random integers against the bias formula of the docstring, a fixed-seed
frequency test, and the argument checks."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import mixprec as mp
from mixprec.formats.quantize import round_with_random_bits
from tests.reference import neighbours

FORMATS = ["fp8_e4m3", "fp8_e5m2", "bf16", "fp16", "fp4_e2m1", "e3m4", "int8", "uint8",
           "fixed<8,4>", "int4"]  # fmt: skip
BITS = [1, 2, 3, 5, 8]


def _expected(x: float, fmt: mp.Format, n: int) -> Fraction:
    """E[result] by the docstring: the toward-zero neighbour t, the away one a, r = |x - t| / q
    with q = |a - t|; P(away) = floor(r * 2**n) / 2**n."""
    low, high = neighbours(x, fmt)
    assert low is not None and high is not None
    value = Fraction(x)
    toward, away = (low, high) if value >= 0 else (high, low)
    if toward == away:
        return toward
    r = abs(value - toward) / abs(away - toward)
    p = Fraction(math.floor(r * 2**n), 2**n)
    return toward + p * (away - toward)


def _inputs(fmt: mp.Format, seed: int) -> np.ndarray:
    """Values inside the range: uniform in [-max, max], a few near max and near 0, grid points
    and midpoints."""
    rng = np.random.default_rng(seed)
    top = fmt.max
    low = -fmt.max if fmt.min < 0 else 0.0
    spread = rng.uniform(low, top, 40)
    small = rng.uniform(-4, 4, 20) * fmt.smallest_subnormal
    if fmt.min >= 0:
        small = np.abs(small)
    grid = mp.quantize(spread[:10], fmt)
    mid = (grid + mp.quantize(grid * (1 + 2 * fmt.eps) + fmt.smallest_subnormal, fmt)) / 2
    x = np.concatenate([spread, small, grid, mid, np.float32(rng.uniform(low, top, 10))])
    return x[np.abs(x) <= fmt.max]


@pytest.mark.parametrize("n", BITS)
@pytest.mark.parametrize("name", FORMATS)
def test_expected_value_over_every_random_integer_equals_the_formula(name: str, n: int) -> None:
    fmt = mp.get_format(name)
    randoms = np.arange(2**n, dtype=np.uint64)
    for x in _inputs(fmt, seed=n):
        results = round_with_random_bits(np.full(2**n, float(x)), fmt, randoms, n)
        mean = sum((Fraction(float(v)) for v in results), Fraction(0)) / 2**n
        assert mean == _expected(float(x), fmt, n), (name, n, float(x))


def test_no_bias_where_the_discarded_part_fits_in_the_random_bits() -> None:
    """float32 to bf16 discards 16 bits: 16 random bits give exactly unbiased rounding."""
    fmt = mp.get_format("bf16")
    x = np.float32(1.0) + np.float32(3 * 2.0**-20)  # r = 3/2**13 quanta
    results = round_with_random_bits(np.full(2**16, float(x)), fmt, np.arange(2**16), 16)
    assert sum(Fraction(float(v)) for v in results) / 2**16 == Fraction(float(x))
    assert _expected(float(x), fmt, 8) < Fraction(float(x))  # 8 bits: biased toward zero


CASES = [  # (value, format, N): P(away) = floor(r * 2**N) / 2**N differs from r
    (1.0 + 0.3 * 2**-7, "bf16", 2),  # r = 0.3 -> 0.25
    (-(1.0 + 0.7 * 2**-10), "fp16", 1),  # r = 0.7 -> 0.5
    (2.0 + 0.9, "int8", 3),  # r = 0.9 -> 0.875
    (0.2, "fixed<8,4>", 2),  # r = 0.2 * 16 - 3 = 0.2 -> 0
    (1.0 + 0.55 * 2**-3, "fp8_e4m3", 64),  # r = 0.55 (exactly representable part) -> r
]


@pytest.mark.parametrize(("value", "name", "n"), CASES)
def test_frequency_of_rounding_away_matches_the_formula(value: float, name: str, n: int) -> None:
    """Hoeffding: |freq - p| > sqrt(ln(2 / delta) / (2 m)) with probability below delta; delta
    = 1e-6 / len(CASES), so the whole test fails by chance less than once in 10**6."""
    fmt = mp.get_format(name)
    m = 200_000
    got = mp.quantize(np.full(m, value), fmt, rounding="stochastic", rng=2024, random_bits=n)
    low, high = neighbours(value, fmt)
    away = float(high if value >= 0 else low)
    toward = float(low if value >= 0 else high)
    assert set(np.unique(got).tolist()) <= {away, toward}
    freq = float(np.mean(got == away))
    p = float((_expected(value, fmt, n) - Fraction(toward)) / (Fraction(away) - Fraction(toward)))
    bound = math.sqrt(math.log(2 / (1e-6 / len(CASES))) / (2 * m))
    assert abs(freq - p) <= bound, (freq, p, bound)
    exact = float(abs(Fraction(value) - Fraction(toward)) / abs(Fraction(away) - Fraction(toward)))
    if n < 64:
        assert abs(exact - p) > 2 * bound  # the test tells N-bit SR from exact SR


def test_float32_input_keeps_float32_and_seeded_results_repeat() -> None:
    x = np.linspace(-3, 3, 1001, dtype=np.float32)
    one = mp.quantize(x, "fp8_e4m3", rounding="stochastic", rng=7, random_bits=8)
    two = mp.quantize(x, "fp8_e4m3", rounding="stochastic", rng=7, random_bits=8)
    assert one.dtype == np.float32
    np.testing.assert_array_equal(one, two)
    codes = mp.encode(x, "fp8_e4m3", rounding="stochastic", rng=7, random_bits=8)
    np.testing.assert_array_equal(mp.decode(codes, "fp8_e4m3"), one)


@pytest.mark.parametrize("bad", [0, -1, 65, 2.5, True, "8", np.float64(4)])
def test_invalid_random_bits_is_a_clear_error(bad: object) -> None:
    with pytest.raises(ValueError, match="random_bits"):
        mp.quantize([1.0], "bf16", rounding="stochastic", rng=0, random_bits=bad)  # type: ignore[arg-type]


def test_random_bits_needs_stochastic_rounding_and_a_generator() -> None:
    with pytest.raises(ValueError, match="rounding='stochastic'"):
        mp.quantize([1.0], "bf16", random_bits=8)
    with pytest.raises(ValueError, match="needs rng"):
        mp.quantize([1.0], "int8", rounding="stochastic", random_bits=8)
    with pytest.raises(ValueError, match="random has 1 values"):
        round_with_random_bits(np.ones(2), mp.get_format("bf16"), np.zeros(1, np.uint64), 8)


def test_no_overflow_policy_keeps_the_grid_above_max_and_infinities() -> None:
    """``overflow=None`` (for MAC accumulators that count their own overflows): in range the
    same as any policy; past ``max`` the value stays on the grid continued above it."""
    fmt = mp.get_format("fp8_e4m3")
    x = np.array([1.3, -0.7, 448.0 * 1.5, -1000.0, np.inf, -np.inf, -0.0])
    random = np.array([3, 200, 0, 255, 0, 0, 0], np.uint64)
    free = round_with_random_bits(x, fmt, random, 8, overflow=None)
    policed = round_with_random_bits(x, fmt, random, 8, overflow=mp.Overflow.SATURATE)
    np.testing.assert_array_equal(free[:2], policed[:2])
    # on the grid of 3 mantissa bits above max (spacing 64 in [512, 1024)): 672 lies halfway
    # between 640 and 704 (random 0: stays at 640); -1000 with random 255 goes up to -1024
    np.testing.assert_array_equal(free[2:6], [640.0, -1024.0, np.inf, -np.inf])
    np.testing.assert_array_equal(policed[2:6], [448.0, -448.0, 448.0, -448.0])
    assert np.signbit(free[6]) and free[6] == 0
    with pytest.raises(ValueError, match="overflow=None is for float formats"):
        round_with_random_bits(x[:2], mp.get_format("int8"), random[:2], 8, overflow=None)
