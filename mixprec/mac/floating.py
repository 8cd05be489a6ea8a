"""Float accumulators: BLAS where its arithmetic is the MAC's, else exact emulated additions.

Paths, each exact:

* ``fast`` order with an fp32 (fp64) accumulator, round-to-nearest-even, exact products: BLAS
  sgemm (dgemm) on the input values. BLAS adds each product into an fp32 (fp64) accumulator,
  rounding once per addition, in an order of its own: the semantics of ``fast`` ("any order").
  The products must be exact in the BLAS type, whether or not the kernel uses FMA: always for
  fp16, fp8, int8 ... inputs in fp32 (see ``products_fit_float32``), and checked on the data for
  bf16 (whose products can leave fp32's range). Outputs touching a non-finite input, or whose
  BLAS result is not finite, are recomputed in sequential order (one of the orders ``fast``
  allows), which also counts their overflow events and applies ``saturate``.
* fp32/fp64 accumulators in other orders, round-to-nearest-even, products exact in that type:
  numpy's own float32/float64 additions are the accumulator's (IEEE 754: each correctly rounded).
* Everything else: :func:`mixprec.mac.accumulate.float_adder` (TwoSum + round to odd), or a fast
  kernel of :mod:`mixprec.mac.kernels` where one applies.
"""

from __future__ import annotations

import numpy as np

from mixprec.formats import FloatFormat
from mixprec.formats.spec import Overflow, Rounding
from mixprec.mac.accumulate import Adder, float_adder, reduce
from mixprec.mac.operands import products_fit_float32, round_products
from mixprec.mac.stats import Counter
from mixprec.mac.terms import Terms, select
from mixprec.mac.unit import MAC, OrderKind


def _native_dtype(fmt: FloatFormat) -> type | None:
    if (
        fmt.mantissa_bits == 23
        and fmt.exponent_bits == 8
        and fmt.bias == 127
        and fmt.has_subnormals
    ):
        return np.float32
    if (
        fmt.mantissa_bits == 52
        and fmt.exponent_bits == 11
        and fmt.bias == 1023
        and fmt.has_subnormals
    ):
        return np.float64
    return None


def _products_exact_in(dtype: type, mac: MAC, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether every product of ``a`` and ``b`` is exactly a value of ``dtype``."""
    if dtype is np.float64 or products_fit_float32(mac.input):
        return True  # float64: the MAC's input formats multiply exactly (checked in MAC)
    # bf16-like inputs: 2p <= 24 bits, but the exponent range may leave fp32's. All nonzero
    # products are in fp32's normal range if min|a|*min|b| >= 2**-126 and max|a|*max|b| < 2**128.
    if 2 * mac.input.precision > 24:
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        fa, fb = np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64))
        if not (np.isfinite(fa).all() and np.isfinite(fb).all()):
            return False  # non-finite rows/columns are recomputed anyway; keep it simple
        if not fa.size or not fb.size:
            return True
        low_a = fa[fa > 0].min(initial=np.inf)
        low_b = fb[fb > 0].min(initial=np.inf)
        return bool(low_a * low_b >= 2.0**-126 and fa.max() * fb.max() < 2.0**128)


def native_adder(
    dtype: type, fmt: FloatFormat, overflow: Overflow, counter: Counter | None
) -> Adder:
    """The adder of an fp32/fp64 accumulator with RNE: numpy's own addition, then the policy."""
    top = dtype(fmt.max)
    event = "saturations" if overflow is Overflow.SATURATE else "overflows"

    def add(acc: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            s = acc + p
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


def _accumulate(
    mac: MAC,
    a: np.ndarray,
    b: np.ndarray,
    init: np.ndarray,
    counter: Counter | None,
    rows: np.ndarray | None = None,
    cols: np.ndarray | None = None,
    sequential: bool = False,
) -> np.ndarray:
    """The emulated reduction, in the MAC's order (or sequential), for all or listed outputs."""
    acc = mac.accumulator
    assert isinstance(acc, FloatFormat)
    order = mac.order
    if sequential or order.kind is OrderKind.FAST:
        order = type(order)(OrderKind.SEQUENTIAL)
    native = _native_dtype(acc)
    product = mac.product
    if (
        native is not None
        and product is None
        and mac.rounding is Rounding.NEAREST_EVEN
        and _products_exact_in(native, mac, a, b)
    ):
        terms = Terms(a.astype(native), b.astype(native), rows, cols)
        add = native_adder(native, acc, mac.overflow, counter)
        return reduce(order, terms.count, terms, add, init.astype(native))
    finish = None
    if product is not None:
        assert isinstance(product, FloatFormat)
        policy = mac.overflow

        def finish(p: np.ndarray) -> np.ndarray:
            return round_products(p, product, mac.rounding, policy, counter).astype(np.float64)

    terms = Terms(a.astype(np.float64), b.astype(np.float64), rows, cols, finish=finish)
    add = float_adder(acc, mac.rounding, mac.overflow, counter)
    return reduce(order, terms.count, terms, add, init.astype(np.float64))


def float_matmul(
    mac: MAC, a: np.ndarray, b: np.ndarray, bias: np.ndarray | None, counter: Counter | None
) -> np.ndarray:
    """Values (float32/float64, M×N) of the emulated float ``a @ b + bias``."""
    acc = mac.accumulator
    assert isinstance(acc, FloatFormat)
    m, n = a.shape[0], b.shape[1]
    init = np.zeros((m, n)) if bias is None else bias
    native = _native_dtype(acc)
    if not (
        mac.order.kind is OrderKind.FAST
        and native is not None
        and mac.product is None
        and mac.rounding is Rounding.NEAREST_EVEN
        and _products_exact_in(native, mac, a, b)
    ):
        return _accumulate(mac, a, b, init, counter)
    # BLAS: any order, each addition rounded once to the accumulator (products exact).
    a_n, b_n = a.astype(native, copy=False), b.astype(native, copy=False)
    with np.errstate(over="ignore", invalid="ignore"):
        y = a_n @ b_n
        if bias is not None:
            y += bias.astype(native)  # the bias added last: one of the orders 'fast' allows
        redo = ~np.isfinite(y)
        if a_n.dtype.kind == "f":
            bad_rows = ~np.isfinite(a_n).all(axis=1)
            bad_cols = ~np.isfinite(b_n).all(axis=0)
            if bad_rows.any() or bad_cols.any():
                redo |= bad_rows[:, None] | bad_cols[None, :]
    if redo.any():
        subset = select(redo)
        if subset is None:
            return _accumulate(mac, a, b, init, counter, sequential=True)
        rows, cols = subset
        y[rows, cols] = _accumulate(
            mac, a, b, init[rows, cols], counter, rows, cols, sequential=True
        )
    return y
