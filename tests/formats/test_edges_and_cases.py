"""The format layer checked with mixprec.testing, as users check their own converters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixprec as mp
from mixprec.formats.quantize import _quantize_reference
from mixprec.testing import (
    arrays_of,
    assert_bits_equal,
    assert_representable,
    edge_values,
    rounding_cases,
    values,
)

SMALL = [f.name for f in mp.list_formats() if f.bits <= 16]


@pytest.mark.parametrize("name", SMALL)
def test_edge_values_are_fixed_points_and_round_trip_through_codes(name: str) -> None:
    edges = edge_values(name)
    x = edges.values
    assert_representable(x, name)
    overflow = "saturate" if mp.get_format(name).is_integer else "inf"
    kept = mp.quantize(x, name, overflow=overflow)
    assert_bits_equal(kept, x, name)
    finite = x[~np.isnan(x)]
    assert_bits_equal(mp.decode(mp.encode(finite, name), name, dtype=np.float64), finite, name)


@pytest.mark.parametrize("overflow", ["saturate", "inf"])
@pytest.mark.parametrize("name", ["fp8_e4m3", "fp8_e5m2", "fp6_e2m3", "fp4_e2m1", "e8m0"])
def test_stochastic_rounding_lands_on_a_rounding_neighbour(name: str, overflow: str) -> None:
    """Stochastic results are always the toward-zero or the away-from-zero result."""
    cases = rounding_cases(name, "toward_zero", overflow, dtype=np.float32)
    x = cases.inputs[~np.isnan(cases.inputs)]
    low = mp.quantize(x, name, "toward_zero", overflow)
    high = np.where(
        np.signbit(x),
        mp.quantize(x, name, "down", overflow),
        mp.quantize(x, name, "up", overflow),
    )
    got = mp.quantize(x, name, "stochastic", overflow, rng=np.random.default_rng(0))
    same = lambda a, b: (a == b) | (np.isnan(a) & np.isnan(b))  # noqa: E731
    assert np.all(same(got, low) | same(got, high))


@settings(max_examples=200, deadline=None)
@given(x=arrays_of("fp32", 64), name=st.sampled_from(["bf16", "fp16", "fp8_e4m3", "tf32"]))
def test_float32_bit_patterns_round_like_their_float64_values(x: np.ndarray, name: str) -> None:
    """The float32 fast paths and the float64 reference agree on drawn bit patterns."""
    for overflow in ("saturate", "inf"):
        fast = mp.quantize(x, name, overflow=overflow)
        reference = _quantize_reference(x, name, overflow=overflow)
        assert_bits_equal(fast, reference.astype(np.float32), "fp32")


@settings(max_examples=200, deadline=None)
@given(x=values("fp64", allow_nan=False), name=st.sampled_from(["fp16", "fp8_e5m2", "int8"]))
def test_quantize_is_idempotent_on_drawn_float64(x: float, name: str) -> None:
    once = mp.quantize(x, name)
    assert_bits_equal(mp.quantize(once, name), once, "fp64")
