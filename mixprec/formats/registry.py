"""The well-known formats under their community names, and the name -> format registry.

``get_format`` also parses specifications: ``e3m4`` (IEEE-style), ``e4m3fn``, ``e4m3fnuz``,
``e4m3b11fnuz`` (bias 11), ``fp8_e4m3``-style prefixes, ``int12``, ``uint3``, ``fixed<16,8>``
and ``ufixed<8,8>``.
"""

from __future__ import annotations

import difflib
import re

import ml_dtypes
import numpy as np

from mixprec.formats.spec import FloatFormat, Format, IntFormat, Special

# IEEE 754-2019 binary formats and their truncations.
FP64 = FloatFormat(name="fp64", exponent_bits=11, mantissa_bits=52)
FP32 = FloatFormat(name="fp32", exponent_bits=8, mantissa_bits=23)
TF32 = FloatFormat(name="tf32", exponent_bits=8, mantissa_bits=10)
FP16 = FloatFormat(name="fp16", exponent_bits=5, mantissa_bits=10)
BF16 = FloatFormat(name="bf16", exponent_bits=8, mantissa_bits=7)
# OCP 8-bit Floating Point Specification (OFP8) rev 1.0, section 5.
FP8_E4M3 = FloatFormat(name="fp8_e4m3", exponent_bits=4, mantissa_bits=3, special=Special.FN)
FP8_E5M2 = FloatFormat(name="fp8_e5m2", exponent_bits=5, mantissa_bits=2)
# Graphcore / AMD "fnuz" variants (ml_dtypes float8_e4m3fnuz, float8_e5m2fnuz): bias one larger.
FP8_E4M3FNUZ = FloatFormat(
    name="fp8_e4m3fnuz", exponent_bits=4, mantissa_bits=3, bias=8, special=Special.FNUZ
)
FP8_E5M2FNUZ = FloatFormat(
    name="fp8_e5m2fnuz", exponent_bits=5, mantissa_bits=2, bias=16, special=Special.FNUZ
)
# OCP Microscaling Formats (MX) v1.0, section 5.3: element formats and the E8M0 scale.
FP6_E2M3 = FloatFormat(name="fp6_e2m3", exponent_bits=2, mantissa_bits=3, special=Special.FINITE)
FP6_E3M2 = FloatFormat(name="fp6_e3m2", exponent_bits=3, mantissa_bits=2, special=Special.FINITE)
FP4_E2M1 = FloatFormat(name="fp4_e2m1", exponent_bits=2, mantissa_bits=1, special=Special.FINITE)
E8M0 = FloatFormat(
    name="e8m0", exponent_bits=8, mantissa_bits=0, special=Special.FN, is_signed=False,
    has_zero=False,
)  # fmt: skip
# IEEE-style 8-bit formats that ml_dtypes also has.
FP8_E4M3_IEEE = FloatFormat(name="fp8_e4m3_ieee", exponent_bits=4, mantissa_bits=3)
FP8_E3M4 = FloatFormat(name="fp8_e3m4", exponent_bits=3, mantissa_bits=4)

INT64 = IntFormat(name="int64", bits=64)
INT32 = IntFormat(name="int32", bits=32)
INT16 = IntFormat(name="int16", bits=16)
INT8 = IntFormat(name="int8", bits=8)
INT4 = IntFormat(name="int4", bits=4)
UINT32 = IntFormat(name="uint32", bits=32, is_signed=False)
UINT16 = IntFormat(name="uint16", bits=16, is_signed=False)
UINT8 = IntFormat(name="uint8", bits=8, is_signed=False)
UINT4 = IntFormat(name="uint4", bits=4, is_signed=False)

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        FP64, FP32, TF32, FP16, BF16, FP8_E4M3, FP8_E5M2, FP8_E4M3FNUZ, FP8_E5M2FNUZ,
        FP8_E4M3_IEEE, FP8_E3M4, FP6_E2M3, FP6_E3M2, FP4_E2M1, E8M0,
        INT64, INT32, INT16, INT8, INT4, UINT32, UINT16, UINT8, UINT4,
    )
}  # fmt: skip

ALIASES: dict[str, str] = {
    "float64": "fp64", "double": "fp64", "float32": "fp32", "single": "fp32",
    "float16": "fp16", "half": "fp16", "bfloat16": "bf16",
    "e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2", "fp8": "fp8_e4m3",
    "float8_e4m3fn": "fp8_e4m3", "e4m3fn": "fp8_e4m3", "fp8_e4m3fn": "fp8_e4m3",
    "float8_e5m2": "fp8_e5m2",
    "float8_e4m3fnuz": "fp8_e4m3fnuz", "e4m3fnuz": "fp8_e4m3fnuz",
    "float8_e5m2fnuz": "fp8_e5m2fnuz", "e5m2fnuz": "fp8_e5m2fnuz",
    "float8_e4m3": "fp8_e4m3_ieee", "float8_e3m4": "fp8_e3m4", "e3m4": "fp8_e3m4",
    "float6_e2m3fn": "fp6_e2m3", "e2m3": "fp6_e2m3", "float6_e3m2fn": "fp6_e3m2",
    "e3m2": "fp6_e3m2", "float4_e2m1fn": "fp4_e2m1", "e2m1": "fp4_e2m1", "fp4": "fp4_e2m1",
    "float8_e8m0fnu": "e8m0", "e8m0fnu": "e8m0",
}  # fmt: skip

# The numpy / ml_dtypes dtype that stores each format exactly, where one exists.
_STORAGE: dict[str, np.dtype] = {
    "fp64": np.dtype(np.float64), "fp32": np.dtype(np.float32), "fp16": np.dtype(np.float16),
    "bf16": np.dtype(ml_dtypes.bfloat16), "fp8_e4m3": np.dtype(ml_dtypes.float8_e4m3fn),
    "fp8_e5m2": np.dtype(ml_dtypes.float8_e5m2),
    "fp8_e4m3fnuz": np.dtype(ml_dtypes.float8_e4m3fnuz),
    "fp8_e5m2fnuz": np.dtype(ml_dtypes.float8_e5m2fnuz),
    "fp8_e4m3_ieee": np.dtype(ml_dtypes.float8_e4m3), "fp8_e3m4": np.dtype(ml_dtypes.float8_e3m4),
    "fp6_e2m3": np.dtype(ml_dtypes.float6_e2m3fn), "fp6_e3m2": np.dtype(ml_dtypes.float6_e3m2fn),
    "fp4_e2m1": np.dtype(ml_dtypes.float4_e2m1fn), "e8m0": np.dtype(ml_dtypes.float8_e8m0fnu),
    "int64": np.dtype(np.int64), "int32": np.dtype(np.int32), "int16": np.dtype(np.int16),
    "int8": np.dtype(np.int8), "int4": np.dtype(ml_dtypes.int4),
    "uint32": np.dtype(np.uint32), "uint16": np.dtype(np.uint16), "uint8": np.dtype(np.uint8),
    "uint4": np.dtype(ml_dtypes.uint4),
}  # fmt: skip

_FLOAT_SPEC = re.compile(r"(?:fp(\d+)_)?e(\d+)m(\d+)(?:b(\d+))?(fnuz|fn|finite)?")
_INT_SPEC = re.compile(r"(u?)int(\d+)")
_FIXED_SPEC = re.compile(r"(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)\s*>")


def storage_dtype(fmt: Format | str) -> np.dtype | None:
    """The numpy/ml_dtypes dtype that holds ``fmt`` exactly, or ``None`` if there is none."""
    fmt = get_format(fmt)
    if fmt.name in FORMATS and FORMATS[fmt.name] == fmt:
        return _STORAGE.get(fmt.name)
    for name, known in FORMATS.items():  # a parsed spec equal to a registered format
        if _same_numbers(known, fmt):
            return _STORAGE.get(name)
    return None


def _same_numbers(a: Format, b: Format) -> bool:
    """True when two formats differ only by name."""
    if type(a) is not type(b):
        return False
    fields = [k for k in a.__dataclass_fields__ if k != "name"]
    return all(getattr(a, k) == getattr(b, k) for k in fields)


def _parse(name: str) -> Format | None:
    """Parse a format specification, or return None when ``name`` is not one."""
    if match := _FLOAT_SPEC.fullmatch(name):
        total, e, m, bias, scheme = match.groups()
        special = Special(scheme) if scheme else Special.IEEE
        fmt = FloatFormat(
            name=name,
            exponent_bits=int(e),
            mantissa_bits=int(m),
            bias=int(bias) if bias else None,
            special=special,
        )
        if total is not None and int(total) != fmt.bits:
            raise ValueError(
                f"format {name!r}: e{e}m{m} has {fmt.bits} bits, not {total}; "
                f"write 'fp{fmt.bits}_e{e}m{m}' or 'e{e}m{m}'"
            )
        return fmt
    if match := _INT_SPEC.fullmatch(name):
        unsigned, bits = match.groups()
        return IntFormat(name=name, bits=int(bits), is_signed=not unsigned)
    if match := _FIXED_SPEC.fullmatch(name):
        unsigned, bits, frac = match.groups()
        return IntFormat(
            name=f"{unsigned}fixed<{bits},{frac}>",
            bits=int(bits),
            is_signed=not unsigned,
            frac_bits=int(frac),
        )
    return None


def get_format(fmt: Format | str) -> Format:
    """Look up a format by name, alias or specification.

    Args:
        fmt: a registered name (``"fp8_e4m3"``), an alias (``"bfloat16"``, ``"float8_e4m3fn"``),
            a spec (``"e3m4"``, ``"e4m3fnuz"``, ``"int12"``, ``"fixed<16,8>"``), or a format.

    Returns:
        The :class:`FloatFormat` or :class:`IntFormat`.

    Raises:
        ValueError: unknown name; the message lists the registry and the closest match.
        TypeError: ``fmt`` is neither a string nor a format.

    >>> get_format("bfloat16").name, get_format("fixed<16,8>").eps
    ('bf16', 0.00390625)
    """
    if isinstance(fmt, (FloatFormat, IntFormat)):
        return fmt
    if not isinstance(fmt, str):
        raise TypeError(
            f"a format is a name such as 'bf16' or a FloatFormat/IntFormat, got "
            f"{fmt!r} ({type(fmt).__name__})"
        )
    key = fmt.strip().lower()
    if not key.startswith(("fixed<", "ufixed<")):
        key = key.replace("-", "_")
    key = ALIASES.get(key, key)
    if key in FORMATS:
        return FORMATS[key]
    parsed = _parse(key)
    if parsed is not None:
        return parsed
    names = list(FORMATS) + list(ALIASES)
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown format {fmt!r}.{hint} Known formats: {', '.join(FORMATS)}; or a spec such as "
        "'e3m4', 'e4m3fn', 'e5m2fnuz', 'int12', 'uint3', 'fixed<16,8>'."
    )


def list_formats() -> list[Format]:
    """The registered formats, in registry order."""
    return list(FORMATS.values())
