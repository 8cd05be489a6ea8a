"""Accumulator-aware weights: the worst-case input of every channel cannot overflow (exact)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from mixprec.mac import MAC
from mixprec.quant.a2q import (
    a2q_quantize,
    a2q_scales,
    accumulator_range,
    budget,
    fits,
    round_within_budget,
    spent,
    worst_case_inputs,
    worst_case_sums,
)

RANGES = {"signed": (-128, 127), "relu": (0, 127)}


def test_budgets_are_the_floors_of_the_bounds() -> None:
    for bits in range(12, 33):
        top = 2 ** (bits - 1) - 1
        assert budget(bits, -128, 127, "a2q") == top // 128
        assert budget(bits, 0, 127, "a2q") == top // 127
        assert budget(bits, -128, 127, "a2q+") == top // 255
        assert budget(bits, 0, 127, "a2q+") == top // 127
    assert accumulator_range(16) == (-32768, 32767)
    with pytest.raises(ValueError, match="lo <= 0 <= hi"):
        budget(16, 1, 127)
    with pytest.raises(ValueError, match="unknown bound"):
        budget(16, 0, 127, "a3q")
    with pytest.raises(ValueError, match="2..64"):
        accumulator_range(1)


def test_worst_case_sums_against_every_input_of_a_small_box() -> None:
    rng = np.random.default_rng(0)
    q = rng.integers(-3, 4, size=(4, 5))
    lo, hi = -2, 3
    sums = np.array([np.array(x) @ q for x in itertools.product(range(lo, hi + 1), repeat=4)])
    high, low = worst_case_sums(q, lo, hi)
    assert_array_equal(high, sums.max(axis=0))
    assert_array_equal(low, sums.min(axis=0))
    x_max, x_min = worst_case_inputs(q, lo, hi)
    assert_array_equal(np.einsum("jk,kj->j", x_max, q), high)
    assert_array_equal(np.einsum("jk,kj->j", x_min, q), low)


def worst_case_wraps(codes: np.ndarray, bits: int, lo: int, hi: int) -> tuple[int, np.ndarray]:
    """Serve every channel its own worst-case inputs on an ``int8->intP:wrap`` MAC."""
    mac = MAC.parse(f"int8->int{bits}:wrap")
    x_max, x_min = worst_case_inputs(codes, lo, hi)
    x = np.concatenate([x_max, x_min]).astype(np.int8)
    y, stats = mac.matmul(x, codes.astype(np.int8), stats=True)
    n = codes.shape[1]
    diagonal = np.concatenate([np.diag(y[:n]), np.diag(y[n:])])
    return stats.wraps, diagonal


@pytest.mark.parametrize("bound", ["a2q", "a2q+"])
@pytest.mark.parametrize("inputs", list(RANGES), ids=list(RANGES))
@pytest.mark.parametrize("bits", [12, 14, 16, 18, 20])
def test_a2q_weights_never_overflow_the_accumulator(bits: int, inputs: str, bound: str) -> None:
    lo, hi = RANGES[inputs]
    rng = np.random.default_rng(bits)
    w = rng.standard_normal((96, 6)) * rng.uniform(0.1, 2, 6)
    w[:, 5] = 0.0  # an all-zero channel
    codes, scales = a2q_quantize(w, "int8", bits, lo, hi, bound)
    assert codes.shape == w.shape and scales.dtype == np.float32
    assert np.abs(codes).max() <= 127
    assert np.all(spent(codes, bound) <= budget(bits, lo, hi, bound))
    assert np.all(fits(codes, bits, lo, hi))
    wraps, sums = worst_case_wraps(codes, bits, lo, hi)
    assert wraps == 0
    high, low = worst_case_sums(codes, lo, hi)
    assert_array_equal(sums, np.concatenate([high, low]))  # the MAC computed the exact extremes
    top_lo, top_hi = accumulator_range(bits)
    assert high.max() <= top_hi and low.min() >= top_lo


def test_plain_per_channel_int8_weights_do_overflow_an_int16_accumulator() -> None:
    # the check can fail: round-to-nearest weights on max-based scales overflow at P = 16
    rng = np.random.default_rng(0)
    w = rng.standard_normal((96, 6))
    codes = np.rint(w / (np.abs(w).max(axis=0) / 127)).astype(np.int64)
    assert not np.any(fits(codes, 16, -128, 127))
    wraps, _ = worst_case_wraps(codes, 16, -128, 127)
    assert wraps > 0


def test_scales_are_the_smallest_that_fit() -> None:
    w = np.array([[1.0, 0.1], [-1.0, 0.1], [0.5, -0.2]])
    # int8, P = 12, inputs 0..127: budget 2047 // 127 = 16 per sign (a2q+) or in all (a2q)
    s = a2q_scales(w, "int8", 12, 0, 127, "a2q+")
    assert s[0] == np.nextafter(np.float32(1.5 / 16), np.float32(np.inf))  # pos sum 1.5 binds
    # P = 20: budget 524287 // 127 = 4128 > 127, so |w / s| <= 127 binds
    s = a2q_scales(w, "int8", 20, 0, 127, "a2q+")
    assert s[1] == np.nextafter(np.float32(0.2 / 127), np.float32(np.inf))
    s = a2q_scales(w, "int8", 12, 0, 127, "a2q")
    assert s[0] == np.nextafter(np.float32(2.5 / 16), np.float32(np.inf))  # the L1 norm binds
    with pytest.raises(ValueError, match="wider accumulator"):
        a2q_scales(w, "int8", 8, -128, 127, "a2q")
    with pytest.raises(ValueError, match="integer format"):
        a2q_scales(w, "fp8_e4m3", 16, -128, 127)


def test_round_within_budget_moves_the_cheapest_codes() -> None:
    v = np.array([[2.6], [1.5], [0.45], [-3.4]])  # rint: 3, 2, 0, -3 -> L1 8
    assert_array_equal(round_within_budget(v, 8, "a2q", 127), [[3], [2], [0], [-3]])
    # budget 7: the entry that rounded up the most (1.5 -> 2, d = 0.5) moves to 1
    assert_array_equal(round_within_budget(v, 7, "a2q", 127), [[3], [1], [0], [-3]])
    # per sign, budget 4: positives 3 + 2 = 5 > 4, negatives 3 <= 4
    assert_array_equal(round_within_budget(v, 4, "a2q+", 127), [[3], [1], [0], [-3]])
    # budget 2: several steps
    q = round_within_budget(v, 2, "a2q", 127)
    assert np.abs(q).sum() <= 2
