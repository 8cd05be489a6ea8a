"""encode/decode: exhaustive round trips for every format of 16 bits or fewer."""

from __future__ import annotations

import numpy as np
import pytest

import mixprec as mp
from mixprec.formats import storage_dtype
from tests.formats.conftest import assert_same

SMALL = [f.name for f in mp.list_formats() if f.bits <= 16]


@pytest.mark.parametrize("name", SMALL)
def test_every_code_round_trips(name: str) -> None:
    fmt = mp.get_format(name)
    codes = np.arange(2**fmt.bits, dtype=np.uint32)
    values = mp.decode(codes, fmt, dtype=np.float64)
    nan = np.isnan(values)
    back = mp.encode(values[~nan], fmt, overflow="saturate")
    np.testing.assert_array_equal(back, codes[~nan])
    if nan.any():  # every NaN code decodes to NaN and encodes to the canonical NaN
        canonical = mp.encode(values[nan], fmt)
        assert np.isnan(mp.decode(canonical, fmt)).all()
        assert len(np.unique(canonical)) <= 2  # one per sign at most


@pytest.mark.parametrize("name", [n for n in SMALL if storage_dtype(n) is not None])
def test_encode_equals_the_dtype_bits(name: str) -> None:
    fmt = mp.get_format(name)
    values = np.linspace(-fmt.max, fmt.max, 1001) if fmt.min < 0 else np.linspace(0, fmt.max, 1001)
    if not fmt.has_zero:
        values = values[values > 0]
    stored = mp.to_storage(values, fmt)
    width = np.uint8 if fmt.bits <= 8 else np.uint16
    np.testing.assert_array_equal(mp.encode(values, fmt), stored.view(width))


def test_named_codes() -> None:
    assert mp.encode([448.0, -448.0, np.nan, -0.0], "fp8_e4m3").tolist() == [0x7E, 0xFE, 0x7F, 0x80]
    assert mp.encode([np.inf, 57344.0, np.nan], "fp8_e5m2", overflow="inf").tolist() == [
        0x7C, 0x7B, 0x7E,
    ]  # fmt: skip
    assert mp.encode([np.nan, -0.0], "fp8_e4m3fnuz").tolist() == [0x80, 0x00]
    assert mp.encode([1.0, 2.0**-127, np.nan], "e8m0").tolist() == [127, 0, 255]
    assert mp.encode([-1, 127, -128], "int8").tolist() == [0xFF, 0x7F, 0x80]
    assert mp.encode([-1.0, 0.5], "fixed<16,8>").tolist() == [0xFF00, 0x0080]
    assert mp.encode([1.0, -6.0], "fp4_e2m1").tolist() == [0x2, 0xF]


def test_wide_formats_round_trip_samples() -> None:
    rng = np.random.default_rng(5)
    for name, dtype in [("fp32", np.float32), ("fp64", np.float64)]:
        x = rng.standard_normal(1000).astype(dtype)
        codes = mp.encode(x, name)
        width = np.uint32 if dtype == np.float32 else np.uint64
        np.testing.assert_array_equal(codes, x.view(width))
        assert_same(mp.decode(codes, name), x, x, name)
    codes = mp.encode(np.array([-(2.0**31), 2.0**31 - 1]), "int32")
    assert codes.tolist() == [0x80000000, 0x7FFFFFFF]
    assert mp.decode(codes, "int32").tolist() == [-(2.0**31), 2.0**31 - 1]


def test_decode_rejects_bad_codes() -> None:
    with pytest.raises(ValueError, match="out of range.*0 .. 255"):
        mp.decode([256], "fp8_e4m3")
    with pytest.raises(ValueError, match="out of range"):
        mp.decode([-1], "int4")
    with pytest.raises(TypeError, match="integer array"):
        mp.decode([1.5], "fp8_e4m3")


def test_encode_rejects_nan_for_formats_without_nan() -> None:
    with pytest.raises(ValueError, match="no NaN"):
        mp.encode([np.nan], "fp4_e2m1")
    with pytest.raises(ValueError, match="NaN cannot be rounded"):
        mp.encode([np.nan], "int8")
