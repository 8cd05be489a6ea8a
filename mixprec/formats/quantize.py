"""``quantize``: round an array to a number format, with any rounding mode and overflow policy."""

from __future__ import annotations

import numpy as np

from mixprec._util.errors import reject_masked
from mixprec.formats.chunks import map_chunks
from mixprec.formats.fast32 import fits_float32, float32_path
from mixprec.formats.reference import Draws, round_float, round_reference
from mixprec.formats.registry import get_format, storage_dtype
from mixprec.formats.rounding import as_generator, check_random_bits
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
    when every value is within ±2**53, where the conversion is exact. A scalar becomes a 0-d
    array.
    """
    reject_masked(x, "x")
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
    random_bits: int | None = None,
) -> np.ndarray:
    """Round ``x`` to the values of a number format.

    The input is rounded **once**, exactly, whatever its precision (a float64 is not rounded to
    float32 on the way). Large inputs are processed in chunks: the memory needed beyond the
    output stays a few bytes per element (``benchmarks/memory.py``).

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
        random_bits: ``N`` (1 to 64) for stochastic rounding as hardware does it, with ``N``
            random bits: a uniform ``N``-bit integer ``R`` is added at the ``N`` bit positions
            just below the last kept bit of the magnitude, then the sum is truncated toward zero
            (gfloat's ``srnumbits``, the 8-bit stochastic rounding of NVIDIA Transformer
            Engine). ``None`` (default): exactly unbiased stochastic rounding as above.
            **Bias.** Write the magnitude as ``(k + r) * q``, ``q`` the quantum (ulp) of the
            format where it lies, ``k`` an integer, ``0 <= r < 1``. It rounds up to ``(k + 1) *
            q`` iff ``r + R / 2**N >= 1``, i.e. ``R >= 2**N - floor(r * 2**N)``, so
            ``P(up) = floor(r * 2**N) / 2**N`` and ``E[result] = x - sign(x) * b * q`` with
            ``b = r - floor(r * 2**N) / 2**N = frac(r * 2**N) / 2**N`` in ``[0, 2**-N)``: the
            bits of ``r`` below the ``N`` random ones are truncated, a bias toward zero of less
            than ``2**-N`` ulp, and none where ``r`` has at most ``N`` bits (float32 input to
            bf16 with ``N >= 16``). Float and integer formats; the overflow policy applies to
            results past ``max`` as for ``stochastic``.

    Returns:
        An ndarray of the same shape (0-d for a scalar): float32 when the input is float16/32 and
        every value of the format is a float32, else float64. NaN inputs give NaN; a format with
        no NaN (fp6, fp4) has no code for it, so the NaN stays in the values (``encode`` refuses
        it; ml_dtypes returns a signed zero there instead). Negative zero keeps its sign where the
        format has one.

    Raises:
        ValueError: unknown format/mode/policy, ``wrap``/``error`` for a float format, ``inf`` for
            an integer format, NaN or inf into an integer format (except inf with ``saturate``),
            ``random_bits`` not an int in [1, 64] or without ``rounding="stochastic"``.
        OverflowError: a value out of an integer format's range with ``overflow="error"``.
        TypeError: a non-numeric input.

    >>> quantize([1.0, 1.1, 300.0, 1e-3], "fp8_e4m3").tolist()
    [1.0, 1.125, 288.0, 0.001953125]
    >>> quantize(70000.0, "fp16", overflow="inf")
    array(inf)
    >>> quantize([2.5, -2.5, 200.0], "int8").tolist()
    [2.0, -2.0, 127.0]
    >>> quantize([0.3] * 4, "int8", rounding="stochastic", rng=0, random_bits=1).tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    checked = _checked(fmt, rounding, overflow, rng, random_bits)
    return _quantize_values(as_float_array(x), *checked, random_bits)


def _checked(
    fmt: Format | str,
    rounding: Rounding | str,
    overflow: Overflow | str,
    rng: np.random.Generator | int | None,
    random_bits: int | None,
) -> tuple[Format, Rounding, Overflow, np.random.Generator | None]:
    """The arguments of :func:`quantize` as objects, checked together."""
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
    check_random_bits(random_bits, mode)
    return fmt, mode, policy, as_generator(rng, mode)


def _quantize_values(
    values: np.ndarray,
    fmt: Format,
    mode: Rounding,
    overflow: Overflow,
    rng: np.random.Generator | None,
    random_bits: int | None = None,
) -> np.ndarray:
    """:func:`quantize` of a float32 or float64 array of any shape (0-d too), arguments checked."""
    flat = values.reshape(-1)
    if values.dtype == np.float32 and fits_float32(fmt) and random_bits is None:
        return _quantize_float32(flat, fmt, mode, overflow, rng).reshape(values.shape)
    dtype = np.float32 if values.dtype == np.float32 and fits_float32(fmt) else np.float64

    def chunk(part: np.ndarray) -> np.ndarray:
        return round_reference(part, fmt, mode, overflow, Draws(rng, random_bits))

    return map_chunks(chunk, flat, dtype).reshape(values.shape)


def _quantize_float32(
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
    float32 (:func:`mixprec.formats.fast32.fits_float32`), and ``rng`` is a Generator when
    ``mode`` is stochastic.

    >>> _quantize_float32(np.float32([1.0, 1.1]), get_format("fp16"), Rounding.NEAREST_EVEN,
    ...                   Overflow.INF).tolist()
    [1.0, 1.099609375]
    """
    shape = x.shape
    flat = np.ascontiguousarray(x).reshape(-1)
    u = flat.view(np.uint32)
    if isinstance(fmt, FloatFormat):
        if fmt.mantissa_bits == 23 and fmt.emin == -126 and fmt.has_inf and fmt.is_signed:
            same: np.ndarray = flat.copy().reshape(shape)  # fp32 itself: every float32 is a value
            return same
        path = float32_path(fmt, mode, overflow)
        if path is not None:
            return path(u, rng).view(np.float32).reshape(shape)
    elif overflow is Overflow.SATURATE and mode in _FLOAT32_INTEGER_ROUNDING and fmt.frac_bits >= 0:
        # Scaling by 2**frac_bits is exact in float32 (or overflows to inf, which saturates), and
        # numpy's rint/trunc/ceil/floor of a float32 are exact.
        if not np.isnan(flat).any():
            with np.errstate(over="ignore"):  # overflow to inf is intended: it saturates
                scaled = np.ldexp(flat, np.int32(fmt.frac_bits)) if fmt.frac_bits else flat
            codes = _FLOAT32_INTEGER_ROUNDING[mode](scaled)
            np.clip(codes, float(fmt.min_code), float(fmt.max_code), out=codes)
            codes += np.float32(0.0)  # -0 -> +0
            result = np.ldexp(codes, np.int32(-fmt.frac_bits)) if fmt.frac_bits else codes
            shaped: np.ndarray = result.reshape(shape)
            return shaped

    def chunk(part: np.ndarray) -> np.ndarray:
        return round_reference(part, fmt, mode, overflow, Draws(rng))

    return map_chunks(chunk, flat, np.float32).reshape(shape)


def _quantize_reference(
    x: object,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The general float64 path of :func:`quantize`, without fast paths (for tests and tables);
    float64 values of the shape of ``x``."""
    fmt = get_format(fmt)
    mode, policy = as_rounding(rounding), as_overflow(overflow)
    with np.errstate(invalid="ignore"):  # float32 signaling NaNs become quiet NaNs
        x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)

    def chunk(part: np.ndarray) -> np.ndarray:
        return round_reference(part, fmt, mode, policy, Draws(rng))

    return map_chunks(chunk, flat, np.float64).reshape(x.shape)


def round_with_random_bits(
    x: np.ndarray,
    fmt: Format,
    random: np.ndarray,
    random_bits: int,
    overflow: Overflow | None = Overflow.SATURATE,
) -> np.ndarray:
    """Round exact float64 values by ``random_bits``-bit stochastic rounding with given random
    integers (as :func:`quantize` with ``random_bits``); float64 values of ``x``'s shape.

    For MAC accumulators that round sums exactly representable in float64 and bring their own
    random numbers.

    Args:
        x: float64 values (exact: the value to be rounded).
        fmt: the format.
        random: unsigned integers in ``[0, 2**random_bits)``, one per element of ``x``.
        random_bits: ``N``, 1 to 64.
        overflow: the overflow policy (valid for ``fmt``), or None for a float format: no
            policy (values past ``max`` stay on the grid continued above it, ±inf stays ±inf;
            for an accumulator that applies and counts its own, :mod:`mixprec.mac.stochastic`).

    Raises:
        ValueError: ``random_bits`` out of range, ``random`` of the wrong size, or
            ``overflow=None`` for an integer format.
    """
    check_random_bits(random_bits, Rounding.STOCHASTIC)
    flat = np.asarray(x, dtype=np.float64).reshape(-1)
    ints = np.asarray(random, dtype=np.uint64).reshape(-1)
    if ints.size != flat.size:
        raise ValueError(f"random has {ints.size} values for {flat.size} elements of x")
    draws = Draws(None, random_bits, ints)
    if overflow is not None:
        result = round_reference(flat, fmt, Rounding.STOCHASTIC, overflow, draws)
    elif isinstance(fmt, FloatFormat):
        result = round_float(flat, fmt, Rounding.STOCHASTIC, None, draws)
    else:
        raise ValueError(f"overflow=None is for float formats; {fmt.name} takes a policy")
    return result.reshape(np.shape(x))


def to_storage(
    x: object,
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | int | None = None,
    random_bits: int | None = None,
) -> np.ndarray:
    """Quantize and return the compact array (ml_dtypes ``bfloat16``, ``float8_*``, ``int8`` ...).

    Arguments as :func:`quantize`.

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
    values = quantize(x, fmt, rounding, overflow, rng, random_bits)
    if not fmt.has_nan and np.isnan(values).any():
        raise ValueError(f"{fmt.name} has no NaN; the input holds NaN")
    return values.astype(dtype)
