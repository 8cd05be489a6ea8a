"""MX and NVFP4 MAC units: exact block dot products, one rounding per block into the accumulator.

``BlockMAC.parse("mxfp8_e4m3->fp32")`` (also ``MAC.parse``) names a unit whose operands are a
block-scaled format with blocks along K (rows of ``a``, columns of ``b``). Semantics:

* each block's dot product ``S_j = sum_i P_i(A) * P_i(B)`` over its ``block_size`` elements is
  **exact**;
* it is multiplied by the two block scales exactly: ``T_j = S_j * X_j(A) * X_j(B)``;
* ``T_j`` is added into the accumulator with **one rounding per block**, in K order
  (``sequential``), or as :class:`mixprec.mac.Order` says at block granularity (``pairwise``:
  a tree over the block terms, each addition rounded; ``chunked:N``: N blocks per chunk from
  +0; ``fast`` runs as ``sequential``), starting from +0;
* NVFP4's tensor scales multiply the accumulated sum once at the end,
  ``round(acc * s_t(A) * s_t(B))`` rounded once (as cuBLAS applies them in its epilogue as
  ``alpha``; the block scales go in per block).

The OCP MX spec's dot product (v1.0 §6) leaves the internal precision to the implementation;
this is the exact choice: the rounding of each block term into the accumulator is the only
rounding of the unit.

Exactness of the fast steps (float64 BLAS for the block dots): every element is a multiple of
its format's smallest subnormal ``q`` (E4M3: 2**-9, E3M2: 2**-4, E2M3: 2**-3, E2M1: 2**-1,
MXINT8: 2**-6), so every product, and every partial sum in any order, is a multiple of ``q**2``;
with ``|partial sum| <= k * max_elem**2`` it is an integer multiple of ``q**2`` below
``k * (max_elem / q)**2``, which is below 2**53 for these formats (E4M3, k = 32: 2**40.6; E2M1,
k = 16 or 32: 2**12.2): BLAS, FMA or not, adds exactly. E5M2 needs 2**68.6 and is refused.
The scales are powers of two (MX: ``S_j * 2**(ea + eb)``, exact in float64's range) or E4M3
numbers (NVFP4: ``S_j`` has at most 12 significant bits, times two 4-bit scales: 20 bits).
Each rounding into the accumulator is the exact adder of :mod:`mixprec.mac.accumulate`;
``acc * s_t(A) * s_t(B)`` (24 + 48 bits) is rounded to odd at 53 bits by Dekker's exact
product, then once to the accumulator (Boldo & Melquiond, IEEE TC 57(4), 2008, Thm. 1).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mixprec.formats import (
    BlockFormat,
    FloatFormat,
    decode,
    get_block_format,
    get_format,
    quantize,
)
from mixprec.formats.block import is_block_format_name
from mixprec.formats.blockquant import block_terms, decode_blocks
from mixprec.formats.spec import Overflow, Rounding, as_overflow, as_rounding
from mixprec.mac.accumulate import float_adder, reduce, rounded_sum_adder, two_sum_round_to_odd
from mixprec.mac.order import Order, OrderKind
from mixprec.mac.stats import EventCounter, MacStats
from mixprec.mac.unit import MAC, register_block_parser

_ROUNDINGS = tuple(r for r in Rounding if r is not Rounding.STOCHASTIC)


def _exact_block_dots(block: BlockFormat) -> bool:
    """Whether every block dot of ``block`` is exact in float64 (module docstring)."""
    q = block.element.smallest_subnormal
    return block.block_size * (block.element.max / q) ** 2 < 2.0**53


@dataclass(frozen=True, init=False, repr=False)
class BlockMAC(MAC):
    """A MAC unit of block-scaled inputs (MX, NVFP4); semantics in the module docstring.

    Args:
        input: the block format of both operands (``"mxfp8_e4m3"``, ``"mxfp4:rceil"``,
            ``"nvfp4"``); float operands are quantized to it by the unit (blocks along K),
            already-encoded operands ``(codes, scales[, tensor_scale])`` are taken as they are.
        accumulator: a signed float format of at most 51 bits of precision, or fp32/fp64.
        rounding: the rounding of each block's addition (deterministic modes); operands are
            quantized with nearest-even.
        overflow: ``inf`` (default) or ``saturate``.
        order: ``sequential`` (default), ``pairwise``, ``chunked:N`` (over blocks) or ``fast``.

    Raises:
        ValueError: an element format whose block dots are not exact in float64 (E5M2), a bad
            accumulator, rounding, overflow or order.

    >>> mac = BlockMAC.parse("mxfp4->fp32")
    >>> mac.matmul(np.ones((1, 64)), np.full((64, 1), 0.5)).tolist()
    [[32.0]]
    """

    input: BlockFormat  # type: ignore[assignment]  # a block format, not an element format
    accumulator: FloatFormat

    def __init__(
        self,
        input: BlockFormat | str,
        accumulator: FloatFormat | str = "fp32",
        rounding: Rounding | str = Rounding.NEAREST_EVEN,
        overflow: Overflow | str = Overflow.INF,
        order: Order | str = "sequential",
    ) -> None:
        set_ = object.__setattr__
        block = get_block_format(input)
        if not _exact_block_dots(block):
            raise ValueError(
                f"{block}: a block dot of {block.element.name} elements needs more than float64's "
                "53 bits, so the exact MX MAC does not emulate it; use mxfp8_e4m3, mxfp6, mxfp4, "
                "mxint8 or nvfp4 inputs"
            )
        acc = get_format(accumulator)
        if not (isinstance(acc, FloatFormat) and acc.is_signed and acc.has_zero) or (
            acc.mantissa_bits > 50 and acc.mantissa_bits != 52
        ):
            raise ValueError(
                f"a block-scaled MAC accumulates into a signed float format of at most 51 bits "
                f"of precision or fp64, got {accumulator!r}"
            )
        mode = as_rounding(rounding)
        if mode not in _ROUNDINGS or (
            acc.mantissa_bits == 52 and mode is not Rounding.NEAREST_EVEN
        ):
            raise ValueError(f"rounding {mode.value!r} is not emulated for {acc.name} here")
        policy = as_overflow(overflow)
        if policy not in (Overflow.INF, Overflow.SATURATE):
            raise ValueError(
                f"overflow {policy.value!r}: a float accumulator takes inf or saturate"
            )
        for name, value in (
            ("input", block), ("accumulator", acc), ("rounding", mode), ("overflow", policy),
            ("order", Order.parse(order)), ("product", None), ("gpu", None), ("adder", None),
            ("promote", None), ("random_bits", None), ("rng", None),
        ):  # fmt: skip
            set_(self, name, value)

    @classmethod
    def parse(cls, notation: str) -> BlockMAC:
        """``block_format->accumulator[:option...]``: options are an order (``sequential``,
        ``pairwise``, ``fast``, ``chunked:N``), an overflow (``inf``, ``saturate``) or a rounding
        mode; the block format keeps its own ``:option`` tokens (``mxfp4:rceil->fp32``).

        >>> str(BlockMAC.parse("mxfp8_e4m3:rceil->fp32:chunked:4"))
        'mxfp8_e4m3:rceil->fp32:chunked:4'
        """
        head, sep, tail = notation.strip().partition("->")
        if not sep or not is_block_format_name(head):
            raise ValueError(
                f"block MAC notation {notation!r} is 'block_format->accumulator[:options]', e.g. "
                "'mxfp8_e4m3->fp32' or 'nvfp4->fp32:pairwise'"
            )
        accumulator, *tokens = [t.strip().lower() for t in tail.split(":")]
        kwargs: dict[str, str] = {}
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token == "chunked":
                key, value, i = (
                    "order",
                    f"chunked:{tokens[i + 1] if i + 1 < len(tokens) else ''}",
                    i + 2,
                )
            elif token in {o.value for o in OrderKind}:
                key, value, i = "order", token, i + 1
            elif token in (Overflow.INF.value, Overflow.SATURATE.value):
                key, value, i = "overflow", token, i + 1
            elif token in {r.value for r in _ROUNDINGS}:
                key, value, i = "rounding", token, i + 1
            else:
                raise ValueError(
                    f"unknown option {token!r} in {notation!r}; options: an order (sequential, "
                    "pairwise, fast, chunked:N), inf or saturate, or a rounding mode"
                )
            if key in kwargs:
                raise ValueError(f"MAC notation {notation!r} gives the {key} twice")
            kwargs[key] = value
        return cls(input=head, accumulator=accumulator, **kwargs)

    @property
    def fast_allowed(self) -> bool:
        """``fast`` runs as ``sequential`` (the block terms are rounded one by one)."""
        return True

    def notation(self, order: bool = True) -> str:
        """The canonical notation (defaults left out)."""
        text = f"{self.input}->{self.accumulator.name}"
        if self.overflow is not Overflow.INF:
            text += f":{self.overflow.value}"
        if order and self.order.kind is not OrderKind.SEQUENTIAL:
            text += f":{self.order}"
        if self.rounding is not Rounding.NEAREST_EVEN:
            text += f":{self.rounding.value}"
        return text

    def __str__(self) -> str:
        return self.notation()

    def __repr__(self) -> str:
        return f"MAC.parse({self.notation()!r})"

    @functools.cached_property
    def output_dtype(self) -> np.dtype:
        """float32 for accumulators whose values are float32s, else float64."""
        acc = self.accumulator
        return np.dtype(np.float32 if acc.mantissa_bits <= 23 and acc.emax <= 127 else np.float64)

    def matmul(
        self, a: object, b: object, c: object = None, stats: bool = False
    ) -> np.ndarray | tuple[np.ndarray, MacStats]:
        """Exact ``a @ b + c`` of the unit; ``a`` (M, K) or its encoding with blocks along axis
        1, ``b`` (K, N) or its encoding with blocks along axis 0 (see the module docstring);
        ``c`` the accumulator's initial value (as :meth:`affine`'s bias)."""
        return self.affine(a, b, c, stats)

    def dot(
        self, a: object, b: object, stats: bool = False
    ) -> np.ndarray | tuple[np.ndarray, MacStats]:
        """Emulated dot product of two vectors of float values (a 0-d array)."""
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        if a_arr.ndim != 1 or b_arr.ndim != 1:
            raise ValueError(f"dot takes two 1-D vectors, got {a_arr.shape} and {b_arr.shape}")
        found = self.affine(a_arr[None, :], b_arr[:, None], None, stats)
        if isinstance(found, tuple):
            return found[0].reshape(()), found[1]
        return found.reshape(())

    def affine(
        self, x: object, w: object, bias: object = None, stats: bool = False
    ) -> np.ndarray | tuple[np.ndarray, MacStats]:
        """``x @ w + bias``: the bias (rounded to the accumulator) is the initial value; with
        NVFP4's tensor scales it is added, rounded once, after the final scaling."""
        counter = EventCounter() if stats else None
        a_el, a_scale, a_t = _operand(x, self.input, axis=1)
        b_el, b_scale, b_t = _operand(w, self.input, axis=0)
        a_shape = np.asarray(x[0] if isinstance(x, tuple) else x).shape
        b_shape = np.asarray(w[0] if isinstance(w, tuple) else w).shape
        if len(a_shape) != 2 or len(b_shape) != 2 or a_shape[1] != b_shape[0]:
            raise ValueError(
                f"block matmul needs a (M, K) and b (K, N) with one K, got {a_shape} and {b_shape}"
            )
        k = self.input.block_size
        add = _adder(self.accumulator, self.rounding, self.overflow, counter)
        zeros = np.zeros((a_el.shape[0], b_el.shape[1]))
        init = zeros
        if bias is not None:
            wide = np.broadcast_to(np.asarray(bias, np.float64), zeros.shape)
            init = quantize(wide, self.accumulator, self.rounding, Overflow.SATURATE)
            init = init.astype(np.float64)
        m, n, blocks = a_el.shape[0], b_el.shape[1], a_scale.shape[1]
        a3 = np.ascontiguousarray(a_el.reshape(m, blocks, k).transpose(1, 0, 2))  # BLAS needs it
        b3 = np.ascontiguousarray(b_el).reshape(blocks, k, n)
        group = max(1, (1 << 22) // max(1, m * n))  # block dots per batched BLAS call
        cache: dict[int, np.ndarray] = {}

        def term(j: int) -> np.ndarray:
            first = j - j % group
            if first not in cache:
                cache.clear()
                cache[first] = np.matmul(a3[first : first + group], b3[first : first + group])
            s = cache[first][j - first]  # exact: see the module docstring
            with np.errstate(invalid="ignore"):
                out: np.ndarray = s * a_scale[:, j, None] * b_scale[None, j, :]  # exact
            return out

        scaled = a_t * b_t != 1.0
        acc = reduce(self.order, blocks, term, add, zeros if scaled else init)
        if scaled:
            acc = add(np.zeros_like(acc), _product_round_to_odd(acc, a_t * b_t))
            if bias is not None:
                acc = add(init.copy(), acc)
        result = acc.astype(self.output_dtype)
        if counter is None:
            return result
        counter.add("inf_results", np.count_nonzero(np.isinf(result)))
        counter.add("nan_results", np.count_nonzero(np.isnan(result)))
        return result, counter.freeze()


def _adder(
    acc: FloatFormat, mode: Rounding, overflow: Overflow, counter: EventCounter | None
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """One rounded addition into the accumulator. fp32 with nearest-even: ``acc + t`` rounded
    to odd at 53 bits (TwoSum, exact), then numpy's float32 cast (nearest-even, to inf past the
    range): the correctly rounded sum (Boldo & Melquiond, Thm. 1: 53 >= 24 + 2). Otherwise the
    general exact adder of :mod:`mixprec.mac.accumulate`."""
    is_fp32 = acc.mantissa_bits == 23 and acc.emin == -126 and acc.has_inf and acc.has_subnormals
    if not (is_fp32 and mode is Rounding.NEAREST_EVEN):
        return float_adder(acc, mode, overflow, counter)

    def rounded_sum(a: np.ndarray, t: np.ndarray) -> np.ndarray:
        return two_sum_round_to_odd(a, t).astype(np.float32).astype(np.float64)

    return rounded_sum_adder(rounded_sum, float(acc.max), overflow, counter)


def _operand(x: object, fmt: BlockFormat, axis: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Element values (float64, padded to whole blocks along ``axis`` and moved so that the
    blocks run along axis 1 of ``a`` / axis 0 of ``b``), block scale values (``a``: (M, nb),
    ``b``: (nb, N)) and the tensor scale (1 when none)."""
    if not isinstance(x, tuple):
        return block_terms(x, fmt, axis=axis)
    encoded = x
    codes, scales = np.asarray(encoded[0]), np.asarray(encoded[1])
    s_t = float(encoded[2]) if len(encoded) == 3 else 1.0
    ones = np.ones_like(scales) * (127 if fmt.is_power_of_two else 0x38)  # scale 1.0
    elements = decode_blocks((codes, ones), fmt, axis=axis)  # validates the shapes
    scale_values = decode(scales, fmt.scale, dtype=np.float64)  # E8M0 255 / E4M3 0x7F: NaN
    n_pad = scales.shape[axis] * fmt.block_size - codes.shape[axis]
    if n_pad:
        pad = [(0, 0)] * elements.ndim
        pad[axis] = (0, n_pad)
        elements = np.pad(elements, pad)
    return elements, scale_values, s_t


def _product_round_to_odd(a: np.ndarray, c: float) -> np.ndarray:
    """``a * c`` rounded to odd at 53 bits, exactly (Dekker's TwoProduct, then a step toward the
    error), for finite ``c`` > 0 and ``a`` within float64's range after the product."""
    p = a * c
    split = 134217729.0  # 2**27 + 1: Veltkamp's split into two 26-bit halves

    def halves(x: np.ndarray | float) -> tuple[np.ndarray | float, np.ndarray | float]:
        t = split * x
        hi = t - (t - x)
        return hi, x - hi

    with np.errstate(invalid="ignore", over="ignore"):
        a_hi, a_lo = halves(a)
        c_hi, c_lo = halves(c)
        e = ((a_hi * c_hi - p) + a_hi * c_lo + a_lo * c_hi) + a_lo * c_lo
        e = np.where(np.isfinite(p), e, 0.0)
    bits = p.view(np.int64)
    fix = (e != 0) & ((bits & 1) == 0)
    if fix.any():
        bits[fix] += np.where(np.signbit(e[fix]) == np.signbit(p[fix]), 1, -1)
    return p


register_block_parser(BlockMAC.parse)
