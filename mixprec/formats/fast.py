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
from collections.abc import Callable
from typing import NamedTuple

import ml_dtypes
import numpy as np

from mixprec._util.threads import run_parallel, scratch, threads
from mixprec.formats.reference import overflows_to_infinity, round_float
from mixprec.formats.rounding import RULES, Away, Rule, decide, round_away
from mixprec.formats.spec import FloatFormat, Format, Overflow, Rounding

BLOCK = 1 << 17  # 512 KiB of float32: measured best on 2-core EPYC (L2 512 KiB)
_SIGN = np.uint32(0x80000000)
_ABS = np.uint32(0x7FFFFFFF)
_INF = np.uint32(0x7F800000)
_NAN = np.uint32(0x7FC00000)


def _bits(value: float) -> np.uint32:
    return np.uint32(np.array(value, dtype=np.float32).view(np.uint32).item())


@functools.lru_cache(maxsize=256)
def fits_float32(fmt: Format) -> bool:
    """True when every value of ``fmt`` is a float32."""
    if isinstance(fmt, FloatFormat):
        return fmt.mantissa_bits <= 23 and fmt.emax <= 127 and fmt.smallest_subnormal >= 2.0**-149
    code_bits = fmt.bits - int(fmt.is_signed)
    return code_bits <= 24 and -149 <= -fmt.frac_bits and fmt.max < 2.0**127


@functools.lru_cache(maxsize=256)
def bits_path_applies(fmt: Format) -> bool:
    return (
        isinstance(fmt, FloatFormat)
        and fits_float32(fmt)
        and fmt.mantissa_bits < 23
        and fmt.emin >= -126
        and fmt.is_signed
        and fmt.has_zero
    )


@functools.lru_cache(maxsize=256)
def table_path_applies(fmt: Format, mode: Rounding) -> bool:
    return (
        isinstance(fmt, FloatFormat)
        and mode is not Rounding.STOCHASTIC
        and fmt.mantissa_bits <= 6
        and fmt.emax <= 127
        and fmt.smallest_subnormal >= 2.0**-132
    )


def blockwise(func: Callable[..., None], u: np.ndarray, *extra: np.ndarray) -> np.ndarray:
    """Call ``func(out_block, u_block, *extra_blocks)`` on cache-sized blocks of flat uint32 ``u``.

    numpy releases the GIL inside its loops, so large arrays are split across threads; the result
    does not depend on the number of threads (each element's rounding is independent).
    """
    out = np.empty_like(u)
    if u.size <= BLOCK:  # one block: no threads (most calls in a training step)
        func(out, u, *extra)
        return out

    def run(start: int, stop: int) -> None:
        for lo in range(start, stop, BLOCK):
            hi = min(lo + BLOCK, stop)
            func(out[lo:hi], u[lo:hi], *(e[lo:hi] for e in extra))

    workers = min(threads(), u.size // (4 * BLOCK))
    step = -(-u.size // max(workers, 1) // BLOCK) * BLOCK
    run_parallel(
        [functools.partial(run, lo, min(lo + step, u.size)) for lo in range(0, u.size, step)],
        workers,
    )
    return out


# -- the table path --------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _table(fmt: FloatFormat, mode: Rounding, overflow: Overflow) -> np.ndarray:
    keys = np.arange(2**17, dtype=np.uint32)
    representatives = ((keys >> 1) << 16) | (keys & 1)
    with np.errstate(invalid="ignore"):  # signaling-NaN patterns
        x = representatives.view(np.float32).astype(np.float64)
    return round_float(x, fmt, mode, overflow, None).astype(np.float32).view(np.uint32)


def round_by_table(
    u: np.ndarray, fmt: FloatFormat, mode: Rounding, overflow: Overflow
) -> np.ndarray:
    """Round flat uint32 float32 patterns ``u``; returns uint32 float32 patterns."""
    return blockwise(_table_kernel(fmt, mode, overflow), u)


@functools.lru_cache(maxsize=64)
def _table_kernel(fmt: FloatFormat, mode: Rounding, overflow: Overflow) -> Callable[..., None]:
    """The block function of the table path for one (format, mode, overflow), built once."""
    table = _table(fmt, mode, overflow)

    def block(out: np.ndarray, b: np.ndarray) -> None:
        n = b.size
        scratch = _scratch()
        index = np.right_shift(b, 15, out=scratch[0][:n])
        index &= 0x1FFFE  # (top 16 bits) << 1
        low = np.bitwise_and(b, 0xFFFF, out=scratch[1][:n])
        index |= np.not_equal(low, 0, out=scratch[5][:n])
        np.take(table, index, out=out)

    return block


def clean_limit(fmt: FloatFormat) -> np.float32:
    """The largest float32 that rounds to nearest-even without passing ``fmt.max``: the tie
    above ``max`` when ``max``'s last kept bit is even (the tie then rounds down to it), else the
    float32 just below that tie."""
    max_bits = int(_bits(fmt.max))
    kept_is_odd = (max_bits >> (23 - fmt.mantissa_bits)) & 1
    return np.uint32(max_bits + (1 << (23 - fmt.mantissa_bits)) // 2 - kept_is_odd).view(np.float32)


@functools.lru_cache(maxsize=256)
def float32_path(
    fmt: FloatFormat, mode: Rounding, overflow: Overflow
) -> Callable[[np.ndarray, np.random.Generator | None], np.ndarray] | None:
    """The fast path for (format, mode, overflow), resolved once: ``round(u, rng)`` on flat
    uint32 float32 patterns, returning uint32 patterns; None when neither path applies."""
    if table_path_applies(fmt, mode):
        table_block = _table_kernel(fmt, mode, overflow)
        magic = magic_constants(fmt) if mode is Rounding.NEAREST_EVEN else None
        if magic is None:
            return lambda u, rng: blockwise(table_block, u)
        limit = clean_limit(fmt)

        def magic_or_table(out: np.ndarray, b: np.ndarray) -> None:
            """Clean blocks (the usual case: scaled tensors) by the magic constant, which is
            2-3x faster than the table's gather; others by the table."""
            if _is_clean(b, limit):
                _magic_block(out, b, magic)
            else:
                table_block(out, b)

        return lambda u, rng: blockwise(magic_or_table, u)
    if not bits_path_applies(fmt):
        return None
    bits_block = _bits_kernel(fmt, mode, overflow)
    if mode is Rounding.STOCHASTIC:

        def stochastic(u: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
            if rng is None:
                raise ValueError("stochastic rounding needs rng=np.random.default_rng(seed)")
            return blockwise(bits_block, u, random_bits(rng, u.size))

        return stochastic
    return lambda u, rng: blockwise(bits_block, u)


# -- the bits path ---------------------------------------------------------------------------
def round_by_bits(
    u: np.ndarray,
    fmt: FloatFormat,
    mode: Rounding,
    overflow: Overflow,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """Round flat uint32 float32 patterns ``u``; returns uint32 float32 patterns."""
    block = _bits_kernel(fmt, mode, overflow)
    if mode is Rounding.STOCHASTIC:
        if rng is None:
            raise ValueError("stochastic rounding needs rng=np.random.default_rng(seed)")
        return blockwise(block, u, random_bits(rng, u.size))
    return blockwise(block, u)


@functools.lru_cache(maxsize=64)
def _bits_kernel(fmt: FloatFormat, mode: Rounding, overflow: Overflow) -> Callable[..., None]:
    """The block function of the bits path for one (format, mode, overflow), built once.

    Element-wise selects are arithmetic or ``np.where``: boolean-mask assignment is several times
    slower on the dense, random masks of wide-range data.
    """
    m = fmt.mantissa_bits
    base = 23 - m
    min_normal_field = fmt.emin + 127  # float32 exponent field of smallest_normal
    variable = min_normal_field > 1
    # Discarded bits: base + clip(min_normal_field - max(field, 1), 0, extra_max). At most 23 in
    # the arithmetic below; magnitudes under the smallest subnormal take the tiny branch.
    extra_max = min(m + 1, min_normal_field - 1)
    has_lowest_binade = variable and base + extra_max >= 23
    tiny = fmt.smallest_subnormal if fmt.has_subnormals else fmt.smallest_normal
    has_tiny_branch = tiny > 2.0**-149
    tiny_bits = _bits(tiny)
    half_tiny_bits = _bits(tiny / 2) if has_tiny_branch else np.uint32(0)
    max_bits = _bits(fmt.max)
    saturates = overflow is Overflow.SATURATE or not (fmt.has_inf or fmt.has_nan)
    over_bits = max_bits if saturates else (_INF if fmt.has_inf else _NAN)
    infinite_bits = _INF if fmt.has_inf else (max_bits if saturates else _NAN)
    no_negative_zero = not fmt.has_negative_zero
    rule = RULES[mode]

    # A block whose magnitudes are all at most `clean_max` (no NaN, inf or overflow) rounds to
    # nearest even on the signed patterns directly: the sign bit rides along, never reached by a
    # carry. For formats with float32's exponent range (bf16, tf32) that is the whole story.
    library_cast = ml_dtypes.bfloat16 if (m, fmt.emin, fmt.emax) == (7, -126, 127) else None
    clean_max = clean_limit(fmt) if fmt.has_subnormals and mode is Rounding.NEAREST_EVEN else None
    # Formats with a narrower exponent range (fp16) take the magic-constant route instead, where
    # it applies; others have no clean shortcut.
    magic = magic_constants(fmt) if variable and clean_max is not None else None
    if variable and magic is None:
        clean_max = None

    def block(out: np.ndarray, b: np.ndarray, rand: np.ndarray | None = None) -> None:
        n = b.size
        scratch = _scratch()
        if clean_max is not None:
            if _is_clean(b, clean_max):
                if magic is not None:
                    _magic_block(out, b, magic)
                    return
                if library_cast is not None:  # the same rounding, tested bit for bit, in C++
                    out.view(np.float32)[...] = b.view(np.float32).astype(library_cast)
                    return
                rounded = np.right_shift(b, base, out=scratch[1][:n])
                rounded &= 1
                rounded += (1 << base) // 2 - 1
                rounded += b
                np.bitwise_and(rounded, np.uint32(~((1 << base) - 1) & 0xFFFFFFFF), out=out)
                return
        mag = np.bitwise_and(b, _ABS, out=scratch[0][:n])
        if variable:
            shift = np.right_shift(mag, 23, out=scratch[1][:n])
            discarded = shift.view(np.int32)
            np.subtract(np.int32(min_normal_field + base), discarded, out=discarded)
            np.maximum(discarded, base, out=discarded)  # np.clip's wrapper costs ~10 us a call
            np.minimum(discarded, base + extra_max, out=discarded)
            ulp = np.left_shift(np.uint32(1), shift, out=scratch[2][:n])
        else:
            shift = np.uint32(base)
            ulp = np.uint32(1 << base)
        below = np.subtract(ulp, np.uint32(1), out=ulp if variable else None)  # discarded bits
        rounded = _increment(rule, mag, below, b, shift, rand, scratch, n, has_lowest_binade)
        rounded &= ~below

        if has_tiny_branch:
            small = mag < tiny_bits
            if small.any():
                if mode is Rounding.STOCHASTIC:
                    assert rand is not None
                    index = np.flatnonzero(small)
                    a = mag[index].view(np.float32).astype(np.float64)
                    up = rand[index].astype(np.float64) < a / tiny * 2.0**32
                    rounded[index] = tiny_bits * up
                else:  # below the smallest value: floor 0 (even), the midpoint at half of it
                    up = round_away(mode, mag, half_tiny_bits, _even, b >= _SIGN)
                    rounded = np.where(small, tiny_bits * up, rounded)
        over = np.greater(rounded, max_bits, out=scratch[5][:n])
        if over.any():
            if saturates or mode in (Rounding.TOWARD_ZERO, Rounding.ODD):
                np.minimum(rounded, max_bits, out=rounded)
            elif mode in (Rounding.UP, Rounding.DOWN):
                to_inf = overflows_to_infinity(mode, b >= _SIGN)
                rounded = np.where(over, np.where(to_inf, over_bits, max_bits), rounded)
            else:  # nearest and stochastic modes carry every overflow to infinity
                rounded = np.where(over, over_bits, rounded)
            special = mag >= _INF
            if special.any():
                rounded = np.where(special, np.where(mag == _INF, infinite_bits, _NAN), rounded)
        sign = np.bitwise_and(b, _SIGN, out=scratch[4][:n])
        if no_negative_zero:
            sign *= rounded != 0
        np.bitwise_or(rounded, sign, out=out)

    return block


class Magic(NamedTuple):
    """Constants of :func:`round_by_magic` for one format (see :func:`magic_constants`)."""

    scale_down: np.float32  # 2**-(127 + emin): the format's first normal binade -> float32's last
    # subnormal binade
    offset: np.uint32  # added to the exponent bits of the scaled-down input: the pattern of c
    signed_zero: bool  # whether -0 exists (else a negative value rounding to zero gives +0)


@functools.lru_cache(maxsize=64)
def magic_constants(fmt: FloatFormat) -> Magic | None:
    """The constants of the magic-constant rounding to ``fmt``, or None where it does not apply.

    It needs subnormals, 1 to 20 mantissa bits, ``-126 <= emin <= 22`` (float32 subnormal
    inputs then lie below the smallest normal; the scale factor is a float32) and
    ``emax <= 104 + m``, which keeps ``c`` finite.
    """
    m = fmt.mantissa_bits
    if not (
        fmt.has_subnormals
        and fmt.is_signed
        and 1 <= m <= 20
        and -126 <= fmt.emin <= 22
        and fmt.emax <= 104 + m
    ):
        return None
    return Magic(
        scale_down=np.float32(2.0 ** (-127 - fmt.emin)),
        offset=np.uint32(((fmt.emin + 150 - m) << 23) | 0x400000),
        signed_zero=fmt.has_negative_zero,
    )


def round_by_magic(
    out: np.ndarray, x: np.ndarray, magic: Magic, work: np.ndarray, sign: np.ndarray
) -> None:
    """Round float32 ``x`` to nearest-even on the grid of a format into float32 ``out``.

    Valid when every ``|x|`` is at most the format's largest magnitude that does not round
    past its max (the caller checks; NaN and inf excluded). ``work`` and ``sign``: uint32
    scratch of ``x``'s size. Seven float32-speed passes, no comparison or select.

    **Why it is exact.** Let ``e`` be the binade of ``|x|`` (``2**e <= |x| < 2**(e+1)``),
    ``e' = max(e, emin)`` and ``q = 2**(e' - m)`` the format's spacing there, ``m`` its
    mantissa bits. With ``c = 1.5 * 2**(e' + 23 - m)``, ``|x| < 2**(e'+1) <= c/3`` (m <= 20)
    keeps ``x + c`` inside c's binade ``[2**(e'+23-m), 2**(e'+24-m))``, where the float32
    spacing is exactly ``q``: the float32 addition rounds ``x`` to the nearest multiple of
    ``q``, ties to even (``c / q = 3 * 2**(22-m)`` is even, so parities agree). Multiples of
    ``q`` in binade ``e'`` are exactly the format's values there (its subnormals below
    ``emin``), so ``fl(x + c) = c + RNE(x)`` and ``fl(x + c) - c`` is exact (Sterbenz).

    ``c`` is built without a comparison: ``x * 2**-(127+emin)`` puts the format's first normal
    binade and everything below it into float32's subnormals, whose exponent bits are 0, and
    each binade above at exponent bits ``e - emin``; adding ``offset`` to those exponent bits
    gives c's pattern (an exponent field of at most ``emax + 150 - m <= 254``). One corner: the
    float32 just below ``2**(emin+1)`` scales to the midpoint below float32's smallest normal
    and rounds up to it, giving the next binade's ``c`` (spacing ``2q``); the result is still
    right: both grids round it to ``2**(emin+1)``, a value of both, ``2**(emin-23)`` away.

    A result of zero comes out +0; the sign of ``x`` is then put back (``-0`` for negative
    inputs) in formats that have ``-0``.
    """
    with np.errstate(under="ignore"):
        c = np.multiply(x, magic.scale_down, out=work.view(np.float32))
    bits = c.view(np.uint32)
    bits &= _INF  # exponent bits only
    bits += magic.offset
    np.add(x, c, out=out)
    out -= c
    if magic.signed_zero:
        np.bitwise_and(x.view(np.uint32), _SIGN, out=sign)
        out_bits = out.view(np.uint32)
        out_bits |= sign


def _is_clean(b: np.ndarray, limit: np.float32) -> bool:
    """Whether every magnitude of the float32 patterns ``b`` is at most ``limit`` (False with a
    NaN): two reductions, no temporary."""
    x = b.view(np.float32)
    return bool(x.max(initial=0) <= limit and -x.min(initial=0) <= limit)


def _magic_block(out: np.ndarray, b: np.ndarray, magic: Magic) -> None:
    """:func:`round_by_magic` of one clean block of uint32 patterns, in the thread's scratch."""
    scratch = _scratch()
    n = b.size
    round_by_magic(out.view(np.float32), b.view(np.float32), magic, scratch[0][:n], scratch[1][:n])


def _scratch() -> list[np.ndarray]:
    """This thread's work buffers of one block (5 uint32, 1 bool), kept between calls
    (measured 6x faster on 100k-element arrays than fresh temporaries)."""
    return scratch("formats.block", _block_buffers)


def _block_buffers() -> list[np.ndarray]:
    return [np.empty(BLOCK, np.uint32) for _ in range(5)] + [np.empty(BLOCK, bool)]


def random_bits(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniform uint32 words: the generator's raw 64-bit output split in two (4x faster than
    ``rng.integers``); deterministic for a seeded generator."""
    return rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]


def _even() -> np.bool_:
    return np.False_


def _increment(
    rule: Rule,
    mag: np.ndarray,
    below: np.ndarray | np.uint32,
    b: np.ndarray,
    shift: np.ndarray | np.uint32,
    rand: np.ndarray | None,
    scratch: list[np.ndarray],
    n: int,
    has_lowest_binade: bool,
) -> np.ndarray:
    """The magnitudes ``mag`` plus the increment of ``rule``, before the discarded bits
    ``below`` are cleared: integer arithmetic on the patterns, no comparison per element.

    A nearest rule adds half a quantum minus one, plus 1 where the tie goes away (so exactly
    the magnitudes past the midpoint, and the ties that go away, carry into the kept bits); a
    uniform rule adds ``below`` (a whole quantum minus one) where it goes away, or for
    ``if even`` (round to odd) sets the last kept bit of inexact magnitudes.
    """

    def odd_bit() -> np.ndarray:
        odd = np.right_shift(mag, shift, out=scratch[3][:n])
        if has_lowest_binade:
            # With 23 discarded bits the kept count is the implicit bit, 1 (odd), while bit 23
            # of the pattern is the exponent's last bit: 1 where shift == 23 (24 goes to the
            # tiny branch).
            implicit = np.add(shift, np.uint32(9), out=scratch[4][:n])
            implicit >>= 5
            odd |= implicit
        odd &= 1
        return odd

    negative = b >= _SIGN
    if rule.is_nearest:
        tie = rule.at_half
        if tie is Away.IF_ODD:
            rounded = odd_bit()
            rounded += below >> 1
            rounded += mag
            return rounded
        return mag + ((below >> 1) + np.asarray(decide(tie, odd_bit, negative), np.uint32))
    away = rule.below_half
    if away is Away.AT_RANDOM:
        if rand is None:
            raise ValueError("stochastic rounding needs random bits")
        return mag + (rand & below)
    if away is Away.IF_EVEN:  # truncate, then set the last kept bit where anything was discarded
        last_bit = (below + np.uint32(1)) * ((mag & below) != 0)
        if has_lowest_binade:
            last_bit *= shift != 23  # the implicit bit is already odd there
        return mag | last_bit
    if away is Away.NEVER:
        return mag.copy()
    return mag + below * np.asarray(decide(away, odd_bit, negative), np.uint32)
