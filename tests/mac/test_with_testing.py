"""MAC properties on operands drawn with mixprec.testing's strategies (bit patterns, decoded)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import mixprec as mp
from mixprec.testing import arrays_of, assert_bits_equal


@settings(max_examples=100, deadline=None)
@given(
    a=arrays_of("int8", (3, 40)),
    b=arrays_of("int8", (40, 2)),
)
def test_int8_to_int32_equals_exact_integer_matmul(a: np.ndarray, b: np.ndarray) -> None:
    exact = np.array(
        [[sum(int(a[i, k]) * int(b[k, j]) for k in range(40)) for j in range(2)] for i in range(3)]
    )
    y = mp.MAC.parse("int8->int32").matmul(a, b)
    np.testing.assert_array_equal(y, exact)


@settings(max_examples=100, deadline=None)
@given(
    a=arrays_of("fp16", (2, 16), allow_nan=False, allow_infinity=False),
    b=arrays_of("fp16", (16, 3), allow_nan=False, allow_infinity=False),
    order=st.sampled_from(["sequential", "pairwise", "chunked:4"]),
)
def test_fp16_to_fp32_orders_round_every_addition_into_fp32(
    a: np.ndarray, b: np.ndarray, order: str
) -> None:
    """Every result is an fp32 value; with one term, the exact product rounded and added to the
    accumulator's initial +0 (so a -0 product gives +0, as IEEE 754 §6.3 sums zeros)."""
    y = mp.MAC.parse(f"fp16->fp32:{order}").matmul(a, b)
    assert_bits_equal(mp.quantize(y, "fp32"), y, "fp32")
    single = mp.MAC.parse(f"fp16->fp32:{order}").matmul(a[:, :1], b[:1, :])
    exact = a[:, :1].astype(np.float64) * b[:1, :].astype(np.float64) + 0.0
    assert_bits_equal(single, mp.quantize(exact, "fp32").astype(single.dtype), "fp32")
