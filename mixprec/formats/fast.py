"""Fast exact rounding of float32 input: bit arithmetic and lookup tables.

Two paths, both provably equal to :mod:`mixprec.formats.reference` and tested against it on
every float32 at and beside every midpoint:

* **bits**: on the uint32 pattern, rounding to ``m`` mantissa bits is integer arithmetic on the
  magnitude: add an increment below the kept bits, then clear them. A carry out of the mantissa
  moves to the next binade, and out of the top binade to the inf pattern, both correct. The number
  of discarded bits is ``23 - m`` in the format's normal range and grows by one per binade below
  its ``smallest_normal`` (subnormals), which keeps the arithmetic linear as long as at most 23
  bits are discarded, i.e. for magnitudes >= the smallest subnormal. Smaller magnitudes round
  to 0 or to the smallest subnormal by a comparison. Valid for formats with ``emin >= -126``
  (float32 subnormal inputs then share one quantum) that fit in float32.
* **table**: for formats with at most 6 mantissa bits, the result depends only on the top 16
  bits of the float32 pattern (sign, exponent, 7 mantissa bits) and on whether the low 16 bits are
  zero: every rounding boundary (midpoint or value) of such a format lies on the 16-bit grid, so
  all inputs with the same top bits and non-zero low bits lie strictly inside one interval.
  A 2**17-entry table, computed once by the reference path, gives the result. Deterministic
  modes only.

Arrays are processed in blocks that stay in cache.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from mixprec.formats.reference import overflows_to_infinity, round_float
from mixprec.formats.spec import FloatFormat, Format, Overflow, Rounding

BLOCK = 1 << 15
_SIGN = np.uint32(0x80000000)
_ABS = np.uint32(0x7FFFFFFF)
_INF = np.uint32(0x7F800000)
_NAN = np.uint32(0x7FC00000)


def _bits(value: float) -> np.uint32:
    return np.array(value, dtype=np.float32).view(np.uint32)[()]


def fits_float32(fmt: Format) -> bool:
    """True when every value of ``fmt`` is a float32."""
    if isinstance(fmt, FloatFormat):
        return fmt.mantissa_bits <= 23 and fmt.emax <= 127 and fmt.smallest_subnormal >= 2.0**-149
    code_bits = fmt.bits - int(fmt.is_signed)
    return code_bits <= 24 and -149 <= -fmt.frac_bits and fmt.max < 2.0**127


def bits_path_applies(fmt: Format) -> bool:
    return (
        isinstance(fmt, FloatFormat)
        and fits_float32(fmt)
        and fmt.emin >= -126
        and fmt.is_signed
        and fmt.has_zero
    )


def table_path_applies(fmt: Format, mode: Rounding) -> bool:
    return (
        isinstance(fmt, FloatFormat)
        and mode is not Rounding.STOCHASTIC
        and fmt.mantissa_bits <= 6
        and fmt.emax <= 127
        and fmt.smallest_subnormal >= 2.0**-132
    )


def threads() -> int:
    """Worker threads for large arrays: ``$MIXPREC_THREADS``, else the usable cores (max 8)."""
    configured = os.environ.get("MIXPREC_THREADS", "")
    if configured.strip():
        try:
            return max(1, int(configured))
        except ValueError:
            raise ValueError(
                f"MIXPREC_THREADS must be a positive integer, got {configured!r}"
            ) from None
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))


@functools.lru_cache(maxsize=1)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mixprec")


def blockwise(func: Callable[..., np.ndarray], u: np.ndarray, *extra: np.ndarray) -> np.ndarray:
    """Apply ``func`` to cache-sized blocks of flat uint32 ``u`` (and aligned ``extra`` arrays).

    numpy releases the GIL inside its loops, so large arrays are split across threads; the result
    does not depend on the number of threads (each element's rounding is independent).
    """
    out = np.empty_like(u)

    def run(start: int, stop: int) -> None:
        for lo in range(start, stop, BLOCK):
            hi = min(lo + BLOCK, stop)
            out[lo:hi] = func(u[lo:hi], *(e[lo:hi] for e in extra))

    workers = min(threads(), u.size // (4 * BLOCK))
    if workers <= 1:
        run(0, u.size)
        return out
    step = -(-u.size // workers // BLOCK) * BLOCK
    futures = [_pool(workers).submit(run, lo, min(lo + step, u.size)) for lo in range(0, u.size, step)]
    for future in futures:
        future.result()
    return out


# -- the table path --------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _table(fmt: FloatFormat, mode: Rounding, overflow: Overflow) -> np.ndarray:
    keys = np.arange(2**17, dtype=np.uint32)
    representatives = ((keys >> 1) << 16) | (keys & 1)
    with np.errstate(invalid="ignore"):  # signaling-NaN patterns
        x = representatives.view(np.float32).astype(np.float64)
    return round_float(x, fmt, mode, overflow, None).astype(np.float32).view(np.uint32)


def round_by_table(u: np.ndarray, fmt: FloatFormat, mode: Rounding, overflow: Overflow) -> np.ndarray:
    """Round flat uint32 float32 patterns ``u``; returns uint32 float32 patterns."""
    table = _table(fmt, mode, overflow)

    def block(b: np.ndarray) -> np.ndarray:
        index = b >> 15
        index &= 0x1FFFE  # (top 16 bits) << 1
        index |= (b & 0xFFFF) != 0
        return table[index]

    return blockwise(block, u)


# -- the bits path ---------------------------------------------------------------------------
def round_by_bits(
    u: np.ndarray,
    fmt: FloatFormat,
    mode: Rounding,
    overflow: Overflow,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """Round flat uint32 float32 patterns ``u``; returns uint32 float32 patterns."""
    m = fmt.mantissa_bits
    base = 23 - m
    min_normal_field = fmt.emin + 127  # float32 exponent field of smallest_normal
    variable = min_normal_field > 1
    extra_max = min(m + 1, min_normal_field - 1)
    tiny = fmt.smallest_subnormal if fmt.has_subnormals else fmt.smallest_normal
    has_tiny_branch = tiny > 2.0**-149
    tiny_bits, half_tiny = _bits(tiny), tiny / 2
    max_bits = _bits(fmt.max)
    if overflow is Overflow.SATURATE or not (fmt.has_inf or fmt.has_nan):
        over_bits = None
    else:
        over_bits = _INF if fmt.has_inf else _NAN
    infinite_bits = _INF if fmt.has_inf else (max_bits if over_bits is None else _NAN)
    no_negative_zero = not fmt.has_negative_zero

    # Per float32 exponent field: the number of discarded bits, half an ulp minus one, and the
    # last kept bit. With 23 discarded bits (the format's lowest binade, [tiny, 2 * tiny)) the kept
    # count is the implicit bit, always 1, while bit 23 of the pattern is the exponent's last bit:
    # the tables say "odd" there and never set that bit.
    fields = np.arange(256, dtype=np.int64)
    extra = np.clip(min_normal_field - np.maximum(fields, 1), 0, extra_max) if variable else 0
    shift_table = (base + extra + 0 * fields).astype(np.uint32)
    half_table = ((np.uint32(1) << shift_table) >> 1) - np.uint32(1)
    lowest_binade = shift_table == 23
    forced_odd_table = lowest_binade.astype(np.uint32)
    last_bit_table = np.where(lowest_binade, 0, np.uint32(1) << shift_table).astype(np.uint32)
    any_lowest = bool(lowest_binade.any())
    half_tiny_bits = _bits(half_tiny) if has_tiny_branch else None

    def block(b: np.ndarray, rand: np.ndarray | None = None) -> np.ndarray:
        mag = b & _ABS
        field = mag >> 23 if variable else np.zeros(1, np.uint32)
        shift, half_minus_one = shift_table[field], half_table[field]
        if not variable:
            shift, half_minus_one = shift[0], half_minus_one[0]
        if mode is Rounding.NEAREST_EVEN:
            rounded = (mag >> shift) & 1
            if any_lowest:
                rounded |= forced_odd_table[field]
            rounded += half_minus_one
            rounded += mag
        elif mode is Rounding.NEAREST_AWAY:
            rounded = mag + (half_minus_one + 1)
        elif mode is Rounding.TOWARD_ZERO:
            rounded = mag.copy()
        elif mode in (Rounding.UP, Rounding.DOWN):
            away = (b >= _SIGN) == (mode is Rounding.DOWN)
            rounded = mag + np.where(away, (half_minus_one << 1) | 1, 0).astype(np.uint32)
        elif mode is Rounding.STOCHASTIC:
            assert rand is not None
            rounded = mag + (rand & ((half_minus_one << 1) | 1))
        else:  # ODD: truncate, then set the last kept bit where anything was discarded
            inexact = (mag & ((half_minus_one << 1) | 1)) != 0
            rounded = mag | np.where(inexact, last_bit_table[field], 0).astype(np.uint32)
        rounded >>= shift
        rounded <<= shift

        if has_tiny_branch:
            small = mag < tiny_bits
            if small.any():
                if mode is Rounding.STOCHASTIC:
                    assert rand is not None
                    a = mag[small].view(np.float32).astype(np.float64)
                    up = rand[small].astype(np.float64) < a / tiny * 2.0**32
                    rounded[small] = np.where(up, tiny_bits, 0)
                else:
                    up = _tiny_away(mag, b >= _SIGN, tiny_bits, half_tiny_bits, mode)
                    rounded = np.where(small, np.where(up, tiny_bits, 0), rounded)
        over = rounded > max_bits
        if over.any():
            over &= mag < _INF
            if over_bits is None:
                rounded[over] = max_bits
            else:
                to_inf = overflows_to_infinity(mode, b[over] >= _SIGN)
                rounded[over] = np.where(to_inf, over_bits, max_bits)
            special = mag >= _INF
            if special.any():
                rounded[special] = np.where(mag[special] == _INF, infinite_bits, _NAN)
        sign = b & _SIGN
        if no_negative_zero:
            sign[rounded == 0] = 0
        rounded |= sign
        return rounded.astype(np.uint32, copy=False)

    if mode is Rounding.STOCHASTIC:
        if rng is None:
            raise ValueError("stochastic rounding needs rng=np.random.default_rng(seed)")
        rand = rng.integers(0, 2**32, size=u.size, dtype=np.uint32)
        return blockwise(block, u, rand)
    return blockwise(block, u)


def _tiny_away(
    mag: np.ndarray, negative: np.ndarray, tiny_bits: np.uint32, half_bits: np.uint32, mode: Rounding
) -> np.ndarray:
    """Whether magnitudes below the smallest positive value round up to it (else to 0).

    Compares float32 patterns, which order like the magnitudes they encode.
    """
    if mode is Rounding.NEAREST_EVEN:
        return mag > half_bits  # a tie goes to 0, the even neighbour
    if mode is Rounding.NEAREST_AWAY:
        return mag >= half_bits
    if mode is Rounding.TOWARD_ZERO:
        return np.zeros(mag.shape, dtype=bool)
    if mode is Rounding.UP:
        return (mag > 0) & ~negative
    if mode is Rounding.DOWN:
        return (mag > 0) & negative
    if mode is Rounding.ODD:
        return mag > 0
    raise ValueError(f"no deterministic tiny rule for {mode!r}")
