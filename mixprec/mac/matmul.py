"""``matmul``: the bit-exact emulated matrix product of a MAC unit (a pure function of the MAC).

Shapes follow ``numpy.matmul``: a 1-D ``a`` is a row, a 1-D ``b`` a column (the added axis is
removed), and leading (batch) axes broadcast. ``c`` (a GEMM's C) is the accumulator's initial
value, broadcast to the result.
"""

from __future__ import annotations

import math

import numpy as np

from mixprec._util.errors import reject_masked
from mixprec.formats import FloatFormat, IntFormat
from mixprec.formats.spec import Rounding
from mixprec.mac.block_fma import block_fma_matmul
from mixprec.mac.config import MacConfig
from mixprec.mac.floating import float_matmul
from mixprec.mac.integer import int_matmul
from mixprec.mac.operands import as_codes, prepare
from mixprec.mac.stats import EventCounter, MacStats


def _operands(a_in: object, b_in: object) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Operands as (..., M, K) and (..., K, N) arrays, and the shape of the result.

    numpy's ``matmul`` rules: a 1-D ``a`` is a row, a 1-D ``b`` a column (the added axis is
    removed from the result), and leading (batch) axes broadcast. A masked array is refused.
    """
    reject_masked(a_in, "a")
    reject_masked(b_in, "b")
    a, b = np.asarray(a_in), np.asarray(b_in)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul needs arrays of at least one dimension, got shapes {a.shape} and {b.shape}; "
            "multiply scalars with np.multiply"
        )
    a3 = a[None, :] if a.ndim == 1 else a
    b3 = b[:, None] if b.ndim == 1 else b
    k = a3.shape[-1]
    if b3.shape[-2] != k:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not align: a has {k} columns, b has "
            f"{b3.shape[-2]} rows"
        )
    try:
        batch = np.broadcast_shapes(a3.shape[:-2], b3.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: the batch axes of shapes {a.shape} and {b.shape} do not broadcast "
            f"({a3.shape[:-2]} against {b3.shape[:-2]}); give them equal or unit sizes"
        ) from None
    out = batch + (a3.shape[-2], b3.shape[-1])
    drop = (() if a.ndim > 1 else (-2,)) + (() if b.ndim > 1 else (-1,))
    shape = tuple(n for i, n in enumerate(out) if i - len(out) not in drop)
    return a3, b3, shape


def matmul(
    mac: MacConfig,
    a: object,
    b: object,
    c: object = None,
    stats: bool = False,
    bias: object = None,
) -> np.ndarray | tuple[np.ndarray, MacStats]:
    """Emulate ``a @ b + c`` on ``mac``, bit for bit (a GEMM's ``D = A B + C``).

    Every output is a dot product whose accumulator starts at ``c`` (or +0), and the K products
    are added to it in the MAC's order, each addition rounded once to the accumulator format
    (see :class:`mixprec.mac.MAC` and :class:`mixprec.mac.Order`). Where ``c`` enters:
    ``sequential``: before the first product; ``chunked:N``: it is the outer accumulator, to
    which each chunk's sum is added in turn; ``pairwise``: the tree's sum is added to it last;
    ``fast``: anywhere (any order; the BLAS path adds it last); a tensor-core MAC: in the first
    fused group, aligned with its products (see :mod:`mixprec.mac.block_fma`).

    Args:
        mac: the MAC unit.
        a: (..., M, K) or (K,) operand; quantized to ``mac.input`` unless its dtype already is
            the input format's storage dtype (np.float16, ml_dtypes.bfloat16, np.int8 ...).
        b: (..., K, N) or (K,) operand, likewise. Leading axes broadcast as in ``np.matmul``.
        c: ``None`` or an array broadcastable to the result: the accumulator's initial value,
            quantized to the accumulator format first (the MAC's rounding, ``overflow=
            "saturate"``) unless already in its storage dtype (np.float32, np.int32 ...).
        stats: also return the :class:`MacStats` event counts.
        bias: the same as ``c`` (the name :meth:`MAC.affine` uses); give one of them.

    Returns:
        The result, of shape ``np.matmul(a, b).shape``, float32 when every accumulator value is
        a float32 (fp32, fp16, int16 ... accumulators), else float64 (int32, fp64
        accumulators); with ``stats``, ``(result, stats)``. K = 0 gives ``c`` (or +0).

    Raises:
        ValueError: misaligned or non-broadcasting shapes, NaN into an integer input, or a ``c``
            that does not broadcast. TypeError: non-numeric operands.

    >>> import numpy as np
    >>> from mixprec.mac import MAC
    >>> mac = MAC.parse("int8->int16:saturate")
    >>> y, s = mac.matmul(np.full((1, 4), 127), np.full((4, 1), 127), stats=True)
    >>> y.tolist(), s.saturations
    ([[32767.0]], 2)
    >>> MAC.parse("int8->int32").matmul(np.ones((2, 1, 1, 3)), np.ones((4, 3, 5)), c=1).shape
    (2, 4, 1, 5)
    """
    if c is not None and bias is not None:
        raise ValueError("give the accumulator's initial value once: c= or bias=, not both")
    c = bias if c is None else c
    counter = EventCounter() if stats else None
    a3, b3, out_shape = _operands(a, b)
    rounding = Rounding.NEAREST_EVEN if mac.rounding is Rounding.STOCHASTIC else mac.rounding
    a_values = prepare(a3, mac.input, rounding, counter, "a")
    b_values = prepare(b3, mac.input, rounding, counter, "b")
    full = np.broadcast_shapes(a3.shape[:-2], b3.shape[:-2]) + (a3.shape[-2], b3.shape[-1])
    c_values = None
    if c is not None:
        c_arr = _broadcast_c(np.asarray(c), out_shape, full)
        c_values = prepare(c_arr, mac.accumulator, rounding, counter, "c")
    if b_values.ndim == 2:  # one b: the batch of a is rows of one product
        m = math.prod(a_values.shape[:-1])
        init = None if c_values is None else c_values.reshape(m, full[-1])
        result = _matmul2(mac, a_values.reshape(m, a_values.shape[-1]), b_values, init, counter)
    else:
        batch = full[:-2]
        a_b = np.broadcast_to(a_values, batch + a_values.shape[-2:])
        b_b = np.broadcast_to(b_values, batch + b_values.shape[-2:])
        parts = [
            _matmul2(mac, a_b[i], b_b[i], None if c_values is None else c_values[i], counter)
            for i in np.ndindex(*batch)
        ]
        result = np.stack(parts) if parts else np.zeros(full, dtype=mac.output_dtype)
    result = result.astype(mac.output_dtype, copy=False).reshape(out_shape)
    if counter is None:
        return result
    counter.add("inf_results", np.count_nonzero(np.isinf(result)))
    counter.add("nan_results", np.count_nonzero(np.isnan(result)))
    return result, counter.freeze()


def _broadcast_c(c: np.ndarray, out_shape: tuple[int, ...], full: tuple[int, ...]) -> np.ndarray:
    """``c`` broadcast to the result's shape, then laid out as the (batch..., M, N) product."""
    try:
        return np.broadcast_to(c, out_shape).reshape(full)
    except ValueError:
        raise ValueError(
            f"c of shape {c.shape} does not broadcast to the result's shape {out_shape}; give "
            f"one value per output column, shape ({full[-1]},), or the result's shape"
        ) from None


def _matmul2(
    mac: MacConfig,
    a: np.ndarray,
    b: np.ndarray,
    init_values: np.ndarray | None,
    counter: EventCounter | None,
) -> np.ndarray:
    """The emulated M×N product of prepared 2-D operands (values of the input format).

    The dispatch, one line per kind of MAC: a tensor core's block FMA, an integer accumulator,
    a float accumulator.
    """
    acc = mac.accumulator
    if mac.adder is not None:
        return _tensor_core(mac, a, b, init_values)
    if isinstance(acc, IntFormat):
        init = None if init_values is None else as_codes(init_values, acc)
        codes = int_matmul(mac, a, b, init, counter)
        return np.ldexp(codes.astype(np.float64), -acc.frac_bits) if acc.frac_bits else codes
    init = None if init_values is None else init_values.astype(np.float64)
    return float_matmul(mac, a, b, init, counter)


def _tensor_core(
    mac: MacConfig, a: np.ndarray, b: np.ndarray, init_values: np.ndarray | None
) -> np.ndarray:
    """A tensor core's ``a @ b + c``; with ``promote = N``, DeepSeek-V3's promotion (arXiv
    2412.19437, §3.3.2): every N products are summed in the tensor core from +0 (groups of its
    block FMA, recursively) and each partial sum is then added, rounded to nearest even, into an
    fp32 accumulator that starts at ``c``."""
    inp, out, adder = mac.input, mac.accumulator, mac.adder
    if not (isinstance(inp, FloatFormat) and isinstance(out, FloatFormat) and adder is not None):
        raise TypeError("a tensor-core MAC needs float formats and an adder")
    m, n = a.shape[0], b.shape[1]
    init = np.zeros((m, n)) if init_values is None else init_values.astype(np.float64)
    if mac.promote is None:
        return block_fma_matmul(a, b, init, adder, inp, out)
    total = init.astype(np.float32)
    zero = np.zeros((m, n))
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, a.shape[1], mac.promote):
            part = slice(start, start + mac.promote)
            total += block_fma_matmul(a[:, part], b[part], zero, adder, inp, out).astype(np.float32)
    return total


def dot(
    mac: MacConfig, a: object, b: object, stats: bool = False
) -> np.ndarray | tuple[np.ndarray, MacStats]:
    """Emulated dot product of two 1-D vectors: a 0-d array (see :func:`matmul`).

    Raises:
        ValueError: operands that are not 1-D vectors of one length.

    >>> import numpy as np
    >>> from mixprec.mac import MAC
    >>> MAC.parse("fp16->fp16").dot(np.ones(4096), np.ones(4096)).item()
    2048.0
    """
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.ndim != 1 or b_arr.ndim != 1:
        raise ValueError(
            f"dot takes two 1-D vectors, got shapes {a_arr.shape} and {b_arr.shape}; use matmul"
        )
    return matmul(mac, a_arr, b_arr, stats=stats)
