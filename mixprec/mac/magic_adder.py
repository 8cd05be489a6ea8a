"""Fast exact adders for low-precision float accumulators (fp16, bf16, fp8, ...), RNE.

The accumulator ``a`` (a value of the format T, precision t, smallest subnormal qT, largest
finite MT, top quantum uT) and the addend ``b`` (a float64 with at most ``pb`` significant bits:
an exact product, a product-format value or another T value) are added in float64,
``s = RN53(a + b)``, and ``s`` is rounded to T by the "magic constant" trick:
``r = (s + C) - C`` with ``C = 1.5 * 2**(e + 52 - m)``, ``2**e`` the binade of ``s`` (at least
T's smallest normal) and ``m = t - 1``: ``s + C`` lies in C's binade whose ulp is T's quantum
``2**(e - m)`` at ``s``, so that one float64 addition rounds ``s`` to T's grid with ties to even
(``C / ulp = 1.5 * 2**52`` is even), and subtracting ``C`` is exact. The grid continues above MT,
so values beyond it are then overflows. The sign of a zero result is restored from ``s``
(IEEE 754-2019 §6.3: a rounded nonzero keeps its sign; an exact-zero sum of opposite signs is +0).

**Lemma** (no double rounding). Let x = a + b exactly. If ``t + pb <= 50``, then
``RN_T(RN53(x)) = RN_T(x)`` unless ``b`` is a midpoint of T's grid and ``a != 0`` is absorbed
(``RN53(x) == b``); that case is impossible when ``2 * MT < 2**53 * qT``.

*Proof.* Midpoints of T are float64 numbers and RN53 is monotone, so the two roundings differ
only if s = RN53(x) is a midpoint mu of T with x != mu, hence 0 < |x - mu| <= 2**-53 |mu|.
x - mu = a + b - mu is a multiple of min(lsb(a), lsb(b), lsb(mu)) (lsb: weight of the last
significant bit; all are powers of two), so one of them is <= 2**-53 |mu|. mu has t + 1 <= 52
bits: lsb(mu) > 2**-53 |mu|. (i) If lsb(b) <= 2**-53 |mu|, then |b| < 2**(pb - 53) |mu|; a is a
grid point of T, at distance >= 2**-(t + 2) |mu| from the midpoint mu, so
|x - mu| >= (2**-(t + 2) - 2**(pb - 53)) |mu| > 2**-53 |mu| since t + pb <= 50: contradiction.
(ii) If lsb(a) <= 2**-53 |mu|: lsb(a) >= qT, and only midpoints up to the overflow threshold
MT + uT/2 < 2 MT matter (beyond it both roundings overflow), so 2**53 qT < 2 MT; and
|a| < 2**(t - 53) |mu|. If b != mu, |b - mu| >= 2**-(pb + 2) |mu| and |x - mu| > 2**-53 |mu| as
in (i). So b == mu, and x - mu = a is absorbed. QED.

For fp16 (2 MT = 2**17 < 2**53 * 2**-24) and the fp8 formats the exception cannot occur. For
bf16-like formats it can; it implies ``s == b`` with ``a != 0``, so ``(s - b) != a`` flags it
(and some harmless inexact sums), and the flagged elements are redone by the general adder.
Products must be finite (the caller checks); overflow is detected as ``|r| > MT`` unless the
caller proved that no partial sum can reach MT, and an accumulator that overflowed to inf or NaN
then passes through (``s`` itself).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mixprec.formats import FloatFormat, Format, IntFormat
from mixprec.formats.reference import overflow_value
from mixprec.formats.spec import Overflow, Rounding
from mixprec.mac.accumulate import Adder, float_adder
from mixprec.mac.config import MacConfig
from mixprec.mac.order import Order, OrderKind
from mixprec.mac.stats import EventCounter

_EXPONENT = np.uint64(0x7FF0000000000000)
_SIGN = np.uint64(0x8000000000000000)


def magic_applies(fmt: FloatFormat, addend_bits: int, mode: Rounding) -> bool:
    """Whether :func:`magic_adder` is exact for ``fmt`` and addends of ``addend_bits`` bits."""
    return (
        mode is Rounding.NEAREST_EVEN
        and fmt.precision + addend_bits <= 50
        and fmt.is_signed
        and fmt.has_zero
        and fmt.emax <= 900
        and fmt.smallest_subnormal >= 2.0**-900
    )


def absorption_possible(fmt: FloatFormat) -> bool:
    """Whether the lemma's exception (an absorbed accumulator) can occur for ``fmt``."""
    return 2 * fmt.max >= 2.0**53 * fmt.smallest_subnormal


def magic_adder(
    fmt: FloatFormat,
    overflow: Overflow,
    counter: EventCounter | None,
    check_overflow: bool = True,
    sign_zeros: bool = True,
    absorb: bool = True,
) -> Adder:
    """An exact RNE adder for finite float64 operands (see the module's lemma).

    Args:
        fmt: the accumulator format (:func:`magic_applies` must hold).
        overflow: ``inf`` or ``saturate``.
        counter: the event counter, or None.
        check_overflow: False when the caller proved that no sum reaches ``fmt.max``.
        absorb: False when the caller proved that the lemma's exception cannot occur (else it
            is checked where :func:`absorption_possible` says the format allows it).
        sign_zeros: False leaves the sign of zero results unspecified (saving two passes). A
            zero's sign never changes a later nonzero sum (``±0 + p = p``), so only outputs
            whose final value is zero need recomputing, which the caller then does.
    """
    smallest_normal = fmt.smallest_normal
    scale = 1.5 * 2.0 ** (52 - fmt.mantissa_bits)  # C = 2**e * scale
    top = fmt.max
    absorb = absorb and absorption_possible(fmt)
    over_value = top if overflow is Overflow.SATURATE else overflow_value(fmt)  # inf, NaN or max
    event = "saturations" if overflow is Overflow.SATURATE else "overflows"

    slow = float_adder(fmt, Rounding.NEAREST_EVEN, Overflow.INF, None)
    space: list[np.ndarray] = []  # s, c and their uint64 views, for the last shape seen

    def add(acc: np.ndarray, p: np.ndarray) -> np.ndarray:
        """``acc + p`` rounded to ``fmt``, written into ``acc`` (which is returned).

        Call inside ``np.errstate(invalid="ignore", over="ignore")`` (as :func:`reduce` does)
        when overflow is possible.
        """
        if not space or space[0].shape != acc.shape:
            s, c = np.empty(acc.shape), np.empty(acc.shape)
            space[:] = [s, c, s.view(np.uint64), c.view(np.uint64)]
        s, c, s_bits, c_bits = space
        np.add(acc, p, out=s)
        fixed = None
        if absorb:
            flag = np.subtract(s, p, out=c) != acc
            if flag.any():  # the lemma's exception, and some harmless inexact sums
                fixed = slow(acc[flag], p[flag])
                fixed[~np.isfinite(fixed)] = np.copysign(np.inf, s[flag][~np.isfinite(fixed)])
        np.bitwise_and(s_bits, _EXPONENT, out=c_bits)  # 2**e, the binade of |s|
        np.maximum(c, smallest_normal, out=c)
        c *= scale
        np.add(s, c, out=acc)
        acc -= c
        if sign_zeros:
            np.bitwise_and(s_bits, _SIGN, out=c_bits)
            acc_bits = acc.view(np.uint64)
            acc_bits |= c_bits  # zeros take the sign of s; a nonzero result already has it
        if fixed is not None:
            acc[flag] = fixed
        if check_overflow:  # also passes inf and NaN accumulators (after an overflow) through
            over = ~(np.abs(acc) <= top)
            if over.any():
                through = over & ~np.isfinite(s)
                acc[through] = s[through]
                over &= ~through
                if counter is not None:
                    counter.add(event, np.count_nonzero(over))
                acc[over] = np.copysign(over_value, acc[over])
        return acc

    return add


def _addend_bits(mac: MacConfig) -> int:
    """Significant bits of an addend: a product (or product-format value), or a chunk sum."""
    if mac.product is not None:
        bits = mac.product.precision  # type: ignore[union-attr]
    elif isinstance(mac.input, FloatFormat):
        bits = 2 * mac.input.precision
    else:
        bits = 2 * mac.input.bits
    return max(bits, mac.accumulator.precision)  # type: ignore[union-attr]


def magic_factory(
    mac: MacConfig, a: np.ndarray, b: np.ndarray, init: np.ndarray, order: Order
) -> Callable[[EventCounter | None], Adder] | None:
    """A factory of the exact magic-constant adder (:mod:`mixprec.mac.magic_adder`), or None.

    ``a``, ``b`` and ``init`` are float64 arrays.

    Needs: sequential or chunked order (one addend is always an accumulator value), RNE, finite
    operands and products (a product format must not overflow), and the lemma's bit condition.
    Overflow checks are dropped when no partial sum can reach max: every partial sum of output
    (i, j) is bounded by ``B = max|init| + max_i sum_k |a[i, k]| max_j |b[k, j]|``, grown by at
    most ``(1 + 2**-t)`` per rounding (plus half a subnormal quantum) along at most K + 2
    roundings (chunked: N inner and K/N + 1 outer); ``B`` is computed in float64 with a relative
    error below ``K * 2**-52``.
    """
    acc = mac.accumulator
    assert isinstance(acc, FloatFormat)
    if order.kind is OrderKind.PAIRWISE or not magic_applies(acc, _addend_bits(mac), mac.rounding):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        fa, fb = np.abs(a), np.abs(b)
        if not (np.isfinite(fa).all() and np.isfinite(fb).all() and np.isfinite(init).all()):
            return None
        count = a.shape[1]
        peak = fa.max(initial=0.0) * fb.max(initial=0.0)
        if mac.product is not None and peak >= mac.product.max:
            return None
        column_peak = fb.max(axis=1, initial=0.0)  # max_j |b[k, j]|
        bound = np.abs(init).max(initial=0.0) + (fa @ column_peak).max(initial=0.0)
        growth = (1 + 2.0**-acc.precision) ** (count + 2) * (1 + (count + 2) * 2.0**-52)
        slack = (count + 2) * acc.smallest_subnormal  # subnormal rounding errors are absolute
        check = not bound * growth + slack < acc.max
        absorb = absorption_possible(acc) and _absorption_possible_here(mac, fa, fb, init, peak)
    return lambda counter: magic_adder(
        acc, mac.overflow, counter, check, sign_zeros=False, absorb=absorb
    )


def _quantum(value: float, fmt: Format) -> float:
    """The spacing of ``fmt`` at ``value`` (> 0): a power of two dividing ``value``."""
    if isinstance(fmt, IntFormat):
        return 2.0**-fmt.frac_bits
    exponent = max(int(np.frexp(value)[1]) - 1, fmt.emin)
    return 2.0 ** (exponent - fmt.mantissa_bits)


def _absorption_possible_here(
    mac: MacConfig, fa: np.ndarray, fb: np.ndarray, init: np.ndarray, peak: float
) -> bool:
    """Whether the kernel lemma's exception can occur with these operands.

    Every operand value is a multiple of its format's quantum at its magnitude, so every exact
    partial sum, and every accumulator value (rounding to T keeps multiples of a power of two
    that T's grid refines), is a multiple of ``q = min(q_a * q_b, q_init)`` over the smallest
    nonzero magnitudes: a nonzero accumulator is at least ``q``. Absorption needs a nonzero
    ``|acc| <= 2**-53 |p| <= 2**-53 * peak``; impossible when ``q > 2**-52 * peak``.
    """
    if mac.product is not None:
        return True
    smallest = [float(x[x > 0].min(initial=np.inf)) for x in (fa, fb)]
    if not all(np.isfinite(v) for v in smallest):
        return False  # a zero operand matrix: every product is zero
    q = _quantum(smallest[0], mac.input) * _quantum(smallest[1], mac.input)
    nonzero_init = np.abs(init[init != 0])
    if nonzero_init.size:
        q = min(q, _quantum(float(nonzero_init.min()), mac.accumulator))
    return not q > 2.0**-52 * peak
