"""Integer (and fixed-point) accumulators: exact sums through BLAS, wrap and saturation.

Values are handled as int64 *codes* ``value * 2**frac_bits``. A product of two input codes,
shifted by ``acc.frac_bits - 2 * input.frac_bits``, is the accumulator code of the exact product.

Fast exact path. Integer sums are exact in float arithmetic while every partial sum is an integer
of magnitude <= 2**24 (float32) or <= 2**53 (float64): every such integer is a float, so no
addition rounds, in any order. With ``P = max|a| * max|b|``, a dot product of K terms has partial
sums bounded by ``K * P``; longer dot products are split into chunks of ``floor(2**24 / P)``
(or ``2**53``) terms whose exact sums are added in int64. Wrap-around is a ring homomorphism
(Z -> Z / 2**bits), so the wrapped result equals the exact sum wrapped once, in any order.

Events and saturation need the order only where a partial sum can leave the range: every
partial sum (of any order: prefix, chunk, subtree) is bounded by ``|bias| + sum_k |a_k b_k|``.
Outputs whose bound fits the range have no event and take the exact sum; the others go through
:func:`mixprec.mac.accumulate.reduce` with the int adder, in the MAC's order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mixprec.formats import IntFormat
from mixprec.formats.spec import Overflow
from mixprec.mac.accumulate import int_adder, reduce
from mixprec.mac.config import MacConfig
from mixprec.mac.convert import convert_pair
from mixprec.mac.operands import as_codes
from mixprec.mac.stats import EventCounter
from mixprec.mac.terms import Terms, select


def exact_int_matmul(a: np.ndarray, b: np.ndarray, bound: int) -> np.ndarray:
    """Exact ``a @ b`` of integer-valued arrays (float32, float64 or int64 holding it exactly).

    Args:
        a, b: integer-valued arrays (any int or float dtype holding integers exactly).
        bound: an upper bound of ``|a[i, k] * b[k, j]|``.

    Returns:
        float32 or float64 when one BLAS call is exact, else int64 (modulo 2**64 beyond int64).
    """
    count = a.shape[1]
    if count == 0 or bound == 0:
        return np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
    for dtype, limit in ((np.float32, 2**24), (np.float64, 2**53)):
        chunk = limit // bound
        if chunk >= min(count, 64) or (dtype is np.float64 and chunk >= 1):
            if chunk >= count and a.dtype.kind in "iu" and b.dtype.kind in "iu":
                # every partial sum is an integer <= limit: exact in any order; numpy casts
                # integer storage to floats in C, then calls BLAS
                exact: np.ndarray = np.matmul(a, b, dtype=dtype)
                return exact
            a_f, b_f, _ = convert_pair(a, b, dtype)
            if chunk >= count:
                product: np.ndarray = a_f @ b_f
                return product
            total = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
            for start in range(0, count, chunk):
                stop = min(start + chunk, count)
                total += (a_f[:, start:stop] @ b_f[start:stop]).astype(np.int64)
            return total
    return a.astype(np.int64) @ b.astype(np.int64)  # numpy's int64 loop: exact modulo 2**64


def _max_abs(x: np.ndarray) -> int:
    if not x.size:
        return 0
    return max(abs(int(x.max())), abs(int(x.min())))


def _codes(values: np.ndarray, fmt: IntFormat) -> np.ndarray:
    """Integer codes in an exact dtype: integer storage, or float values holding integers, as
    they are; fixed-point values scaled to int64 codes."""
    return values if fmt.frac_bits == 0 else as_codes(values, fmt)


def int_matmul(
    mac: MacConfig,
    a: np.ndarray,
    b: np.ndarray,
    bias: np.ndarray | None,
    counter: EventCounter | None,
) -> np.ndarray:
    """Accumulator codes (M×N; int64, or float32/float64 holding integers) of ``a @ b + bias``."""
    inp, acc = mac.input, mac.accumulator
    assert isinstance(inp, IntFormat) and isinstance(acc, IntFormat)
    a_codes, b_codes = _codes(a, inp), _codes(b, inp)
    shift = acc.frac_bits - 2 * inp.frac_bits
    m, n, count = a.shape[0], b.shape[1], a.shape[1]
    format_peak = max(inp.max_code, -inp.min_code) ** 2
    if count * format_peak <= 2**24:
        peak = format_peak  # no need to look at the data
    else:
        peak = _max_abs(a_codes) * _max_abs(b_codes)

    product = mac.product
    if product is not None:
        assert isinstance(product, IntFormat)
        pshift = product.frac_bits - 2 * inp.frac_bits
        signed = inp.min_code < 0
        limit = min(product.max_code, -product.min_code) if signed else product.max_code
        if peak << pshift > limit:  # a product can leave the product format: round each one
            padd = int_adder(product, mac.overflow, None)
            to_acc = acc.frac_bits - product.frac_bits

            def finish(p: np.ndarray) -> np.ndarray:
                scaled = p << pshift
                rounded = padd(np.zeros_like(scaled), scaled)
                if counter is not None:
                    counter.add("product_overflows", np.count_nonzero(rounded != scaled))
                return rounded << to_acc

            a64, b64 = a_codes.astype(np.int64), b_codes.astype(np.int64)
            init = np.zeros((m, n), dtype=np.int64) if bias is None else bias
            add = int_adder(acc, mac.overflow, counter)
            return reduce(mac.order, count, Terms(a64, b64, finish=finish), add, init)

    has_negative = inp.min_code < 0 or (bias is not None and bias.min(initial=0) < 0)
    bias_peak = 0 if bias is None else _max_abs(bias)

    def fits(bound: np.ndarray | int) -> np.ndarray | bool:
        """Partial sums lie in [-bound, bound], or in [0, bound] without negative terms."""
        inside = bound <= acc.max_code
        return inside & (-bound >= acc.min_code) if has_negative else inside

    sums = exact_int_matmul(a_codes, b_codes, peak)
    if bias is None and shift == 0 and fits(count * peak):
        return sums  # no partial sum can leave the range, in any order: the exact sum
    total = sums.astype(np.int64) << shift
    if bias is not None:
        total += bias
    if fits((count * peak << shift) + bias_peak):
        return total
    if counter is None and mac.overflow is Overflow.WRAP:  # the exact sum wrapped once
        wrapped: np.ndarray = ((total - acc.min_code) & np.int64(2**acc.bits - 1)) + acc.min_code
        return wrapped
    a64, b64 = a_codes.astype(np.int64), b_codes.astype(np.int64)
    init = np.zeros((m, n), dtype=np.int64) if bias is None else bias
    bound = exact_int_matmul(np.abs(a64), np.abs(b64), peak).astype(np.int64) << shift
    unsafe = np.asarray(~fits(bound + np.abs(init)))
    scale: Callable[[np.ndarray], np.ndarray] | None = (lambda p: p << shift) if shift else None
    add = int_adder(acc, mac.overflow, counter)
    subset = select(unsafe)
    if subset is None:  # safe outputs have no event: their reduction gives the exact sum
        return reduce(mac.order, count, Terms(a64, b64, finish=scale), add, init)
    rows, cols = subset
    terms = Terms(a64, b64, rows, cols, finish=scale)
    total[rows, cols] = reduce(mac.order, count, terms, add, init[rows, cols])
    return total
