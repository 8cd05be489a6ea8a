"""Accumulation: one rounded addition (per accumulator kind) and the orders that chain them.

An *adder* ``add(acc, p)`` returns ``acc + p`` rounded once to the accumulator format, with the
overflow policy applied and the events counted; it may write the result into ``acc``.
:func:`reduce` chains adders in a given order over the K products of a dot product, vectorized
over any number of outputs.

The general float adder rounds exactly whatever the operands (two float64 values): TwoSum
(Knuth, TAOCP vol. 2, 4.2.2) gives ``s = fl(a + b)`` and the exact error ``e`` with
``a + b = s + e``; where ``e != 0`` and ``s`` has an even last bit, ``s`` steps one float64 ulp
toward ``e``. That is ``s`` rounded to odd at 53 bits, and rounding it to any format of at most
51 bits with any mode gives the correctly rounded ``a + b`` (Boldo & Melquiond, "Emulation of a
FMA and correctly rounded sums: proved algorithms using rounding to odd", IEEE TC 57(4), 2008,
Thm. 1: round-to-odd with p + k bits, k >= 2, then rounding to p bits is exact). For fp64
accumulators (53 bits) ``s`` itself is the round-to-nearest-even sum.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mixprec.formats import FloatFormat, IntFormat
from mixprec.formats.reference import overflow_value, overflows_to_infinity, round_float
from mixprec.formats.rounding import round_away
from mixprec.formats.spec import Overflow, Rounding
from mixprec.mac.order import Order, OrderKind
from mixprec.mac.stats import EventCounter

Adder = Callable[[np.ndarray, np.ndarray], np.ndarray]


def rounds_beyond_max(x: np.ndarray, fmt: FloatFormat, mode: Rounding) -> np.ndarray:
    """Whether finite ``x`` rounds, with an unbounded exponent range, beyond ``fmt.max``.

    That is IEEE 754-2019 §7.4 overflow. Beyond ``max`` the next grid point is ``max + u`` with
    ``u`` the quantum of the top binade; ``|x| - max`` is exact there (Sterbenz). ``x`` is a
    float64 that carries the exact value's position relative to the grid of ``fmt`` and its
    midpoints (exact, or rounded to odd at 53 bits).
    """
    a = np.abs(x)
    top = fmt.max
    u = 2.0 ** (fmt.emax - fmt.mantissa_bits)
    if mode is Rounding.STOCHASTIC:
        raise ValueError(f"no overflow rule for rounding {mode.value!r}")
    with np.errstate(invalid="ignore", over="ignore"):
        d = a - top  # past max: max + u is the next grid point, reached at once from d >= u
        odd_top = bool((top / u) % 2 == 1)
        away = round_away(mode, d, u / 2, lambda: odd_top, np.signbit(x))
        up = (d >= u) | ((d > 0) & away)
        result: np.ndarray = np.isfinite(x) & up
        return result


def two_sum_round_to_odd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` rounded to odd at 53 bits (TwoSum, then a step toward the error)."""
    s: np.ndarray = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    e[~np.isfinite(s)] = 0.0
    bits = s.view(np.int64)
    fix = (e != 0) & ((bits & 1) == 0)
    if fix.any():
        toward = np.where(np.signbit(e[fix]) == np.signbit(s[fix]), 1, -1)
        bits[fix] += toward
    return s


def rounded_sum_adder(
    rounded_sum: Adder, top: float, overflow: Overflow, counter: EventCounter | None
) -> Adder:
    """The adder of a sum that a native float type rounds (to ±inf past its range), e.g.
    numpy's float32/float64 addition: ``rounded_sum(acc, p)``, then the overflow policy on the
    sums that went to ±inf from finite operands (counted; ±``top`` under ``saturate``).

    ``rounded_sum`` must return a new array (the operands are read after it)."""
    event = "saturations" if overflow is Overflow.SATURATE else "overflows"

    def add(acc: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            s = rounded_sum(acc, p)
            if counter is None and overflow is Overflow.INF:
                return s
            over = np.isinf(s) & np.isfinite(acc) & np.isfinite(p)
            if over.any():
                if counter is not None:
                    counter.add(event, np.count_nonzero(over))
                if overflow is Overflow.SATURATE:
                    s[over] = np.copysign(top, s[over])
        return s

    return add


def float_adder(
    fmt: FloatFormat, mode: Rounding, overflow: Overflow, counter: EventCounter | None
) -> Adder:
    """The exact general adder for a float accumulator (float64 operands and results)."""
    native64 = fmt.mantissa_bits == 52
    event = "saturations" if overflow is Overflow.SATURATE else "overflows"

    def add(acc: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            if native64:
                s = acc + p  # round-to-nearest-even in fp64 itself
            else:
                s = two_sum_round_to_odd(acc, p)
            finite_operands = np.isfinite(acc) & np.isfinite(p)
            r = round_float(s, fmt, mode, overflow)
            over = finite_operands & (~np.isfinite(s) | rounds_beyond_max(s, fmt, mode))
            if over.any():
                negative = np.signbit(s[over])
                if overflow is Overflow.SATURATE:
                    value = np.full(negative.shape, fmt.max)
                else:
                    to_inf = overflows_to_infinity(mode, negative)
                    value = np.where(to_inf, overflow_value(fmt), fmt.max)
                r[over] = np.where(negative, -value, value)
                if counter is not None:
                    counter.add(event, np.count_nonzero(over))
            if mode is Rounding.DOWN and fmt.has_negative_zero:  # IEEE 754 §6.3: exact 0 is -0
                zero = (s == 0) & ~((acc == 0) & (p == 0) & ~np.signbit(acc) & ~np.signbit(p))
                r[zero] = -0.0
        return r

    return add


def int_adder(fmt: IntFormat, overflow: Overflow, counter: EventCounter | None) -> Adder:
    """The adder of an integer accumulator, on int64 codes (exact: |acc|, |p| < 2**61)."""
    low, high = fmt.min_code, fmt.max_code
    period_mask = np.int64(2**fmt.bits - 1)
    event = "wraps" if overflow is Overflow.WRAP else "saturations"

    def add(acc: np.ndarray, p: np.ndarray) -> np.ndarray:
        s: np.ndarray = acc + p
        out = (s < low) | (s > high)
        if out.any():
            if counter is not None:
                counter.add(event, np.count_nonzero(out))
            if overflow is Overflow.WRAP:
                s = ((s - low) & period_mask) + low
            else:
                s = np.clip(s, low, high)
        return s

    return add


def reduce(
    order: Order,
    count: int,
    term: Callable[[int], np.ndarray],
    add: Adder,
    init: np.ndarray,
) -> np.ndarray:
    """Add ``term(0) ... term(count - 1)`` into ``init`` with ``add``, in ``order``.

    ``fast`` runs as ``sequential`` (one of the orders it allows). Inner accumulators of
    ``chunked`` start from +0. An adder may write its result into its first argument, so ``init``
    is copied, and ``term`` must return a fresh array for ``pairwise`` (whose terms become
    accumulators); for the other orders each term is consumed before the next one is made.
    Products and sums of specials (0 * inf, inf - inf) are defined here: no numpy warnings.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return _reduce(order, count, term, add, init)


def _reduce(
    order: Order,
    count: int,
    term: Callable[[int], np.ndarray],
    add: Adder,
    init: np.ndarray,
) -> np.ndarray:
    if order.kind in (OrderKind.SEQUENTIAL, OrderKind.FAST):
        acc: np.ndarray = init.copy()
        for k in range(count):
            acc = add(acc, term(k))
        return acc
    if order.kind is OrderKind.CHUNKED:
        assert order.chunk is not None
        acc = init.copy()
        for start in range(0, count, order.chunk):
            inner = np.zeros_like(init)
            for k in range(start, min(start + order.chunk, count)):
                inner = add(inner, term(k))
            acc = add(acc, inner)
        return acc
    # pairwise: a binary counter of complete subtrees; merge equal sizes as soon as they appear
    stack: list[tuple[int, np.ndarray]] = []
    for k in range(count):
        size, value = 1, term(k).copy()
        while stack and stack[-1][0] == size:
            value = add(stack.pop()[1], value)
            size *= 2
        stack.append((size, value))
    if not stack:
        copy: np.ndarray = init.copy()
        return copy
    value = stack.pop()[1]
    while stack:
        value = add(stack.pop()[1], value)
    return add(init.copy(), value)
