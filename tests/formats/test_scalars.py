"""Scalars are 0-d arrays: every entry gives, for a Python scalar, a numpy scalar or a 0-d array,
the value the array path gives (issue 12, item 3: integer formats used to crash in np.clip)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import mixprec as mp
from mixprec.formats import storage_dtype

INTEGER_FORMATS = ["int8", "uint8", "int4", "uint4", "int16", "int32", "fixed<8,4>", "fixed<16,8>"]
FLOAT_FORMATS = ["fp8_e4m3", "bf16", "fp16", "e9m40"]
VALUES = [3.3, -2.5, 0.0, 300.0, -0.7]
SCALARS: list[tuple[str, Callable[[float], object]]] = [
    ("python", float),
    ("float32", np.float32),
    ("float64", np.float64),
    ("0-d float32", lambda v: np.array(v, np.float32)),
    ("0-d float64", lambda v: np.array(v, np.float64)),
]


def _array_path(
    entry: Callable[..., np.ndarray], scalar: object, name: str, **kw: object
) -> object:
    return entry(np.asarray(scalar).reshape(1), name, **kw)[0]


@pytest.mark.parametrize(("kind", "make"), SCALARS, ids=[s[0] for s in SCALARS])
@pytest.mark.parametrize("name", INTEGER_FORMATS + FLOAT_FORMATS)
def test_quantize_and_encode_of_scalars_equal_the_array_path(
    name: str, kind: str, make: Callable[[float], object]
) -> None:
    for value in VALUES:
        scalar = make(value)
        for entry in (mp.quantize, mp.encode):
            got = entry(scalar, name)
            assert isinstance(got, np.ndarray) and got.shape == (), (entry, kind)
            expected = _array_path(entry, scalar, name)
            assert got.dtype == np.asarray(expected).dtype
            np.testing.assert_equal(got[()], expected)
        got = mp.quantize(scalar, name, rounding="stochastic", rng=1)
        np.testing.assert_equal(
            got[()], _array_path(mp.quantize, scalar, name, rounding="stochastic", rng=1)
        )


@pytest.mark.parametrize("name", INTEGER_FORMATS)
def test_integer_scalars_of_every_rounding_mode(name: str) -> None:
    for mode in ("nearest_even", "nearest_away", "toward_zero", "up", "down", "odd"):
        for value in VALUES:
            got = mp.quantize(np.float32(value), name, rounding=mode)
            assert got.shape == ()
            assert got[()] == _array_path(mp.quantize, np.float32(value), name, rounding=mode)
    assert mp.quantize(np.float32(3.3), "int8").item() == 3.0  # the report's case


@pytest.mark.parametrize("name", [n for n in INTEGER_FORMATS + FLOAT_FORMATS if storage_dtype(n)])
def test_to_storage_of_scalars(name: str) -> None:
    for _, make in SCALARS:
        got = mp.to_storage(make(3.3), name)
        assert got.shape == () and got.dtype == storage_dtype(name)
        assert got[()] == _array_path(mp.to_storage, make(3.3), name)


@pytest.mark.parametrize("name", INTEGER_FORMATS + FLOAT_FORMATS)
def test_decode_of_scalar_codes(name: str) -> None:
    code = int(mp.encode(np.float64(-2.5), name))
    for scalar in (code, np.uint64(code), np.array(code), np.array(code, np.int64)):
        got = mp.decode(scalar, name)
        assert got.shape == ()
        np.testing.assert_equal(got[()], mp.decode(np.array([code]), name)[0])
