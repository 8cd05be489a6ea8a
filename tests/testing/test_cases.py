"""rounding_cases: every pair agrees with mixprec.quantize, the Fraction oracle and ml_dtypes."""

from __future__ import annotations

import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

import mixprec as mp
from mixprec.formats.registry import storage_dtype
from mixprec.formats.spec import FloatFormat
from mixprec.testing import assert_bits_equal, rounding_cases
from tests.reference import ROUNDINGS, exact_round, finite_values

NO_SUBNORMALS = FloatFormat(
    name="e3m2_nosub", exponent_bits=3, mantissa_bits=2, has_subnormals=False
)
FLOATS = [f for f in mp.list_formats() if isinstance(f, FloatFormat) and f.bits <= 16]
PARSED = [mp.get_format(s) for s in ("e2m2", "e3m1fn", "e4m3b11fnuz", "e5m1fnuz", "e3m6")]
INTS = [mp.get_format(s) for s in ("int8", "int4", "uint4", "fixed<8,3>", "int12", "uint16")]
FORMATS = FLOATS + PARSED + [NO_SUBNORMALS] + INTS
SMALL = [f for f in FORMATS if f.bits <= 8]
DTYPES = [np.float32, np.float64]


def _policies(fmt):
    return ("saturate", "inf") if isinstance(fmt, FloatFormat) else ("saturate", "wrap")


def _combinations(formats, modes=ROUNDINGS, dtypes=DTYPES):
    return [
        pytest.param(fmt, mode, policy, dtype, id=f"{fmt.name}-{mode}-{policy}-{dtype.__name__}")
        for fmt in formats
        for mode in modes
        for policy in _policies(fmt)
        for dtype in dtypes
    ]


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@pytest.mark.parametrize(("fmt", "mode", "policy", "dtype"), _combinations(FORMATS))
def test_cases_agree_with_quantize(fmt, mode, policy, dtype):
    cases = rounding_cases(fmt, mode, policy, dtype=dtype)
    assert cases.inputs.dtype == dtype and len(cases) > 0
    assert_bits_equal(mp.quantize(cases.inputs, fmt, rounding=mode, overflow=policy), cases)


# Every mode and policy on float64 inputs, and nearest_even on float32 inputs (the same pairs,
# other neighbours of each midpoint). The policies differ only beyond max: the second policy is
# checked there alone, to keep the slow oracle within a few seconds.
@pytest.mark.parametrize(
    ("fmt", "mode", "dtype"),
    [
        pytest.param(fmt, mode, dtype, id=f"{fmt.name}-{mode}-{dtype.__name__}")
        for fmt in FORMATS
        for mode, dtype in [(m, np.float64) for m in ROUNDINGS] + [("nearest_even", np.float32)]
    ],
)
def test_cases_agree_with_the_fraction_oracle(fmt, mode, dtype):
    first, second = _policies(fmt)
    for policy, everywhere in ((first, False), (second, True)):
        cases = rounding_cases(fmt, mode, policy, dtype=dtype, per_binade=16)
        wrong = [
            (x, y, label, oracle)
            for (x, y), label in zip(cases, cases.labels, strict=True)
            if (everywhere or label.startswith(("overflow", "inf", "-inf")))
            and not _same(y, oracle := exact_round(x, fmt, mode, policy))
        ]
        assert not wrong, f"{policy}: {len(wrong)} of {len(cases)} disagree, e.g. {wrong[:3]}"


E8M0_NOTE = (
    "ml_dtypes rounds float32 subnormal inputs to float8_e8m0fnu in the bit domain: "
    "2**-127 * (1 + 2**-22) becomes 2**-126"
)


@pytest.mark.parametrize(
    "fmt", [f for f in FLOATS if storage_dtype(f) is not None], ids=lambda f: f.name
)
def test_nearest_even_cases_agree_with_ml_dtypes(fmt):
    # ml_dtypes converts float32 with round-to-nearest-even and no saturation: overflow="inf".
    # (Its float64 conversions round twice, through float32, so only float32 inputs compare.)
    cases = rounding_cases(fmt, "nearest_even", "inf", dtype=np.float32)
    x, expected = cases.inputs, cases.expected
    if fmt.name == "e8m0":  # see E8M0_NOTE: compare the inputs that are normal float32 only
        keep = np.abs(x) >= np.finfo(np.float32).smallest_normal
        x, expected = x[keep], expected[keep]
    with np.errstate(over="ignore", invalid="ignore"):
        theirs = x.astype(storage_dtype(fmt)).astype(np.float64)
    assert_bits_equal(theirs, expected, fmt)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("fmt", [f for f in SMALL if isinstance(f, FloatFormat)], ids=str)
def test_every_midpoint_and_threshold_is_there(fmt, dtype):
    cases = rounding_cases(fmt, "nearest_even", dtype=dtype)
    inputs = {Fraction(float(x)) for x in cases.inputs if np.isfinite(x)}
    values = finite_values(fmt)
    midpoints = {(a + b) / 2 for a, b in zip(values[:-1], values[1:], strict=True)}
    assert midpoints <= inputs, sorted(midpoints - inputs)[:5]
    assert set(values) <= inputs
    top_binade = math.frexp(fmt.max)[1] - 1
    threshold = fmt.max + 2.0 ** (top_binade - fmt.mantissa_bits) / 2
    labelled = dict(zip(cases.labels, cases.inputs.tolist(), strict=True))
    by_label = {}
    for label, x in zip(cases.labels, cases.inputs.tolist(), strict=True):
        by_label.setdefault(label, []).append(x)
    assert threshold in by_label["overflow: midpoint"]
    assert np.nextafter(dtype(threshold), dtype(np.inf)) in by_label["overflow: above midpoint"]
    if fmt.has_zero:
        assert fmt.smallest_subnormal / 2 in by_label["underflow: midpoint"]
    assert labelled["inf"] == np.inf
    assert ("nan" in labelled) == fmt.has_nan


@pytest.mark.parametrize(
    ("fmt", "mode", "policy", "x", "expected"),
    [
        ("fp8_e4m3", "nearest_even", "inf", 464.0, 448.0),
        ("fp8_e4m3", "nearest_even", "inf", np.nextafter(464.0, 500.0), math.nan),
        ("fp8_e4m3", "nearest_away", "inf", 464.0, math.nan),
        ("fp8_e4m3", "toward_zero", "inf", np.finfo(np.float64).max, 448.0),
        ("fp16", "nearest_even", "inf", 65520.0, math.inf),
        ("fp16", "nearest_even", "saturate", 65520.0, 65504.0),
        ("fp16", "down", "inf", -65520.0, -math.inf),
        ("fp16", "up", "inf", -65520.0, -65504.0),
        ("bf16", "nearest_even", "saturate", 2.0**-134, 0.0),
        ("bf16", "nearest_even", "saturate", -(2.0**-134), -0.0),
        ("bf16", "odd", "saturate", 2.0**-134, 2.0**-133),
        ("bf16", "odd", "saturate", 5e-324, 2.0**-133),
        ("int8", "nearest_even", "wrap", 128.5, -128.0),
    ],
)
def test_hand_checked_cases_are_there(fmt, mode, policy, x, expected):
    cases = rounding_cases(fmt, mode, policy)
    found = [y for c, y in cases if c == x]
    assert found and _same(found[0], expected)


def test_wide_formats_are_sampled():
    fp32 = rounding_cases("fp32", "nearest_even")  # float64 inputs only
    assert_bits_equal(mp.quantize(fp32.inputs, "fp32"), fp32)
    assert len(fp32) < 30_000
    assert 2.0**-150 in fp32.inputs and 1 + 2.0**-24 in fp32.inputs  # underflow, a tie at 1
    fp16 = rounding_cases("fp16", per_binade=64)
    everything = rounding_cases("fp16", exhaustive=True)
    assert len(fp16) < len(everything) / 10
    assert_bits_equal(mp.quantize(everything.inputs, "fp16"), everything)


def test_integer_error_policy_keeps_the_cases_in_range():
    cases = rounding_cases("int8", "nearest_even", "error")
    assert np.all(cases.expected <= 127) and np.all(cases.expected >= -128)
    assert 127.49 < cases.inputs.max() < 127.5 and cases.inputs.min() == -128.5
    assert_bits_equal(mp.quantize(cases.inputs, "int8", overflow="error"), cases)


def test_iteration_len_and_repr():
    cases = rounding_cases("fp4_e2m1", "up", "saturate", dtype=np.float32)
    pairs = list(cases)
    assert len(pairs) == len(cases) == len(cases.labels) == cases.expected.size
    assert all(isinstance(x, float) and isinstance(y, float) for x, y in pairs)
    assert repr(cases) == (
        f"RoundingCases(fp4_e2m1, rounding='up', overflow='saturate': {len(cases)} float32 inputs)"
    )
    assert np.all(np.diff(cases.inputs[np.isfinite(cases.inputs)]) >= 0)  # sorted


def test_errors_say_what_to_do():
    with pytest.raises(ValueError, match="stochastic rounding has no single expected result"):
        rounding_cases("fp16", "stochastic")
    with pytest.raises(ValueError, match=r"float32 cannot hold .* \(use dtype=np.float64\)"):
        rounding_cases("fp32", dtype=np.float32)
    with pytest.raises(ValueError, match="float64 cannot hold every midpoint of fp64"):
        rounding_cases("fp64")
    with pytest.raises(ValueError, match="float32 cannot hold the rounding cases of int32"):
        rounding_cases("int32", dtype=np.float32)
    with pytest.raises(ValueError, match="overflow is 'saturate' or 'inf'"):
        rounding_cases("fp16", overflow="wrap")
    with pytest.raises(ValueError, match="use 'saturate', 'wrap' or 'error'"):
        rounding_cases("int8", overflow="inf")
    with pytest.raises(ValueError, match="dtype must be np.float32 or np.float64"):
        rounding_cases("fp8_e4m3", dtype=np.float16)
    with pytest.raises(ValueError, match="unknown rounding mode 'nearest'"):
        rounding_cases("fp8_e4m3", "nearest")


def test_ml_dtypes_is_the_one_we_think():
    assert storage_dtype(mp.get_format("e8m0")) == np.dtype(ml_dtypes.float8_e8m0fnu)


def test_int64_saturates_to_a_value_of_int64():
    got = mp.quantize(np.array([2.0**63, 1e30, np.inf]), "int64")
    assert got.tolist() == [2.0**63 - 1024] * 3  # the largest float64 that is an int64
    assert mp.encode(got, "int64").tolist() == [2**63 - 1024] * 3
    with pytest.raises(OverflowError, match="out of the range"):
        mp.quantize(np.array([2.0**63]), "int64", overflow="error")
    assert mp.quantize(np.array([2.0**63]), "int64", overflow="wrap").tolist() == [-(2.0**63)]
