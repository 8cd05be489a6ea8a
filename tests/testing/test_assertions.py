"""The assertions pass on right answers and fail, with useful messages, on wrong converters."""

from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest

import mixprec as mp
from mixprec.formats.spec import FloatFormat
from mixprec.testing import (
    assert_bits_equal,
    assert_representable,
    assert_within_ulp,
    rounding_cases,
)
from mixprec.testing.grid import is_representable, ulp_distance, ulp_index
from tests.reference import exact_round, finite_values

E4M3 = "fp8_e4m3"
NO_SUBNORMALS = FloatFormat(
    name="e4m3_nosub", exponent_bits=4, mantissa_bits=3, has_subnormals=False
)


def truncating_converter(x):
    """A deliberately wrong fp32 -> E4M3 converter: it rounds toward zero, not to nearest."""
    return mp.quantize(np.asarray(x, dtype=np.float32), E4M3, rounding="toward_zero")


# -- assert_bits_equal ---------------------------------------------------------------------------
def test_bits_equal_reports_a_wrong_converter():
    cases = rounding_cases(E4M3, dtype=np.float32)
    actual = truncating_converter(cases.inputs).astype(np.float64)
    differ = ~((actual == cases.expected) & (np.signbit(actual) == np.signbit(cases.expected)))
    differ &= ~(np.isnan(actual) & np.isnan(cases.expected))
    first = np.flatnonzero(differ)
    with pytest.raises(AssertionError) as failure:
        assert_bits_equal(actual, cases)
    lines = str(failure.value).splitlines()
    assert lines[0] == f"fp8_e4m3 codes differ in {differ.sum()} of {len(cases)} elements:"
    assert len(lines) == 7 and lines[-1] == f"  ... and {differ.sum() - 5} more"
    line = re.compile(
        r"  \[(\d+)\] input (\S+) \((.+)\): 0x([0-9a-f]{2}) \((\S+)\) "
        r"vs expected 0x([0-9a-f]{2}) \((\S+)\)"
    )
    for text, index in zip(lines[1:6], first[:5], strict=True):
        match = line.fullmatch(text)
        assert match, text
        assert int(match[1]) == index
        assert float(match[2]) == float(cases.inputs[index]) and match[3] == cases.labels[index]
        codes = mp.encode(np.array([actual[index], cases.expected[index]]), E4M3)
        assert (int(match[4], 16), int(match[6], 16)) == tuple(codes.tolist())
        assert float(match[5]) == actual[index] and float(match[7]) == cases.expected[index]


def test_bits_equal_without_cases_shows_index_and_codes():
    with pytest.raises(AssertionError) as failure:
        assert_bits_equal([[1.0, 2.0], [0.3, 4.0]], [[1.0, 2.0], [0.3125, 3.5]], E4M3)
    assert str(failure.value) == (
        "fp8_e4m3 codes differ in 2 of 4 elements:\n"
        "  [1, 0]: 0.3 (not a value of fp8_e4m3) vs expected 0x2a (0.3125)\n"
        "  [1, 1]: 0x48 (4.0) vs expected 0x46 (3.5)"
    )


def test_bits_equal_is_nan_aware_and_checks_the_sign_of_zero():
    assert_bits_equal([np.nan, -np.nan], [-np.nan, np.nan], "fp16")  # any NaN is NaN
    assert_bits_equal([-0.0, 0.0], [0.0, -0.0], "fp8_e4m3fnuz")  # one zero code there
    assert_bits_equal([-0.0], [0.0], "int8")
    with pytest.raises(AssertionError, match=r"\[0\]: 0x8000 \(-0.0\) vs expected 0x0000 \(0.0\)"):
        assert_bits_equal(-0.0, [0.0], "fp16")
    with pytest.raises(AssertionError, match=r"0x7e00 \(nan\) vs expected 0x3c00 \(1.0\)"):
        assert_bits_equal([np.nan], [1.0], "fp16")
    with pytest.raises(AssertionError, match=r"nan \(not a value of fp4_e2m1\) vs expected"):
        assert_bits_equal([np.nan], [np.nan], "fp4_e2m1")  # fp4 has no NaN: never equal
    with pytest.raises(AssertionError, match=r"inf \(not a value of fp8_e4m3\)"):
        assert_bits_equal([np.inf], [448.0], E4M3)


def test_bits_equal_takes_other_dtypes_and_broadcasts():
    x = np.array([1.0, 1.5, -448.0])
    assert_bits_equal(x.astype(ml_dtypes.float8_e4m3fn), x, E4M3)
    assert_bits_equal(np.array([3, -128], dtype=np.int8), [3.0, -128.0], "int8")
    assert_bits_equal(np.zeros((2, 3), np.float32), 0.0, "bf16")
    with pytest.raises(AssertionError, match=r"\[\(\)\]: 0x3c00 \(1.0\) vs expected 0x4000"):
        assert_bits_equal(1.0, 2.0, "fp16")
    with pytest.raises(AssertionError, match=r"shapes differ: actual \(2,\), expected \(3,\)"):
        assert_bits_equal([1.0, 2.0], [1.0, 2.0, 3.0], "fp16")
    with pytest.raises(TypeError, match="needs fmt unless expected is a RoundingCases"):
        assert_bits_equal([1.0], [1.0])
    with pytest.raises(TypeError, match="actual must hold real numbers, got dtype <U1"):
        assert_bits_equal(["a"], [1.0], "fp16")


# -- assert_within_ulp ---------------------------------------------------------------------------
def test_within_ulp_measures_a_wrong_converter():
    cases = rounding_cases(E4M3, dtype=np.float32)
    actual = truncating_converter(cases.inputs)
    assert_within_ulp(actual, cases.expected, E4M3, ulps=1)
    with pytest.raises(AssertionError) as failure:
        assert_within_ulp(actual, cases.expected, E4M3, ulps=0.5)
    message = str(failure.value)
    wrong = np.flatnonzero((actual != cases.expected) & ~np.isnan(cases.expected))
    first = wrong[0]
    assert message == (
        f"{wrong.size} of {len(cases)} elements are more than 0.5 ulps of fp8_e4m3 apart;\n"
        f"  the worst, 1 ulp, at [{first}]: {float(actual[first])!r} vs expected "
        f"{float(cases.expected[first])!r}"
    )


def test_within_ulp_reports_nan_mismatch_and_infinities():
    assert_within_ulp([np.inf, np.nan, -np.inf], [np.inf, np.nan, -np.inf], "fp16", ulps=0)
    assert_within_ulp(np.inf, 65504.0, "fp16", ulps=1)  # inf is one beyond max
    with pytest.raises(AssertionError, match=r"the worst, NaN against a number, at \[1\]"):
        assert_within_ulp([1.0, np.nan], [1.0, 1.0], "fp16")
    with pytest.raises(AssertionError, match="1 of 1 elements are more than 3 ulps of fp16"):
        assert_within_ulp(-np.inf, np.inf, "fp16", ulps=3)


@pytest.mark.parametrize(
    ("fmt", "a", "b", "distance"),
    [
        (E4M3, 2.0**-6, 2.0**-6 - 2.0**-9, 1),  # smallest normal, largest subnormal
        (E4M3, 0.0, 2.0**-9, 1),
        (E4M3, -(2.0**-9), 2.0**-9, 2),
        (E4M3, -0.0, 0.0, 0),
        (E4M3, 1.0, 1.0625, 0.5),  # a number between two values: a fraction
        (E4M3, -1.0, -1.0625, 0.5),
        (E4M3, 1.0, 2.0, 8),
        (E4M3, -448.0, 448.0, 252),
        (NO_SUBNORMALS, 0.0, 2.0**-6, 1),  # flushed: 0 and smallest normal are neighbours
        (NO_SUBNORMALS, 0.0, 2.0**-7, 0.5),
        ("e8m0", 2.0**-127, 2.0**-126, 1),
        ("e8m0", 2.0**-127, 2.0**127, 254),
        ("fp16", 65504.0, np.inf, 1),
        ("fp64", np.finfo(np.float64).max, np.nextafter(np.finfo(np.float64).max, 0), 1),
        ("fp64", 5e-324, 0.0, 1),
        ("fp64", -np.finfo(np.float64).max, np.finfo(np.float64).max, 2.0 * (2047 * 2**52 - 1)),
        ("int8", -128.0, 127.0, 255),
        ("fixed<8,4>", 0.0, 0.25, 4),
    ],
)
def test_ulp_distance(fmt, a, b, distance):
    fmt = mp.get_format(fmt) if isinstance(fmt, str) else fmt
    assert ulp_distance(a, b, fmt) == distance
    assert ulp_distance(b, a, fmt) == distance


@pytest.mark.parametrize(
    "fmt",
    [f for f in mp.list_formats() if f.bits <= 8] + [NO_SUBNORMALS],
    ids=lambda f: f.name,
)
def test_ulp_index_counts_the_values_in_order(fmt):
    values = np.array([float(v) for v in finite_values(fmt)])
    index, fraction = ulp_index(values, fmt)
    assert np.all(fraction == 0)
    np.testing.assert_array_equal(np.diff(index), 1)


# -- assert_representable ------------------------------------------------------------------------
def test_representable_lists_offenders_and_their_neighbours():
    with pytest.raises(AssertionError) as failure:
        assert_representable([[1.0, 0.001], [np.nan, 1.0]], NO_SUBNORMALS)
    assert str(failure.value) == (
        "1 of 4 elements are not values of e4m3_nosub:\n  [0, 1]: 0.001 (between 0.0 and 0.015625)"
    )
    many = np.linspace(1.01, 1.09, 7)
    with pytest.raises(AssertionError, match=r"7 of 7 elements(.|\n)*  \.\.\. and 2 more$"):
        assert_representable(many, E4M3)
    for x, fmt, why in [
        (np.nan, "fp4_e2m1", r"nan \(fp4_e2m1 has no NaN\)"),
        (np.inf, E4M3, r"inf \(fp8_e4m3 has no inf\)"),
        (-1.0, "e8m0", r"-1.0 \(beyond min 5.877\d*e-39\)"),
        (128.0, "int8", r"128.0 \(beyond max 127.0\)"),
        (0.5, "int8", r"0.5 \(between 0.0 and 1.0\)"),
    ]:
        with pytest.raises(AssertionError, match=rf"\[\(\)\]: {why}"):
            assert_representable(x, fmt)


@pytest.mark.parametrize(
    "fmt", ["fp8_e4m3", "fp8_e5m2fnuz", "fp4_e2m1", "e8m0", "bf16", "int4", "fixed<8,3>"]
)
def test_is_representable_agrees_with_the_oracle(fmt):
    policy = "inf" if not fmt.startswith(("int", "fixed")) else "saturate"
    x = rounding_cases(fmt, overflow=policy, per_binade=16).inputs
    if fmt.startswith(("int", "fixed")):
        x = x[np.isfinite(x)]
    exact = [exact_round(v, fmt, "toward_zero", policy) for v in x.tolist()]
    expected = [(v == e) or (np.isnan(v) and np.isnan(e)) for v, e in zip(x, exact, strict=True)]
    np.testing.assert_array_equal(is_representable(x, mp.get_format(fmt)), expected)
