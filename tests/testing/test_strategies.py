"""The hypothesis strategies reach every code, respect their filters, and draw valid formats."""

from __future__ import annotations

import math
import subprocess
import sys

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import array_shapes

import mixprec as mp
from mixprec.formats.spec import FloatFormat, Special
from mixprec.testing import (
    arrays_of,
    assert_bits_equal,
    assert_representable,
    formats,
    rounding_cases,
    values,
)
from mixprec.testing.strategies import code_kind
from tests import strategies
from tests.reference import exact_round


def deterministic(max_examples: int) -> settings:
    """Reproducible runs: a fixed seed and no example database."""
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None)


EIGHT_BITS = [f for f in mp.list_formats() if f.bits <= 8]


def _bits(x) -> set[int]:
    """float64 bit patterns (the sign of NaN kept: E4M3's 0x7F and 0xFF are both reached)."""
    return set(np.asarray(x, dtype=np.float64).reshape(-1).view(np.int64).tolist())


def _every_value(fmt) -> set[int]:
    codes = np.arange(2**fmt.bits, dtype=np.uint16)
    return _bits(mp.decode(codes, fmt, dtype=np.float64))


@pytest.mark.parametrize("name", ["fp8_e4m3", "fp8_e5m2", "e8m0", "int8"])
def test_values_reach_every_code(name):
    fmt = mp.get_format(name)
    seen: set[int] = set()

    # hypothesis stops early once it has drawn all 2**8 codes
    @deterministic(2000)
    @given(values(fmt))
    def draw(x):
        seen.update(_bits(x))

    draw()
    assert seen == _every_value(fmt)


def test_arrays_reach_every_code():
    fmt = mp.get_format("fp8_e5m2")
    seen: set[int] = set()

    @deterministic(300)
    @given(arrays_of(fmt, 64, dtype=np.float64))
    def draw(x):
        seen.update(_bits(x))

    draw()
    assert seen == _every_value(fmt)


@pytest.mark.parametrize("fmt", EIGHT_BITS, ids=lambda f: f.name)
def test_code_kind_agrees_with_decode(fmt):
    codes = np.arange(2**fmt.bits)
    decoded = mp.decode(codes, fmt, dtype=np.float64)
    for code, x in zip(codes.tolist(), decoded.tolist(), strict=True):
        kind = code_kind(code, fmt)
        if math.isnan(x):
            assert kind == "nan", code
        elif math.isinf(x):
            assert kind == "inf", code
        elif x == 0:
            assert kind == "zero", code
        elif abs(x) < fmt.smallest_normal:
            assert kind == "subnormal", code
        else:
            assert kind == "normal", code


@deterministic(300)
@given(st.data())
def test_filters_leave_out_what_they_name(data):
    fmt = data.draw(st.sampled_from(["fp16", "fp8_e5m2", "fp8_e4m3fnuz", "bf16"]))
    x = data.draw(values(fmt, allow_nan=False, allow_infinity=False, allow_subnormal=False))
    assert math.isfinite(x)
    assert x == 0 or abs(x) >= mp.get_format(fmt).smallest_normal
    array = data.draw(arrays_of(fmt, (2, 3), allow_nan=False))
    assert array.shape == (2, 3) and not np.isnan(array).any()


@deterministic(30)
@given(arrays_of("bf16", array_shapes(max_dims=3, max_side=4)))
def test_arrays_take_a_shape_strategy(x):
    assert 1 <= x.ndim <= 3 and x.dtype == np.float32
    assert_representable(x, "bf16")


@deterministic(60)
@given(formats(max_bits=9), st.sampled_from(["nearest_even", "nearest_away", "down", "odd"]))
def test_drawn_formats_are_valid_and_round_like_the_oracle(fmt, mode):
    assert isinstance(fmt, FloatFormat) and fmt.bits <= 9
    assert_representable([fmt.max, -fmt.max, fmt.smallest_subnormal], fmt)
    fits_float32 = fmt.max < 2.0**127 and fmt.smallest_subnormal >= 2.0**-148
    for dtype in (np.float64, np.float32) if fits_float32 else (np.float64,):
        cases = rounding_cases(fmt, mode, "inf", dtype=dtype, exhaustive=False, per_binade=4)
        x = cases.inputs
        assert_bits_equal(mp.quantize(x, fmt, rounding=mode, overflow="inf"), cases)
    sample = x[:: max(1, len(x) // 40)]  # the oracle is slow
    oracle = [exact_round(v, fmt, mode, "inf") for v in sample.tolist()]
    assert_bits_equal(mp.quantize(sample, fmt, rounding=mode, overflow="inf"), oracle, fmt)


@pytest.mark.parametrize(
    "fmt",
    [
        mp.get_format("fixed<8,-2>"),
        FloatFormat(name="e2m1b0_nosub", exponent_bits=2, mantissa_bits=1, bias=0,
                    has_subnormals=False),
    ],
    ids=lambda f: f.name,
)  # fmt: skip
def test_tiny_inputs_where_the_smallest_gap_exceeds_one(fmt):
    # formats found this way (fixed in 82bb775): the scaled input underflowed to an exact 0
    got = mp.quantize(np.array([5e-324, -5e-324]), fmt, rounding="up")
    assert_bits_equal(got, [exact_round(5e-324, fmt, "up"), exact_round(-5e-324, fmt, "up")], fmt)


def test_formats_cover_the_schemes_and_widths():
    seen = set()

    @deterministic(200)
    @given(formats(max_bits=6))
    def draw(fmt):
        seen.add((fmt.special, fmt.has_subnormals, fmt.exponent_bits))
        assert fmt.bits <= 6

    draw()
    assert {s for s, _, _ in seen} == set(Special)
    assert {sub for _, sub, _ in seen} == {True, False}
    assert {e for _, _, e in seen} == {1, 2, 3, 4, 5}


def test_formats_with_narrow_widths_and_options():
    @deterministic(20)
    @given(formats(max_bits=4, specials=("ieee",), subnormals=False))
    def narrowest(fmt):
        assert (fmt.exponent_bits, fmt.mantissa_bits, fmt.has_subnormals) == (2, 1, False)

    narrowest()
    with pytest.raises(ValueError, match=r"no float format with specials \('ieee',\)"):
        formats(max_bits=3, specials=("ieee",))
    with pytest.raises(ValueError, match="unknown special-value scheme 'nan'"):
        formats(specials=("nan",))


def test_the_package_imports_without_hypothesis():
    script = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import mixprec.testing as t\n"
        "assert len(t.edge_values('fp16')) > 0\n"
        "try:\n    t.values('fp16')\nexcept ImportError as e:\n    print(e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert "need hypothesis: pip install 'mixprec[testing]'" in result.stdout


# -- tests/strategies.py: the shared strategies of mixprec's own tests -----------------------
@deterministic(40)
@given(strategies.format_and_array(max_bits=8, shape=6, allow_nan=False))
def test_shared_format_and_array(pair):
    fmt, x = pair
    assert_bits_equal(mp.quantize(x, fmt), x, fmt)


@deterministic(40)
@given(st.data())
def test_shared_strategies(data):
    fmt = data.draw(strategies.registered_formats(max_bits=8))
    mode = data.draw(strategies.roundings())
    policy = data.draw(strategies.overflows(fmt))
    assert mode != "stochastic" and fmt.bits <= 8
    x = data.draw(strategies.boundary_inputs(fmt))
    wide = data.draw(strategies.float64_inputs(allow_nan=False))
    narrow = data.draw(strategies.float32_inputs(allow_nan=False))
    assert np.float32(narrow) == narrow
    for value in (x, wide):
        if fmt.is_integer and (policy != "saturate" and not math.isfinite(value)):
            continue
        if fmt.is_integer and abs(value) > 2.0**53:
            continue
        if fmt.is_integer and math.isnan(value):
            continue
        got = mp.quantize(value, fmt, rounding=mode, overflow=policy)
        assert_bits_equal(got, exact_round(value, fmt, mode, policy), fmt)
