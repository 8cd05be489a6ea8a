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
* Everything else: :func:`mixprec.mac.accumulate.float_adder` (TwoSum + round to odd), or the
  magic-constant adder of :mod:`mixprec.mac.magic_adder` where it applies.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from mixprec._util.threads import run_parallel, threads
from mixprec.formats import FloatFormat
from mixprec.formats.spec import Rounding
from mixprec.mac.accumulate import Adder, float_adder, reduce, rounded_sum_adder
from mixprec.mac.config import MacConfig
from mixprec.mac.convert import convert_pair, magnitudes, to_float32
from mixprec.mac.magic_adder import magic_factory
from mixprec.mac.operands import products_fit_float32, round_products
from mixprec.mac.order import Order, OrderKind
from mixprec.mac.stats import EventCounter
from mixprec.mac.stochastic import stochastic_adder
from mixprec.mac.terms import Terms

# Outputs per thread below which one thread is faster: each numpy call of the K loop must be
# large, or the threads queue on the GIL (measured: 2 threads on 128x128 outputs are slower).
_OUTPUTS_PER_THREAD = 1 << 17


@functools.lru_cache(maxsize=256)
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


def _products_exact_in(dtype: type, mac: MacConfig, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether every product of ``a`` and ``b`` is exactly a value of ``dtype``.

    float64 always (the MAC admits only input formats whose products are exact in it); float32
    by the format (fp16, fp8, int8 ...) or, for inputs of <= 12 bits with a wider exponent range
    (bf16), by the data: all nonzero products lie in fp32's normal range when
    ``min|a| * min|b| >= 2**-126`` and ``max|a| * max|b| < 2**128`` over nonzero values, and
    all values are finite (else everything takes the sequential path).
    """
    return _exactness(dtype, mac, a, b)[0]


def _exactness(
    dtype: type, mac: MacConfig, a: np.ndarray, b: np.ndarray
) -> tuple[bool, bool | None]:
    """``(products exact in dtype, operands all finite or None if not checked)``."""
    if dtype is np.float64 or products_fit_float32(mac.input):
        return True, None
    if not isinstance(mac.input, FloatFormat) or 2 * mac.input.precision > 24:
        return False, None
    low_a, high_a, finite_a = magnitudes(a)
    low_b, high_b, finite_b = magnitudes(b)
    if not (finite_a and finite_b):
        return False, False
    return bool(low_a * low_b >= 2.0**-126 and high_a * high_b < 2.0**128), True


def _accumulate(
    mac: MacConfig,
    a: np.ndarray,
    b: np.ndarray,
    init: np.ndarray,
    counter: EventCounter | None,
    rows: np.ndarray | None = None,
    cols: np.ndarray | None = None,
    sequential: bool = False,
) -> np.ndarray:
    """The emulated reduction, in the MAC's order (or sequential), for all or listed outputs.

    Large problems are split by rows of ``a`` across worker threads (numpy releases the GIL in
    its loops); every output is computed the same way whatever the split.
    """
    acc = mac.accumulator
    if not isinstance(acc, FloatFormat):
        raise TypeError(f"a float accumulator is needed here, got {acc.name}")
    order = mac.order
    if sequential or order.kind is OrderKind.FAST:
        order = Order(OrderKind.SEQUENTIAL)
    native = _native_dtype(acc)
    if (
        native is not None
        and mac.product is None
        and mac.rounding is Rounding.NEAREST_EVEN
        and _products_exact_in(native, mac, a, b)
    ):
        convert = to_float32 if native is np.float32 else (lambda x: x.astype(np.float64))
        a_t, b_t = convert(a), convert(b)
        init_t: np.ndarray = np.asarray(init, dtype=native)

        def make(counter: EventCounter | None) -> Adder:
            # numpy's own addition (nearest-even), then the policy; not in place: the overflow
            # test reads the operands (an in-place sum hid every overflow from it)
            return rounded_sum_adder(np.add, native(acc.max), mac.overflow, counter)

        return _reduce_split(order, a_t, b_t, init_t, make, None, counter, rows, cols)

    a64, b64, init64 = a.astype(np.float64), b.astype(np.float64), init.astype(np.float64)
    if rows is None:  # the fast adders need finite operands: split off rows/columns with inf, NaN
        good_rows = np.asarray(np.isfinite(a64).all(axis=1))
        good_cols = np.asarray(np.isfinite(b64).all(axis=0))
        if good_rows.any() and good_cols.any() and not (good_rows.all() and good_cols.all()):
            return _split_nonfinite(
                mac, a64, b64, init64, counter, good_rows, good_cols, sequential
            )
    return _emulated(mac, acc, order, a64, b64, init64, counter, rows, cols)


def _split_nonfinite(
    mac: MacConfig,
    a64: np.ndarray,
    b64: np.ndarray,
    init64: np.ndarray,
    counter: EventCounter | None,
    good_rows: np.ndarray,
    good_cols: np.ndarray,
    sequential: bool,
) -> np.ndarray:
    """:func:`_accumulate` on the all-finite block, and output by output on the rest."""
    block = np.ix_(good_rows, good_cols)
    result = np.empty(init64.shape)
    result[block] = _accumulate(
        mac, a64[good_rows], b64[:, good_cols], init64[block], counter, sequential=sequential
    )
    sub_rows, sub_cols = np.nonzero(~(good_rows[:, None] & good_cols[None, :]))
    result[sub_rows, sub_cols] = _accumulate(
        mac, a64, b64, init64[sub_rows, sub_cols], counter, sub_rows, sub_cols, sequential
    )
    return result


def _product_finisher(
    mac: MacConfig,
) -> Callable[[EventCounter | None], Callable[[np.ndarray], np.ndarray] | None]:
    """A factory of the product rounding (per counter), or of None for exact products."""
    product = mac.product

    def make_finish(counter: EventCounter | None) -> Callable[[np.ndarray], np.ndarray] | None:
        if product is None:
            return None
        if not isinstance(product, FloatFormat):
            raise TypeError(f"a float product format is needed, got {product.name}")
        return lambda p: round_products(p, product, mac.rounding, mac.overflow, counter)

    return make_finish


def _emulated(
    mac: MacConfig,
    acc: FloatFormat,
    order: Order,
    a64: np.ndarray,
    b64: np.ndarray,
    init64: np.ndarray,
    counter: EventCounter | None,
    rows: np.ndarray | None,
    cols: np.ndarray | None,
) -> np.ndarray:
    """The emulated reduction of float64 operands: the magic adder where it applies, else the
    general adder; zero results of the magic adder are redone (it leaves their sign)."""
    make_finish = _product_finisher(mac)
    fast = magic_factory(mac, a64, b64, init64, order)
    if fast is None:

        def make_general(counter: EventCounter | None) -> Adder:
            if mac.rounding is Rounding.STOCHASTIC:
                return stochastic_adder(acc, mac.overflow, counter, _rng(mac), mac.random_bits)
            return float_adder(acc, mac.rounding, mac.overflow, counter)

        parallel = mac.rounding is not Rounding.STOCHASTIC  # one stream of random draws
        return _reduce_split(
            order, a64, b64, init64, make_general, make_finish, counter, rows, cols, parallel
        )
    result = _reduce_split(order, a64, b64, init64, fast, make_finish, counter, rows, cols)
    zero: np.ndarray = np.asarray(result == 0)
    if rows is None:
        empty_rows, empty_cols = ~np.asarray(a64.any(axis=1)), ~np.asarray(b64.any(axis=0))
        trivial = empty_rows[:, None] | empty_cols[None, :]
    else:
        trivial = ~a64[rows].any(axis=1) | ~b64[:, cols].any(axis=0)
    zero &= ~(trivial & (init64 == 0) & ~np.signbit(init64))  # +0 plus zeros: exactly +0
    if zero.any():
        if rows is None:
            sub_rows, sub_cols = np.nonzero(zero)
            sub_init = init64[sub_rows, sub_cols]
        else:
            if cols is None:
                raise ValueError("rows and cols must be given together")
            sub_rows, sub_cols, sub_init = rows[zero], cols[zero], init64[zero]
        terms = Terms(a64, b64, sub_rows, sub_cols, finish=make_finish(None))
        general = float_adder(acc, mac.rounding, mac.overflow, None)
        result[zero] = reduce(order, terms.count, terms, general, sub_init)
    return result


def _reduce_split(
    order: Order,
    a: np.ndarray,
    b: np.ndarray,
    init: np.ndarray,
    make_adder: Callable[[EventCounter | None], Adder],
    make_finish: Callable[[EventCounter | None], Callable[[np.ndarray], np.ndarray] | None] | None,
    counter: EventCounter | None,
    rows: np.ndarray | None,
    cols: np.ndarray | None,
    parallel: bool = True,
) -> np.ndarray:
    """:func:`reduce` over all (or listed) outputs, split by rows across threads if large."""

    def run(part: slice | None, counter: EventCounter | None) -> np.ndarray:
        finish = None if make_finish is None else make_finish(counter)
        if rows is not None:
            terms = Terms(a, b, rows, cols, finish=finish)
            return reduce(order, terms.count, terms, make_adder(counter), init)
        assert part is not None
        terms = Terms(a[part], b, finish=finish)
        return reduce(order, terms.count, terms, make_adder(counter), init[part])

    m = a.shape[0]
    workers = min(threads(), m, init.size // _OUTPUTS_PER_THREAD)
    if rows is not None or workers <= 1 or not parallel:
        return run(slice(None), counter)
    bounds = np.linspace(0, m, workers + 1).astype(int)
    parts = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    counters = [None if counter is None else EventCounter() for _ in parts]
    tasks = [functools.partial(run, part, c) for part, c in zip(parts, counters, strict=True)]
    result = np.concatenate(run_parallel(tasks, workers), axis=0)
    for c in counters:
        if c is not None and counter is not None:
            counter.merge(c)
    return result


def _rng(mac: MacConfig) -> np.random.Generator:
    """The MAC's generator for stochastic rounding, or a ValueError that says how to give one."""
    if mac.rng is None:
        raise ValueError(
            "rounding='stochastic' needs a generator: MAC(..., rounding='stochastic', "
            "rng=np.random.default_rng(seed))"
        )
    return mac.rng


def float_matmul(
    mac: MacConfig,
    a: np.ndarray,
    b: np.ndarray,
    bias: np.ndarray | None,
    counter: EventCounter | None,
) -> np.ndarray:
    """Values (float32/float64, M×N) of the emulated float ``a @ b + bias``."""
    acc = mac.accumulator
    assert isinstance(acc, FloatFormat)
    m, n = a.shape[0], b.shape[1]
    init = np.zeros((m, n)) if bias is None else bias
    native = _native_dtype(acc)
    exact, finite = False, None
    if (
        mac.order.kind is OrderKind.FAST
        and native is not None
        and mac.product is None
        and mac.rounding is Rounding.NEAREST_EVEN
    ):
        exact, finite = _exactness(native, mac, a, b)
    if not exact or native is None:
        return _accumulate(mac, a, b, init, counter)
    # BLAS: any order, each addition rounded once to the accumulator (products exact).
    a_n, b_n, converted_finite = convert_pair(a, b, native)
    finite = finite or converted_finite
    with np.errstate(over="ignore", invalid="ignore"):
        y: np.ndarray = a_n @ b_n
        if bias is not None:
            y += bias.astype(native)  # the bias added last: one of the orders 'fast' allows
        if finite and np.isfinite(y).all():
            return y
        redo = ~np.isfinite(y)
        if not finite:  # rows and columns holding inf or NaN
            bad_rows = ~np.isfinite(a_n).all(axis=1)
            bad_cols = ~np.isfinite(b_n).all(axis=0)
            if bad_rows.any() or bad_cols.any():
                redo |= bad_rows[:, None] | bad_cols[None, :]
    if redo.any():  # only these outputs, so that each output's path depends on itself alone
        rows, cols = np.nonzero(redo)
        y[rows, cols] = _accumulate(
            mac, a, b, init[rows, cols], counter, rows, cols, sequential=True
        )
    return y
