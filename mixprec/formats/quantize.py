"""``quantize``: round an array to a number format, with any rounding mode and overflow policy."""

from __future__ import annotations

import numpy as np

from mixprec.formats import fast
from mixprec.formats.reference import round_float, round_int
from mixprec.formats.registry import get_format, storage_dtype
from mixprec.formats.spec import (
    FloatFormat,
    Format,
    IntFormat,
    Overflow,
    Rounding,
    as_overflow,
    as_rounding,
)

_EXACT_INT = 2**53
_FLOAT32_INTEGER_ROUNDING = {
    Rounding.NEAREST_EVEN: np.rint,
    Rounding.TOWARD_ZERO: np.trunc,
    Rounding.UP: np.ceil,
    Rounding.DOWN: np.floor,
}


def as_float_array(x: object) -> np.ndarray:
    """Convert input to float32 or float64 without rounding, or raise a clear error.

    float16/float32 become float32 (exact); float64 stays; bool and integers become float64
    when every value is within ±2**53, where the conversion is exact.
    """
    array = np.asarray(x)
    kind = array.dtype.kind
    if kind == "f":
        if array.dtype == np.float64:
            return array
        if array.dtype in (np.float16, np.float32):
            return array.astype(np.float32, copy=False)
        if array.dtype.itemsize > 8:
            raise TypeError(
                f"{array.dtype} input would be rounded twice; convert explicitly with "
                "x.astype(np.float64) if that is acceptable"
            )
        return array.astype(np.float32)  # ml_dtypes floats (bf16, fp8 ...) are exact in float32
    if kind in "iub":
        if kind != "b" and array.size and np.abs(array.astype(np.float64)).max() > _EXACT_INT:
            raise ValueError(
                "integer input beyond ±2**53 cannot be rounded exactly through float64; "
                "convert explicitly with x.astype(np.float64) to accept a double rounding"
            )
        return array.astype(np.float64)
    if kind == "V" and array.dtype.itemsize in (1, 2):  # ml_dtypes sub-byte/custom types
        return array.astype(np.float32)
    raise TypeError(
        f"quantize takes real numbers (float16/32/64, integer or bool arrays), got dtype "
        f"{array.dtype}; convert with np.asarray(x, dtype=np.float64)"
    )


def quantize(
    x: object,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Round ``x`` to the values of a number format.

    The input is rounded **once**, exactly, whatever its precision (a float64 is not rounded to
    float32 on the way).

    Args:
        x: array or scalar of float16/32/64, integers or bool (or an ml_dtypes array).
        fmt: a format or its name (see :func:`get_format`).
        rounding: ``nearest_even`` (default), ``nearest_away``, ``toward_zero``, ``up`` (toward
            +inf), ``down`` (toward -inf), ``stochastic`` (away from zero with probability equal
            to the distance from the lower neighbour in ulps; needs ``rng``), ``odd`` (toward zero,
            then the last bit set when inexact). Stochastic rounding is exactly unbiased for
            float32 input (32 random bits cover every discarded bit) except magnitudes below the
            smallest subnormal, where the probability is rounded up to a multiple of 2**-32; for
            float64 input the probability is exact to 2**-53.
        overflow: ``saturate`` (default: finite values beyond ±max become ±max; ±inf inputs stay
            ±inf where the format has inf, else ±max), ``inf`` (IEEE / OCP non-saturating: ±inf,
            or NaN for formats without inf; toward-zero modes give ±max), and for integer formats
            ``wrap`` (two's complement) or ``error``.
        rng: a :class:`numpy.random.Generator` or an int seed, for stochastic rounding.

    Returns:
        An ndarray of the same shape (0-d for a scalar): float32 when the input is float16/32 and
        every value of the format is a float32, else float64. NaN inputs give NaN; a format with
        no NaN (fp6, fp4) has no code for it, so the NaN stays in the values (``encode`` refuses
        it; ml_dtypes returns a signed zero there instead). Negative zero keeps its sign where the
        format has one.

    Raises:
        ValueError: unknown format/mode/policy, ``wrap``/``error`` for a float format, ``inf`` for
            an integer format, NaN or inf into an integer format (except inf with ``saturate``).
        OverflowError: a value out of an integer format's range with ``overflow="error"``.
        TypeError: a non-numeric input.

    >>> quantize([1.0, 1.1, 300.0, 1e-3], "fp8_e4m3").tolist()
    [1.0, 1.125, 288.0, 0.001953125]
    >>> quantize(70000.0, "fp16", overflow="inf")
    array(inf)
    >>> quantize([2.5, -2.5, 200.0], "int8").tolist()
    [2.0, -2.0, 127.0]
    """
    fmt = get_format(fmt)
    mode = as_rounding(rounding)
    policy = as_overflow(overflow)
    if isinstance(fmt, FloatFormat) and policy in (Overflow.WRAP, Overflow.ERROR):
        raise ValueError(
            f"overflow={policy.value!r} is for integer formats; {fmt.name} is a float format: "
            "use 'saturate' or 'inf'"
        )
    if isinstance(fmt, IntFormat) and policy is Overflow.INF:
        raise ValueError(
            f"integer format {fmt.name} has no inf; use overflow='saturate', 'wrap' or 'error'"
        )
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = np.random.default_rng(int(rng))
    elif rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {rng!r}")
    if mode is Rounding.STOCHASTIC and rng is None:
        raise ValueError("stochastic rounding needs rng=np.random.default_rng(seed)")

    values = as_float_array(x)
    if values.dtype == np.float32 and fast.fits_float32(fmt):
        return quantize_float32(values, fmt, mode, policy, rng)
    with np.errstate(invalid="ignore"):  # float32 signaling NaNs become quiet NaNs
        wide = values.astype(np.float64)
    return quantize_reference(wide, fmt, mode, policy, rng)


def quantize_float32(
    x: np.ndarray,
    fmt: Format,
    mode: Rounding,
    overflow: Overflow,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """:func:`quantize` of a float32 array, without its argument checks: for inner loops.

    float32 in, float32 out, by the fastest exact path that applies (the one :func:`quantize`
    takes). The caller guarantees what :func:`quantize` would check: ``fmt``, ``mode`` and
    ``overflow`` are the objects (not names) and valid together, every value of ``fmt`` is a
    float32 (``mixprec.formats.fast.fits_float32``), and ``rng`` is a Generator when ``mode``
    is stochastic.

    >>> quantize_float32(np.float32([1.0, 1.1]), get_format("fp16"), Rounding.NEAREST_EVEN,
    ...                  Overflow.INF).tolist()
    [1.0, 1.099609375]
    """
    shape = x.shape
    u = np.ascontiguousarray(x).reshape(-1).view(np.uint32)
    if isinstance(fmt, FloatFormat):
        if fmt.mantissa_bits == 23 and fmt.emin == -126 and fmt.has_inf and fmt.is_signed:
            out = u.copy()  # fp32 itself: every float32 is a value, nothing overflows
            return out.view(np.float32).reshape(shape)
        path = fast.float32_path(fmt, mode, overflow)
        if path is not None:
            return path(u, rng).view(np.float32).reshape(shape)
    elif overflow is Overflow.SATURATE and mode in _FLOAT32_INTEGER_ROUNDING and fmt.frac_bits >= 0:
        # Scaling by 2**frac_bits is exact in float32 (or overflows to inf, which saturates), and
        # numpy's rint/trunc/ceil/floor of a float32 are exact.
        if not np.isnan(x).any():
            with np.errstate(over="ignore"):  # overflow to inf is intended: it saturates
                scaled = np.ldexp(x, np.int32(fmt.frac_bits)) if fmt.frac_bits else x
            codes = _FLOAT32_INTEGER_ROUNDING[mode](scaled)
            np.clip(codes, float(fmt.min_code), float(fmt.max_code), out=codes)
            codes += np.float32(0.0)  # -0 -> +0
            return np.ldexp(codes, np.int32(-fmt.frac_bits)) if fmt.frac_bits else codes
    with np.errstate(invalid="ignore"):  # float32 signaling NaNs become quiet NaNs
        result = quantize_reference(x.astype(np.float64), fmt, mode, overflow, rng)
        return result.astype(np.float32)


def quantize_reference(
    x: np.ndarray,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The general float64 path of :func:`quantize`, without fast paths (for tests and tables)."""
    fmt = get_format(fmt)
    mode, policy = as_rounding(rounding), as_overflow(overflow)
    with np.errstate(invalid="ignore"):  # float32 signaling NaNs become quiet NaNs
        x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    if isinstance(fmt, IntFormat):
        return round_int(flat, fmt, mode, policy, rng).reshape(x.shape)
    return round_float(flat, fmt, mode, policy, rng).reshape(x.shape)


def to_storage(
    x: object,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Quantize and return the compact array (ml_dtypes ``bfloat16``, ``float8_*``, ``int8`` ...).

    Raises:
        ValueError: the format has no numpy/ml_dtypes dtype (use :func:`encode` for its codes), or
            a NaN for a format without NaN.

    >>> to_storage([1.0, 3.3], "bf16").dtype
    dtype(bfloat16)
    """
    fmt = get_format(fmt)
    dtype = storage_dtype(fmt)
    if dtype is None:
        raise ValueError(
            f"{fmt.name} has no numpy or ml_dtypes dtype; use mixprec.encode(x, {fmt.name!r}) "
            "for its integer codes"
        )
    values = quantize(x, fmt, rounding=rounding, overflow=overflow, rng=rng)
    if not fmt.has_nan and np.isnan(values).any():
        raise ValueError(f"{fmt.name} has no NaN; the input holds NaN")
    return values.astype(dtype)
