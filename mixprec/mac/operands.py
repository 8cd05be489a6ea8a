"""Operands of a MAC: inputs quantized to the input format (or taken as is), and their products."""

from __future__ import annotations

import functools

import numpy as np

from mixprec.formats import FloatFormat, Format, IntFormat, quantize, storage_dtype
from mixprec.formats.spec import Overflow, Rounding
from mixprec.mac.accumulate import rounds_beyond_max
from mixprec.mac.stats import EventCounter


def prepare(
    x: object, fmt: Format, rounding: Rounding, counter: EventCounter | None, what: str = "input"
) -> np.ndarray:
    """The values of ``x`` in ``fmt``, in the cheapest exact dtype.

    An array whose dtype is already ``fmt``'s storage dtype (np.float16 for fp16,
    ml_dtypes.bfloat16, np.int8 ...) is returned as is: that is how hardware operands arrive.
    Anything else is quantized with ``rounding`` and ``overflow="saturate"``; the counter then
    records saturated and flushed elements.

    Returns:
        The storage-dtype array itself, or float32/float64 values of ``fmt``.

    Raises:
        TypeError: non-numeric input. ValueError: NaN into an integer format.
    """
    array = np.asarray(x)
    dtype = _storage(fmt)
    if dtype is not None and array.dtype == dtype:
        return array
    if array.dtype == object:
        raise TypeError(f"{what} must be a numeric array, got dtype object")
    try:
        values = quantize(array, fmt, rounding=rounding, overflow=Overflow.SATURATE)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None
    if counter is not None and array.size:
        with np.errstate(invalid="ignore", over="ignore"):
            source = array.astype(np.float64) if array.dtype.kind in "fiub" else values
            saturated = ((source > fmt.max) & (values == fmt.max)) | (
                (source < fmt.min) & (values == fmt.min)
            )
            flushed = (source != 0) & (values == 0) & ~np.isnan(source) & ~saturated
            counter.add("input_saturations", np.count_nonzero(saturated))
            counter.add("input_flushes", np.count_nonzero(flushed))
    return values


@functools.lru_cache(maxsize=256)
def _storage(fmt: Format) -> np.dtype | None:
    return storage_dtype(fmt)


def as_codes(values: np.ndarray, fmt: IntFormat) -> np.ndarray:
    """int64 codes ``value * 2**frac_bits`` of integer / fixed-point values."""
    array = np.asarray(values)
    if array.dtype.kind in "iu" and fmt.frac_bits == 0:
        return array.astype(np.int64)
    return np.ldexp(array.astype(np.float64), fmt.frac_bits).astype(np.int64)


@functools.lru_cache(maxsize=256)
def products_fit_float32(fmt: Format) -> bool:
    """True when every product of two values of ``fmt`` is exactly a float32.

    The product of two values with ``p``-bit significands has at most ``2p`` significant bits and
    is a multiple of ``smallest_subnormal**2``: it is a float32 if ``2p <= 24``, it cannot exceed
    ``max**2 < 2**128`` and ``smallest_subnormal**2 >= 2**-149`` (float32's own quantum there).
    """
    if isinstance(fmt, FloatFormat):
        return (
            2 * fmt.precision <= 24
            and fmt.max**2 < 2.0**128
            and fmt.smallest_subnormal**2 >= 2.0**-149
        )
    span = fmt.bits - int(fmt.is_signed)
    return 2 * span <= 24 and 2.0 ** (-2 * fmt.frac_bits) >= 2.0**-149 and fmt.max**2 < 2.0**128


def round_products(
    p: np.ndarray,
    fmt: FloatFormat,
    rounding: Rounding,
    overflow: Overflow,
    counter: EventCounter | None,
) -> np.ndarray:
    """Round exact products ``p`` to the product format, counting rounded and overflowed ones."""
    q = quantize(p, fmt, rounding=rounding, overflow=overflow)
    if counter is not None:
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(p)
            counter.add("product_roundings", np.count_nonzero(finite & (q != p)))
            counter.add(
                "product_overflows", np.count_nonzero(finite & rounds_beyond_max(p, fmt, rounding))
            )
    return q
