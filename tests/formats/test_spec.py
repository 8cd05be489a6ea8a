"""Format parameters, derived properties (spot checks from the specs), registry and parsing."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import mixprec as mp
from mixprec.formats import FloatFormat, IntFormat, storage_dtype

# (name, max, smallest_normal, smallest_subnormal): OCP OFP8 §5 table 1, OCP MX v1.0 §5.3
# tables 2-4, IEEE 754-2019 table 3.5, written as exact hex floats.
SPEC_TABLE = [
    ("fp8_e4m3", 448.0, float.fromhex("0x1p-6"), float.fromhex("0x1p-9")),
    ("fp8_e5m2", 57344.0, float.fromhex("0x1p-14"), float.fromhex("0x1p-16")),
    ("fp8_e4m3fnuz", 240.0, float.fromhex("0x1p-7"), float.fromhex("0x1p-10")),
    ("fp8_e5m2fnuz", 57344.0, float.fromhex("0x1p-15"), float.fromhex("0x1p-17")),
    ("fp6_e2m3", 7.5, 1.0, 0.125),
    ("fp6_e3m2", 28.0, 0.25, 0.0625),
    ("fp4_e2m1", 6.0, 1.0, 0.5),
    ("e8m0", float.fromhex("0x1p127"), float.fromhex("0x1p-127"), float.fromhex("0x1p-127")),
    ("fp16", 65504.0, float.fromhex("0x1p-14"), float.fromhex("0x1p-24")),
    ("bf16", float.fromhex("0x1.fep127"), float.fromhex("0x1p-126"), float.fromhex("0x1p-133")),
    ("tf32", float.fromhex("0x1.ffcp127"), float.fromhex("0x1p-126"), float.fromhex("0x1p-136")),
    ("fp32", float.fromhex("0x1.fffffep127"), float.fromhex("0x1p-126"), float.fromhex("0x1p-149")),
]


@pytest.mark.parametrize(("name", "max_", "normal", "subnormal"), SPEC_TABLE, ids=lambda v: str(v))
def test_spec_table(name: str, max_: float, normal: float, subnormal: float) -> None:
    fmt = mp.get_format(name)
    assert (fmt.max, fmt.smallest_normal, fmt.smallest_subnormal) == (max_, normal, subnormal)


FINFO_FORMATS = [f.name for f in mp.list_formats() if not f.is_integer and storage_dtype(f)]


@pytest.mark.parametrize("name", FINFO_FORMATS)
def test_properties_equal_finfo(name: str) -> None:
    fmt = mp.get_format(name)
    info = ml_dtypes.finfo(storage_dtype(fmt))
    assert fmt.max == float(info.max)
    assert fmt.smallest_normal == float(info.smallest_normal)
    assert fmt.smallest_subnormal == float(info.smallest_subnormal)
    assert fmt.eps == float(info.eps)
    assert fmt.bits == info.bits
    assert fmt.mantissa_bits == info.nmant
    assert fmt.emax + 1 == info.maxexp and fmt.emin == info.minexp


@pytest.mark.parametrize(
    ("name", "has_inf", "has_nan", "has_negative_zero"),
    [
        ("fp16", True, True, True),
        ("fp8_e4m3", False, True, True),
        ("fp8_e5m2", True, True, True),
        ("fp8_e4m3fnuz", False, True, False),
        ("fp4_e2m1", False, False, True),
        ("e8m0", False, True, False),
        ("int8", False, False, False),
    ],
)
def test_special_value_flags(
    name: str, has_inf: bool, has_nan: bool, has_negative_zero: bool
) -> None:
    fmt = mp.get_format(name)
    assert (fmt.has_inf, fmt.has_nan, fmt.has_negative_zero) == (
        has_inf,
        has_nan,
        has_negative_zero,
    )


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("float16", "fp16"), ("half", "fp16"), ("bfloat16", "bf16"), ("e4m3", "fp8_e4m3"),
        ("e5m2", "fp8_e5m2"), ("float8_e4m3fn", "fp8_e4m3"), ("float8_e5m2fnuz", "fp8_e5m2fnuz"),
        ("float4_e2m1fn", "fp4_e2m1"), ("FP16", "fp16"), ("fp8-e4m3", "fp8_e4m3"),
    ],
)  # fmt: skip
def test_aliases(alias: str, name: str) -> None:
    assert mp.get_format(alias) is mp.get_format(name)


def test_parsed_specs() -> None:
    e3m4 = mp.get_format("e3m4")
    assert e3m4.max == 15.5 and e3m4.has_inf
    e5m10 = mp.get_format("e5m10")
    assert (e5m10.max, e5m10.smallest_subnormal) == (65504.0, 2.0**-24)
    assert storage_dtype(e5m10) == np.float16
    b11 = mp.get_format("e4m3b11fnuz")
    assert b11.max == float(ml_dtypes.finfo(ml_dtypes.float8_e4m3b11fnuz).max)
    assert mp.get_format("int12").max == 2047 and mp.get_format("int12").min == -2048
    assert mp.get_format("uint3").max == 7 and mp.get_format("uint3").min == 0
    fixed = mp.get_format("fixed<16,8>")
    assert (fixed.max, fixed.min, fixed.eps) == (32767 / 256, -128.0, 1 / 256)
    assert mp.get_format("ufixed<8,8>").max == 255 / 256


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("fp9", "Did you mean"),
        ("bfloat17", "Known formats"),
        ("fp16_e4m3", "has 8 bits, not 16"),
        ("int65", "bits must be in"),
        ("int1", "bits must be in"),
        ("e0m3", "exponent_bits must be in"),
        ("e5m0", "0 mantissa bits has no NaN"),
    ],
)
def test_bad_names_say_what_is_allowed(bad: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mp.get_format(bad)


def test_bad_types() -> None:
    with pytest.raises(TypeError, match="a format is a name"):
        mp.get_format(16)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be an int"):
        FloatFormat(name="x", exponent_bits=4.0, mantissa_bits=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="special-value scheme"):
        FloatFormat(name="x", exponent_bits=4, mantissa_bits=3, special="nan")
    with pytest.raises(ValueError, match="fnuz"):
        FloatFormat(name="x", exponent_bits=4, mantissa_bits=3, special="fnuz", is_signed=False)


def test_custom_format_is_independent_parameters() -> None:
    fmt = FloatFormat(name="e4m3_b7_noinf", exponent_bits=4, mantissa_bits=3, special="finite")
    assert fmt.max == 480.0 and not fmt.has_nan
    flushed = FloatFormat(name="e4m3_ftz", exponent_bits=4, mantissa_bits=3, has_subnormals=False)
    assert flushed.smallest_subnormal == flushed.smallest_normal == 2.0**-6
    assert IntFormat(name="u", bits=8, is_signed=False).max_code == 255


def test_registry_lists_every_required_format() -> None:
    names = {f.name for f in mp.list_formats()}
    required = {
        "fp64", "fp32", "tf32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "fp8_e4m3fnuz",
        "fp8_e5m2fnuz", "fp6_e2m3", "fp6_e3m2", "fp4_e2m1", "e8m0", "int32", "int16", "int8",
        "uint8", "int4", "uint4",
    }  # fmt: skip
    assert required <= names


def test_format_table_has_a_row_per_format() -> None:
    table = mp.formats.format_table()
    assert len(table.splitlines()) == 2 + len(mp.list_formats())
    assert "| fp8_e4m3 | 8 | 4 | 3 | 7 | 448 |" in table


@pytest.mark.parametrize("flag", ["has_subnormals", "is_signed", "has_zero"])
@pytest.mark.parametrize("bad", ["no", 1, 0, None, 1.0])
def test_float_format_flags_must_be_bools(flag: str, bad: object) -> None:
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        FloatFormat(name="x", exponent_bits=4, mantissa_bits=3, **{flag: bad})  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["no", 1, None])
def test_int_format_is_signed_must_be_a_bool(bad: object) -> None:
    with pytest.raises(TypeError, match="is_signed must be True or False"):
        IntFormat(name="i", bits=8, is_signed=bad)  # type: ignore[arg-type]


def test_numpy_bool_flags_become_python_bools() -> None:
    fmt = FloatFormat(name="x", exponent_bits=4, mantissa_bits=3, has_subnormals=np.False_)
    assert fmt.has_subnormals is False
    assert fmt.smallest_subnormal == fmt.smallest_normal
