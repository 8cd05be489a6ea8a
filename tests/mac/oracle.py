"""A slow, exact MAC in Python integers and ``fractions.Fraction``, independent of mixprec.mac.

Products are exact (a Fraction, or an IEEE special as a float: NaN, ±inf, ±0), sums are exact,
and each addition is rounded once by the Fraction rounding oracle :func:`tests.reference.
exact_round` (two neighbours on the format's grid, chosen by the mode). Orders:

* sequential: ``acc = init``; ``acc = add(acc, p)`` for each product;
* chunked N: inner sums from +0 over chunks of N, each added in turn to ``acc = init``;
* pairwise: ``tree(ps) = add(tree(ps[:h]), tree(ps[h:]))`` with h the largest power of two
  below ``len(ps)``, then ``add(init, tree(ps))``.

Events are counted as :class:`mixprec.mac.MacStats` defines them.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

from mixprec.formats import FloatFormat, IntFormat
from tests.reference import _round_magnitude, exact_round, max_value

Exact = Fraction | float  # float only for NaN, ±inf and ±0


def _special(x: Exact) -> bool:
    return isinstance(x, float) and (x == 0 or not math.isfinite(x))


def exact(x: float) -> Exact:
    """A float64 value as an exact value (keeps NaN, ±inf, ±0 as floats)."""
    return x if _special(x) else Fraction(x)


def multiply(x: float, y: float) -> Exact:
    """The exact IEEE product of two floats."""
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if math.isinf(x) or math.isinf(y):
        if x == 0 or y == 0:
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    if x == 0 or y == 0:
        return math.copysign(0.0, x) * math.copysign(1.0, y)
    return Fraction(x) * Fraction(y)


def _beyond_max(x: Fraction, fmt: FloatFormat, mode: str) -> bool:
    """IEEE overflow: the rounding with an unbounded exponent exceeds max."""
    return _round_magnitude(abs(x), fmt, mode, x < 0) > max_value(fmt)


def _negative(x: Exact) -> bool:
    return math.copysign(1.0, x) < 0 if isinstance(x, float) else x < 0


def round_product(p: Exact, fmt: FloatFormat, mode: str, overflow: str, events: Counter) -> Exact:
    """Round an exact product to the product format, counting as MacStats does."""
    if isinstance(p, float):
        return exact(exact_round(p, fmt, mode, overflow)) if not math.isnan(p) else p
    result = exact_round(p, fmt, mode, overflow)
    if not math.isfinite(result) or Fraction(result) != p:
        events["product_roundings"] += 1
    if _beyond_max(p, fmt, mode):
        events["product_overflows"] += 1
    return exact(result)


def add(a: Exact, b: Exact, fmt: FloatFormat, mode: str, overflow: str, events: Counter) -> Exact:
    """``a + b`` rounded once to ``fmt`` (IEEE 754-2019 §6.3 signs of zero)."""
    if (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return math.nan
    infinite = [x for x in (a, b) if isinstance(x, float) and math.isinf(x)]
    if infinite:
        if len(infinite) == 2 and infinite[0] != infinite[1]:
            return math.nan
        return exact(exact_round(infinite[0], fmt, mode, overflow))
    x = Fraction(a) + Fraction(b)
    if x == 0:
        both_zero = a == 0 and b == 0
        if mode == "down":
            negative = not (both_zero and not _negative(a) and not _negative(b))
        else:
            negative = both_zero and _negative(a) and _negative(b)
        return -0.0 if negative and fmt.has_negative_zero else 0.0
    if _beyond_max(x, fmt, mode):
        events["saturations" if overflow == "saturate" else "overflows"] += 1
    return exact(exact_round(x, fmt, mode, overflow))


def reduce(products: list[Exact], init: Exact, order: str, adder) -> Exact:
    """Chain ``adder`` over ``products`` in ``order`` ('sequential', 'pairwise', 'chunked:N')."""
    if order in ("sequential", "fast"):
        acc = init
        for p in products:
            acc = adder(acc, p)
        return acc
    if order.startswith("chunked:"):
        size = int(order.split(":")[1])
        acc = init
        for start in range(0, len(products), size):
            inner: Exact = 0.0 if not isinstance(init, int) else 0
            for p in products[start : start + size]:
                inner = adder(inner, p)
            acc = adder(acc, inner)
        return acc
    assert order == "pairwise", order

    def tree(ps: list[Exact]) -> Exact:
        if len(ps) == 1:
            return ps[0]
        half = 1 << ((len(ps) - 1).bit_length() - 1)
        return adder(tree(ps[:half]), tree(ps[half:]))

    return adder(init, tree(products)) if products else init


def float_matmul(a, b, mac, init=None, order=None) -> tuple[list[list[float]], Counter]:
    """The exact MAC result of float arrays ``a`` (M×K) and ``b`` (K×N), and its events."""
    cols = b.shape[1]
    a, b = a.tolist(), b.tolist()
    mode, policy = mac.rounding.value, mac.overflow.value
    order = order or str(mac.order)
    acc_fmt = mac.accumulator
    events: Counter = Counter()
    rows, inner = len(a), len(b)
    result = []
    for i in range(rows):
        line = []
        for j in range(cols):
            products = [multiply(a[i][k], b[k][j]) for k in range(inner)]
            if mac.product is not None:
                products = [round_product(p, mac.product, mode, policy, events) for p in products]
            start = exact(init[i][j]) if init is not None else 0.0
            value = reduce(
                products, start, order, lambda x, y: add(x, y, acc_fmt, mode, policy, events)
            )
            line.append(float(value))
        result.append(line)
    return result, events


def int_matmul(a, b, fmt: IntFormat, overflow: str, order: str, init=None):
    """The exact integer MAC (codes) of integer code arrays ``a`` and ``b``, and its events."""
    cols = b.shape[1]
    a, b = a.tolist(), b.tolist()
    low, high = fmt.min_code, fmt.max_code
    events: Counter = Counter()

    def adder(x: int, y: int) -> int:
        s = x + y
        if low <= s <= high:
            return s
        if overflow == "wrap":
            events["wraps"] += 1
            return (s - low) % 2**fmt.bits + low
        events["saturations"] += 1
        return min(max(s, low), high)

    result = [
        [
            reduce(
                [int(a[i][k]) * int(b[k][j]) for k in range(len(b))],
                int(init[i][j]) if init is not None else 0,
                order,
                adder,
            )
            for j in range(cols)
        ]
        for i in range(len(a))
    ]
    return result, events
