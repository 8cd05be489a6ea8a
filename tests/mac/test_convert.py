"""The fast exact operand conversions and magnitude summaries against numpy/ml_dtypes."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from mixprec.mac.convert import convert_pair, magnitudes, to_float32


def test_float16_to_float32_every_code() -> None:
    codes = np.arange(2**16, dtype=np.uint16)
    values = codes.view(np.float16)
    finite = values[np.isfinite(values)]
    np.testing.assert_array_equal(
        to_float32(finite).view(np.uint32), finite.astype(np.float32).view(np.uint32)
    )
    for code in (0x7C00, 0x7E01, 0xFC00, 0xFFFF):  # one inf or NaN takes numpy's cast
        x = np.ones(5, dtype=np.float16)
        x.view(np.uint16)[2] = code
        converted, _, finite_flag = convert_pair(x, x, np.float32)
        assert not np.isfinite(converted[2]) and finite_flag is False
        np.testing.assert_array_equal(converted[[0, 1, 3, 4]], 1.0)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float64])
def test_magnitudes(dtype: type) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(500) * 2.0 ** rng.integers(-20, 12, 500)).astype(dtype)
    x[::7] = 0
    wide = np.abs(x.astype(np.float64))
    low, high, finite = magnitudes(x)
    assert low == wide[wide > 0].min() and high == wide.max() and finite
    x[3] = np.inf
    assert magnitudes(x)[2] is False
    assert magnitudes(np.zeros(4, dtype=dtype)) == (np.inf, 0.0, True)


def test_scratch_conversions_are_exact_and_reused() -> None:
    a = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    x, y, finite = convert_pair(a, a.T, np.float32)
    np.testing.assert_array_equal(x, a)
    np.testing.assert_array_equal(y, a.T)
    assert finite is True and x.dtype == np.float32
    x2, _, _ = convert_pair(a, a.T, np.float32)
    assert np.shares_memory(x, x2)  # the same per-thread buffer
