"""First checks of the MAC API: notation, known effects, exact integer products."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from mixprec.mac import MAC

NOTATIONS = [
    "int8->int32", "fp16->fp32", "bf16->fp32", "fp8_e4m3->fp16", "fp8_e5m2->fp32", "fp16->fp16",
    "bf16->bf16", "int8->int16:saturate", "fp16->fp16:chunked:64", "fp8_e4m3->fp16->fp32",
]  # fmt: skip


@pytest.mark.parametrize("notation", NOTATIONS)
def test_notation_round_trip(notation: str) -> None:
    mac = MAC.parse(notation)
    assert str(mac) == notation
    assert MAC.parse(str(mac)) == mac


def test_swamping_known_effects() -> None:
    ones = np.ones(4096)
    assert MAC.parse("fp16->fp16").dot(ones, ones) == 2048
    assert MAC.parse("fp16->fp16:chunked:64").dot(ones, ones) == 4096
    assert MAC.parse("fp16->fp32").dot(ones, ones) == 4096


def test_int8_exact_against_python_integers() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(-128, 128, size=(7, 300)).astype(np.int8)
    b = rng.integers(-128, 128, size=(300, 5)).astype(np.int8)
    exact = a.astype(np.int64) @ b.astype(np.int64)
    np.testing.assert_array_equal(MAC.parse("int8->int32").matmul(a, b), exact)


def test_fp16_fp32_fast_is_float32_blas_of_fp16_values() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 50)).astype(np.float16)
    b = rng.standard_normal((50, 4)).astype(ml_dtypes.bfloat16)
    y = MAC.parse("fp16->fp32").matmul(a, b.astype(np.float32))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, a.astype(np.float32) @ b.astype(np.float16).astype(np.float32))
