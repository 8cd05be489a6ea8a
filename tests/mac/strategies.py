"""Hypothesis strategies for MAC operands: values of a format drawn as bit patterns."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mixprec as mp
from mixprec.formats import FloatFormat, IntFormat


def codes(fmt: mp.FloatFormat | mp.IntFormat) -> st.SearchStrategy[int]:
    """Codes of ``fmt``: any bit pattern, or (half the time) one near 1.0 in magnitude."""
    anything = st.integers(0, 2**fmt.bits - 1)
    if isinstance(fmt, IntFormat):
        return anything
    assert isinstance(fmt, FloatFormat) and fmt.bias is not None
    m = fmt.mantissa_bits
    low = max(1, fmt.bias - 3)
    high = min(2**fmt.exponent_bits - 2, fmt.bias + 3)
    near_one = st.builds(
        lambda sign, e, mant: (sign << (fmt.bits - 1)) | (e << m) | mant,
        st.integers(0, 1),
        st.integers(low, high),
        st.integers(0, 2**m - 1),
    )
    return st.one_of(anything, near_one)


def values(fmt: mp.FloatFormat | mp.IntFormat, shape: tuple[int, ...]) -> st.SearchStrategy:
    """float64 arrays of values of ``fmt`` (subnormal, huge, ±inf, NaN, -0 included)."""
    dtype = np.uint64 if fmt.bits > 32 else np.uint32
    return hnp.arrays(dtype, shape, elements=codes(fmt)).map(
        lambda c: mp.decode(c, fmt, dtype=np.float64)
    )


@st.composite
def operands(
    draw: st.DrawFn, fmt: mp.FloatFormat | mp.IntFormat, max_side: int = 3, max_inner: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """A pair (M×K, K×N) of matrices of values of ``fmt``; K may be 0."""
    m = draw(st.integers(1, max_side))
    n = draw(st.integers(1, max_side))
    k = draw(st.integers(0, max_inner))
    return draw(values(fmt, (m, k))), draw(values(fmt, (k, n)))


def assert_same(actual: np.ndarray, expected: np.ndarray, context: str = "") -> None:
    """Equal values, NaN where NaN, and the same sign of zero."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    nan = np.isnan(expected)
    bad = (np.isnan(actual) != nan) | (~nan & (actual != expected))
    bad |= ~nan & (np.signbit(actual) != np.signbit(expected))
    if bad.any():
        index = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{context}: {int(bad.sum())} mismatches; first at {index}: "
            f"got {actual[index]!r}, expected {expected[index]!r}"
        )
