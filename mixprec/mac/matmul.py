"""``matmul``: the bit-exact emulated matrix product of a MAC unit (a pure function of the MAC).

Shapes follow ``numpy.matmul`` for 1-D and 2-D operands (a 1-D ``a`` is a row, a 1-D ``b`` a
column, and the added axis is removed); ``a`` may have leading batch axes when ``b`` is 2-D.
"""

from __future__ import annotations

import math

import numpy as np

from mixprec.formats import IntFormat
from mixprec.mac.config import MacConfig
from mixprec.mac.floating import float_matmul
from mixprec.mac.integer import int_matmul
from mixprec.mac.operands import as_codes, prepare
from mixprec.mac.stats import EventCounter, MacStats


def _shapes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """2-D views of the operands and the shape of the result."""
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul needs arrays of at least one dimension, got shapes {a.shape} and {b.shape}; "
            "multiply scalars with np.multiply"
        )
    if b.ndim > 2:
        raise ValueError(
            f"b must be 1-D or 2-D, got shape {b.shape}; loop over the batch, or reshape a to "
            "(-1, K) when the batch is only in a"
        )
    k = a.shape[-1]
    if b.shape[0] != k:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not align: a has {k} columns, b has "
            f"{b.shape[0]} rows"
        )
    b2 = b if b.ndim == 2 else b.reshape(k, 1)
    a2 = a.reshape(math.prod(a.shape[:-1]), k)
    out: tuple[int, ...] = a.shape[:-1] + (b.shape[1:] if b.ndim == 2 else ())
    return a2, b2, out


def matmul(
    mac: MacConfig, a: object, b: object, bias: object = None, stats: bool = False
) -> np.ndarray | tuple[np.ndarray, MacStats]:
    """Emulate ``a @ b + bias`` on ``mac``, bit for bit.

    Every output is a dot product: the bias (or +0) is the accumulator's initial value, and the K
    products are added to it in the MAC's order, each addition rounded once to the accumulator
    format (see :class:`mixprec.mac.MAC` and :class:`mixprec.mac.Order`).

    Args:
        mac: the MAC unit.
        a: (..., K) or (K,) operand; quantized to ``mac.input`` unless its dtype already is the
            input format's storage dtype (np.float16, ml_dtypes.bfloat16, np.int8 ...).
        b: (K, N) or (K,) operand, likewise.
        bias: ``None`` or an array broadcastable to the result, quantized to the accumulator
            format (``overflow="saturate"``) unless already in its storage dtype (np.int32 ...).
        stats: also return the :class:`MacStats` event counts.

    Returns:
        The result, float32 when every accumulator value is a float32 (fp32, fp16, int16 ...
        accumulators), else float64 (int32, fp64 accumulators); with ``stats``, ``(result,
        stats)``. K = 0 gives the bias (or +0).

    Raises:
        ValueError: misaligned shapes, NaN into an integer input, or a bias that does not
            broadcast. TypeError: non-numeric operands.

    >>> import numpy as np
    >>> from mixprec.mac import MAC
    >>> mac = MAC.parse("int8->int16:saturate")
    >>> y, s = mac.matmul(np.full((1, 4), 127), np.full((4, 1), 127), stats=True)
    >>> y.tolist(), s.saturations
    ([[32767.0]], 2)
    """
    counter = EventCounter() if stats else None
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    a2, b2, out_shape = _shapes(a_arr, b_arr)
    a_values = prepare(a2, mac.input, mac.rounding, counter, "a")
    b_values = prepare(b2, mac.input, mac.rounding, counter, "b")
    m, n = a2.shape[0], b2.shape[1]
    acc = mac.accumulator
    bias_values = None
    if bias is not None:
        bias_arr = np.asarray(bias)
        try:
            bias_arr = np.broadcast_to(bias_arr, out_shape).reshape(m, n)
        except ValueError:
            raise ValueError(
                f"bias of shape {bias_arr.shape} does not broadcast to the result's shape "
                f"{out_shape}; give one value per output column, shape ({n},)"
            ) from None
        bias_values = prepare(bias_arr, acc, mac.rounding, counter, "bias")
    if isinstance(acc, IntFormat):
        init = None if bias_values is None else as_codes(bias_values, acc)
        codes = int_matmul(mac, a_values, b_values, init, counter)
        result = np.ldexp(codes.astype(np.float64), -acc.frac_bits) if acc.frac_bits else codes
    else:
        init = None if bias_values is None else bias_values.astype(np.float64)
        result = float_matmul(mac, a_values, b_values, init, counter)
    result = result.astype(mac.output_dtype, copy=False).reshape(out_shape)
    if counter is None:
        return result
    counter.add("inf_results", np.count_nonzero(np.isinf(result)))
    counter.add("nan_results", np.count_nonzero(np.isnan(result)))
    return result, counter.freeze()


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
