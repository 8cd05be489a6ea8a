"""The bits route: rounding float32 to any narrower format by integer arithmetic on its pattern.

**Why it is exact.** On the uint32 pattern of a magnitude, rounding to ``m`` mantissa bits is
integer arithmetic: add the mode's increment (:data:`mixprec.formats.rounding.RULES`, turned
into integers by :func:`_increment`) below the kept bits, then clear them. A carry out of the
mantissa moves to the next binade, and out of the top binade to the inf pattern, both correct.
The number of discarded bits is ``23 - m`` in the format's normal range and grows by one per
binade below its ``smallest_normal`` (subnormals), which keeps the arithmetic linear as long as
at most 23 bits are discarded, i.e. for magnitudes at least the smallest subnormal; smaller
magnitudes round to 0 or to the smallest subnormal by a comparison (:func:`_tiny`). Valid for
signed formats with a zero, ``emin >= -126`` (float32 subnormal inputs then share one quantum)
and every value a float32. Overflow, inf and NaN are patched afterwards (:func:`_overflow`).

Element-wise selects are arithmetic or ``np.where``: boolean-mask assignment is several times
slower on the dense, random masks of wide-range data.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from mixprec.formats.fast32.blocks import ABS, INF, NAN, SIGN, Block, bits_of, block_scratch
from mixprec.formats.reference import overflows_to_infinity
from mixprec.formats.rounding import RULES, Away, Rule, decide, round_away
from mixprec.formats.spec import FloatFormat, Format, Overflow, Rounding


@functools.lru_cache(maxsize=256)
def fits_float32(fmt: Format) -> bool:
    """True when every value of ``fmt`` is a float32."""
    if isinstance(fmt, FloatFormat):
        return fmt.mantissa_bits <= 23 and fmt.emax <= 127 and fmt.smallest_subnormal >= 2.0**-149
    code_bits = fmt.bits - int(fmt.is_signed)
    return code_bits <= 24 and -149 <= -fmt.frac_bits and fmt.max < 2.0**127


@functools.lru_cache(maxsize=256)
def applies(fmt: Format) -> bool:
    """Whether the bits route rounds ``fmt`` (every mode)."""
    return (
        isinstance(fmt, FloatFormat)
        and fits_float32(fmt)
        and fmt.mantissa_bits < 23
        and fmt.emin >= -126
        and fmt.is_signed
        and fmt.has_zero
    )


class _Plan(NamedTuple):
    """The constants of one (format, mode, overflow), computed once."""

    mode: Rounding
    rule: Rule
    base: int  # discarded bits in the normal range: 23 - m
    min_normal_field: int  # float32 exponent field of smallest_normal
    variable: bool  # the discarded count grows below smallest_normal (emin > -126)
    extra_max: int  # at most this many more bits discarded (at most 23 in all)
    has_lowest_binade: bool  # some magnitudes discard exactly 23 bits
    tiny: float  # the smallest positive value
    tiny_bits: np.uint32
    half_tiny_bits: np.uint32
    has_tiny_branch: bool  # some float32 magnitudes lie below `tiny`
    max_bits: np.uint32
    over_bits: np.uint32  # what an overflow becomes (when it does not stop at max)
    infinite_bits: np.uint32  # what ±inf becomes
    saturates: bool
    no_negative_zero: bool


def _plan(fmt: FloatFormat, mode: Rounding, overflow: Overflow) -> _Plan:
    m = fmt.mantissa_bits
    base = 23 - m
    min_normal_field = fmt.emin + 127
    variable = min_normal_field > 1
    # Discarded bits: base + clip(min_normal_field - max(field, 1), 0, extra_max).
    extra_max = min(m + 1, min_normal_field - 1)
    tiny = fmt.smallest_subnormal if fmt.has_subnormals else fmt.smallest_normal
    has_tiny_branch = tiny > 2.0**-149
    max_bits = bits_of(fmt.max)
    saturates = overflow is Overflow.SATURATE or not (fmt.has_inf or fmt.has_nan)
    return _Plan(
        mode=mode,
        rule=RULES[mode],
        base=base,
        min_normal_field=min_normal_field,
        variable=variable,
        extra_max=extra_max,
        has_lowest_binade=variable and base + extra_max >= 23,
        tiny=tiny,
        tiny_bits=bits_of(tiny),
        half_tiny_bits=bits_of(tiny / 2) if has_tiny_branch else np.uint32(0),
        has_tiny_branch=has_tiny_branch,
        max_bits=max_bits,
        over_bits=max_bits if saturates else (INF if fmt.has_inf else NAN),
        infinite_bits=INF if fmt.has_inf else (max_bits if saturates else NAN),
        saturates=saturates,
        no_negative_zero=not fmt.has_negative_zero,
    )


@functools.lru_cache(maxsize=64)
def kernel(fmt: FloatFormat, mode: Rounding, overflow: Overflow) -> Block:
    """The block function ``block(out, b, rand=None)`` of the bits route, built once.

    ``rand``: uniform uint32 words, one per element, for stochastic rounding.
    """
    plan = _plan(fmt, mode, overflow)

    def block(out: np.ndarray, b: np.ndarray, rand: np.ndarray | None = None) -> None:
        n = b.size
        scratch = block_scratch()
        mag = np.bitwise_and(b, ABS, out=scratch[0][:n])
        shift, below = _discarded(plan, mag, scratch, n)
        rounded = _increment(plan, mag, below, b, shift, rand, scratch, n)
        rounded &= ~below
        if plan.has_tiny_branch:
            rounded = _tiny(plan, rounded, mag, b, rand)
        rounded = _overflow(plan, rounded, mag, b, scratch[5][:n])
        sign = np.bitwise_and(b, SIGN, out=scratch[4][:n])
        if plan.no_negative_zero:
            sign *= rounded != 0
        np.bitwise_or(rounded, sign, out=out)

    return block


def clean_kernel(mantissa_bits: int) -> Block:
    """Nearest-even rounding of a clean block (no NaN, inf or overflow) on the signed patterns.

    Exact for formats with float32's exponent range (``emin == -126``): the discarded count is
    ``23 - m`` in every binade, float32 subnormals included, and the sign bit rides along (a
    clean block never carries into it).
    """
    base = 23 - mantissa_bits
    keep = np.uint32(~((1 << base) - 1) & 0xFFFFFFFF)

    def block(out: np.ndarray, b: np.ndarray) -> None:
        rounded = np.right_shift(b, base, out=block_scratch()[1][: b.size])
        rounded &= 1
        rounded += (1 << base) // 2 - 1
        rounded += b
        np.bitwise_and(rounded, keep, out=out)

    return block


def _discarded(
    plan: _Plan, mag: np.ndarray, scratch: list[np.ndarray], n: int
) -> tuple[np.ndarray | np.uint32, np.ndarray | np.uint32]:
    """The number of discarded bits of each magnitude, and the mask of those bits."""
    if not plan.variable:
        return np.uint32(plan.base), np.uint32((1 << plan.base) - 1)
    shift = np.right_shift(mag, 23, out=scratch[1][:n])
    discarded = shift.view(np.int32)
    np.subtract(np.int32(plan.min_normal_field + plan.base), discarded, out=discarded)
    np.maximum(discarded, plan.base, out=discarded)  # np.clip's wrapper costs ~10 us a call
    np.minimum(discarded, plan.base + plan.extra_max, out=discarded)
    ulp = np.left_shift(np.uint32(1), shift, out=scratch[2][:n])
    return shift, np.subtract(ulp, np.uint32(1), out=ulp)


def _increment(
    plan: _Plan,
    mag: np.ndarray,
    below: np.ndarray | np.uint32,
    b: np.ndarray,
    shift: np.ndarray | np.uint32,
    rand: np.ndarray | None,
    scratch: list[np.ndarray],
    n: int,
) -> np.ndarray:
    """``mag`` plus the increment of the mode's rule, before the discarded bits are cleared.

    A nearest rule adds half a quantum minus one, plus 1 where the tie goes away, so exactly the
    magnitudes past the midpoint, and the ties that go away, carry into the kept bits. A uniform
    rule adds ``below`` (a quantum minus one) where it goes away, random bits below the kept
    ones for ``at random``, or sets the last kept bit of inexact magnitudes for ``if even``
    (round to odd: the same result, as the carry of an even count never passes it).
    """

    def odd_bit() -> np.ndarray:
        odd: np.ndarray = np.right_shift(mag, shift, out=scratch[3][:n])
        if plan.has_lowest_binade:
            # With 23 discarded bits the kept count is the implicit bit, 1 (odd), while bit 23
            # of the pattern is the exponent's last bit: 1 where shift == 23 (24 goes to the
            # tiny branch).
            implicit = np.add(shift, np.uint32(9), out=scratch[4][:n])
            implicit >>= 5
            odd |= implicit
        odd &= 1
        return odd

    rule = plan.rule
    signed = (Away.IF_POSITIVE, Away.IF_NEGATIVE)
    negative = (b >= SIGN) if rule.at_half in signed or rule.below_half in signed else False
    if rule.is_nearest:
        if rule.at_half is Away.IF_ODD:
            rounded = odd_bit()
            rounded += below >> 1
            rounded += mag
            return rounded
        tie = np.asarray(decide(rule.at_half, odd_bit, negative), np.uint32)
        tied: np.ndarray = mag + ((below >> 1) + tie)
        return tied
    away = rule.below_half
    if away is Away.AT_RANDOM:
        if rand is None:
            raise ValueError("stochastic rounding needs random bits")
        return mag + (rand & below)
    if away is Away.IF_EVEN:
        last_bit = (below + np.uint32(1)) * ((mag & below) != 0)
        if plan.has_lowest_binade:
            last_bit *= shift != 23  # the implicit bit is already odd there
        odd_result: np.ndarray = mag | last_bit
        return odd_result
    if away is Away.NEVER:
        return np.array(mag)
    directed: np.ndarray = mag + below * np.asarray(decide(away, odd_bit, negative), np.uint32)
    return directed


def _even() -> np.bool_:
    return np.False_


def _tiny(
    plan: _Plan, rounded: np.ndarray, mag: np.ndarray, b: np.ndarray, rand: np.ndarray | None
) -> np.ndarray:
    """Magnitudes below the smallest positive value round to 0 or to it: floor 0 (even), the
    midpoint at half of it. Float32 patterns order like the magnitudes they encode."""
    small = mag < plan.tiny_bits
    if not small.any():
        return rounded
    if plan.rule.below_half is Away.AT_RANDOM:
        if rand is None:
            raise ValueError("stochastic rounding needs random bits")
        index = np.flatnonzero(small)
        a = mag[index].view(np.float32).astype(np.float64)
        up = rand[index].astype(np.float64) < a / plan.tiny * 2.0**32
        rounded[index] = plan.tiny_bits * up
        return rounded
    up = round_away(plan.mode, mag, plan.half_tiny_bits, _even, b >= SIGN)
    return np.where(small, plan.tiny_bits * up, rounded)


def _overflow(
    plan: _Plan, rounded: np.ndarray, mag: np.ndarray, b: np.ndarray, over: np.ndarray
) -> np.ndarray:
    """Patch results beyond ``max`` (IEEE 754-2019 §7.4, or saturation) and ±inf, NaN inputs."""
    np.greater(rounded, plan.max_bits, out=over)
    if not over.any():
        return rounded
    to_max = plan.rule.above_half in (Away.NEVER, Away.IF_EVEN)  # toward zero, odd
    if plan.saturates or to_max:
        np.minimum(rounded, plan.max_bits, out=rounded)
    elif plan.rule.above_half in (Away.IF_POSITIVE, Away.IF_NEGATIVE):
        to_inf = overflows_to_infinity(plan.mode, b >= SIGN)
        rounded = np.where(over, np.where(to_inf, plan.over_bits, plan.max_bits), rounded)
    else:  # nearest and stochastic modes carry every overflow to infinity
        rounded = np.where(over, plan.over_bits, rounded)
    special = mag >= INF
    if special.any():
        rounded = np.where(special, np.where(mag == INF, plan.infinite_bits, NAN), rounded)
    return rounded
