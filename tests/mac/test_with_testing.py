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


def _numpy_float32(a: np.ndarray, b: np.ndarray, order: str) -> np.ndarray:
    """The same additions in numpy float32: fp16 products are exact in float32 (11 + 11
    significant bits), and numpy rounds each float32 addition to nearest even. ``pairwise``
    over K = 16 terms is a balanced tree; ``chunked:4`` sums 4 terms from +0, then adds each
    chunk into the accumulator; every order starts from +0."""
    k = a.shape[1]
    terms = [a[:, i, None].astype(np.float32) * b[None, i, :].astype(np.float32) for i in range(k)]
    zero = np.zeros((a.shape[0], b.shape[1]), np.float32)
    if order == "sequential":
        chunks = [[t] for t in terms]
    elif order == "chunked:4":
        chunks = [terms[i : i + 4] for i in range(0, k, 4)]
    else:
        level = terms
        while len(level) > 1:
            level = [level[i] + level[i + 1] for i in range(0, len(level), 2)]
        chunks = [level]
    acc = zero
    for chunk in chunks:
        inner = zero
        for t in chunk:
            inner = inner + t
        acc = acc + inner
    return acc


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
    assert_bits_equal(y, _numpy_float32(a, b, order), "fp32")
    single = mp.MAC.parse(f"fp16->fp32:{order}").matmul(a[:, :1], b[:1, :])
    exact = a[:, :1].astype(np.float64) * b[:1, :].astype(np.float64) + 0.0
    assert_bits_equal(single, mp.quantize(exact, "fp32").astype(single.dtype), "fp32")
