"""``encode`` values to unsigned integer codes and ``decode`` codes to values, for every format.

A float code is ``sign | exponent << m | mantissa`` (no sign bit in unsigned formats); an integer
code is the two's-complement bit pattern of ``value * 2**frac_bits``. NaN encodes to the format's
canonical NaN: the quiet NaN ``0 11..1 10..0`` (IEEE, sign kept), all ones (``fn``, sign kept),
or the negative-zero code (``fnuz``).
"""

from __future__ import annotations

import numpy as np

from mixprec.formats.chunks import map_chunks
from mixprec.formats.fast32 import fits_float32
from mixprec.formats.quantize import _checked, _quantize_values, as_float_array
from mixprec.formats.registry import get_format
from mixprec.formats.spec import FloatFormat, Format, IntFormat, Overflow, Rounding, Special


def code_dtype(fmt: Format) -> np.dtype:
    """The smallest unsigned dtype that holds a code of ``fmt``."""
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if fmt.bits <= np.dtype(dtype).itemsize * 8:
            return np.dtype(dtype)
    raise ValueError(f"{fmt.name} is wider than 64 bits")  # unreachable: formats are <= 64 bits


def nan_code(fmt: FloatFormat, negative: bool = False) -> int:
    """The canonical NaN code of ``fmt``."""
    m, sign_bit = fmt.mantissa_bits, fmt.bits - 1
    sign = (1 << sign_bit) if (negative and fmt.is_signed) else 0
    if fmt.special is Special.IEEE:
        return int(sign | ((2**fmt.exponent_bits - 1) << m) | (1 << (m - 1)))
    if fmt.special is Special.FN:
        return int(sign | (2 ** (fmt.bits - int(fmt.is_signed)) - 1))
    if fmt.special is Special.FNUZ:
        return 1 << sign_bit
    raise ValueError(f"{fmt.name} has no NaN")


def encode(
    x: object,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | int | None = None,
    random_bits: int | None = None,
) -> np.ndarray:
    """Round ``x`` to ``fmt`` (as :func:`quantize`) and return its unsigned integer codes.

    Arguments as :func:`quantize`; large inputs are rounded and coded chunk by chunk.

    Returns:
        uint8/16/32/64 codes (the smallest that holds ``fmt.bits``), same shape as ``x`` (0-d
        for a scalar).

    Raises:
        ValueError: NaN for a format without NaN; and as :func:`quantize`.

    >>> encode([1.0, -2.0, float("nan")], "fp8_e4m3").tolist()
    [56, 192, 127]
    """
    fmt, mode, policy, generator = _checked(fmt, rounding, overflow, rng, random_bits)
    values = as_float_array(x)

    def chunk(part: np.ndarray) -> np.ndarray:
        rounded = _quantize_values(part, fmt, mode, policy, generator, random_bits)
        if isinstance(fmt, IntFormat):
            return _encode_int(rounded, fmt)
        return _encode_float(rounded.astype(np.float64), fmt)

    return map_chunks(chunk, values.reshape(-1), code_dtype(fmt)).reshape(values.shape)


def _encode_int(values: np.ndarray, fmt: IntFormat) -> np.ndarray:
    codes = np.ldexp(values.astype(np.float64), fmt.frac_bits).astype(np.int64)
    result: np.ndarray = (codes.astype(np.uint64) & np.uint64(2**fmt.bits - 1)).astype(
        code_dtype(fmt)
    )
    return result


def _encode_float(v: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    m = fmt.mantissa_bits
    negative = np.signbit(v) & fmt.is_signed
    nan = np.isnan(v)
    if nan.any() and not fmt.has_nan:
        raise ValueError(f"{fmt.name} has no NaN code; the values hold NaN")
    a = np.where(np.isfinite(v), np.abs(v), 0.0)
    exponent = np.frexp(a)[1].astype(np.int64) - 1
    normal = (exponent >= fmt.emin) & (a > 0)
    assert fmt.bias is not None
    biased = np.where(normal, exponent + fmt.bias, 0)
    quantum = np.where(normal, exponent - m, fmt.emin - m)
    significand = np.ldexp(a, -quantum).astype(np.uint64)
    mantissa = np.where(normal, significand - np.uint64(2**m), significand)
    codes = (biased.astype(np.uint64) << np.uint64(m)) | mantissa.astype(np.uint64)
    if fmt.has_inf:
        inf_code = (2**fmt.exponent_bits - 1) << m
        codes[np.isinf(v)] = inf_code
    if fmt.is_signed:
        sign = np.uint64(1 << (fmt.bits - 1))
        codes |= np.where(negative, sign, np.uint64(0))
    if nan.any():
        codes[nan & ~negative] = nan_code(fmt, False)
        codes[nan & negative] = nan_code(fmt, True)
    result: np.ndarray = codes.astype(code_dtype(fmt))
    return result


def decode(codes: object, fmt: Format | str, dtype: np.dtype | type | None = None) -> np.ndarray:
    """The values of integer codes of ``fmt``.

    Args:
        codes: an integer array (any integer dtype) of codes in ``[0, 2**fmt.bits)``.
        fmt: the format.
        dtype: float32 or float64; by default float32 when every value of ``fmt`` is a float32.

    Raises:
        TypeError: non-integer codes.
        ValueError: a code out of range.

    >>> decode([0x38, 0x7F, 0x80], "fp8_e4m3").tolist()
    [1.0, nan, -0.0]
    """
    fmt = get_format(fmt)
    array = np.asarray(codes)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"codes must be an integer array, got dtype {array.dtype}; to round values use "
            "mixprec.quantize or mixprec.encode"
        )
    if array.size and (array.min() < 0 or int(array.max()) >= 2**fmt.bits):
        bad = array[(array < 0) | (array.astype(np.float64) >= 2.0**fmt.bits)].flat[0]
        raise ValueError(
            f"code {bad!r} is out of range for {fmt.name}: codes are 0 .. {2**fmt.bits - 1}"
        )
    if dtype is None:
        dtype = np.float32 if fits_float32(fmt) else np.float64

    def chunk(part: np.ndarray) -> np.ndarray:
        if isinstance(fmt, IntFormat):
            return _decode_int(part.astype(np.uint64), fmt)
        with np.errstate(over="ignore"):  # the top exponent of IEEE formats: inf, set after
            return _decode_float(part.astype(np.uint64), fmt)

    return map_chunks(chunk, array.reshape(-1), dtype).reshape(array.shape)


def _decode_int(c: np.ndarray, fmt: IntFormat) -> np.ndarray:
    if fmt.bits == 64:
        signed = c.view(np.int64) if fmt.is_signed else c
    else:
        signed = c.astype(np.int64)
        if fmt.is_signed:
            signed = np.where(c >= np.uint64(2 ** (fmt.bits - 1)), signed - 2**fmt.bits, signed)
    return np.ldexp(signed.astype(np.float64), -fmt.frac_bits)


def _decode_float(c: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    m, e = fmt.mantissa_bits, fmt.exponent_bits
    assert fmt.bias is not None
    mantissa = (c & np.uint64(2**m - 1)).astype(np.float64)
    biased = ((c >> np.uint64(m)) & np.uint64(2**e - 1)).astype(np.int64)
    if fmt.has_zero:
        subnormal = biased == 0
        low = mantissa if fmt.has_subnormals else np.zeros_like(mantissa)
        a = np.where(
            subnormal,
            np.ldexp(low, fmt.emin - m),
            np.ldexp(mantissa + 2.0**m, biased - fmt.bias - m),
        )
    else:
        a = np.ldexp(mantissa + 2.0**m, biased - fmt.bias - m)
    top = biased == 2**e - 1
    if fmt.special is Special.IEEE:
        a = np.where(top, np.where(mantissa == 0, np.inf, np.nan), a)
    elif fmt.special is Special.FN:
        a = np.where(top & (mantissa == 2**m - 1), np.nan, a)
    negative = (c >> np.uint64(fmt.bits - 1)) == 1 if fmt.is_signed else np.zeros(c.shape, bool)
    values: np.ndarray = np.where(negative, -a, a)
    if fmt.special is Special.FNUZ:
        values = np.where(c == np.uint64(1 << (fmt.bits - 1)), np.nan, values)
    return values
