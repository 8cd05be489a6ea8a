"""A parameterised block fused multiply-add (block FMA): the adder of NVIDIA tensor cores.

The generic model of Khattak & Mikaitis ("Accurate Models of NVIDIA Tensor Cores", arXiv
2512.07004, 2025, §3-4; "Generalized Methodology for Determining Numerical Features of Hardware
Floating-Point Matrix Multipliers", IEEE HPEC 2025), as the global-alignment branch of their
``Generic_BFMA_TC.m`` and the recursive ``GEMM.m`` define it for every NVIDIA GPU they model.
Written from the semantics below, vectorised over all outputs, exact in integers.

Semantics of one block FMA ``d = BFMA(a[0:n], b[0:n], c)`` (:class:`BlockFMA` parameters in
*italics*; ``F = 23 + extra_bits`` is the number of fraction bits the adder keeps):

1. *input_subnormals* False flushes subnormal inputs to zero. Each input ``x != 0`` is
   ``x = s_x 2**e_x`` with ``e_x = max(floor(log2 |x|), emin_in)`` (the input format's emin), so
   the significand ``s_x`` is in [1, 2) or, for a subnormal, in (0, 1). A product's exponent is
   ``e_a + e_b`` and its significand ``s_a s_b`` in (0, 4): products are exact and are *not*
   normalised. Zero products take no part. ``c`` (a value of the output format; *output_subnormals*
   False flushes a subnormal ``c``) has ``e_c = max(floor(log2 |c|), -126)``; ``c = 0`` takes no
   part. ``c`` enters here, with the products, aligned like them (``late_partial_sum = 0``),
   unless *late_c*: then the group is computed from ``c = 0`` and ``c`` is added to its result by
   one fp32 addition rounded to nearest even.
2. Alignment: ``E = max(max e over the terms, min_exponent)``; every term ``t`` becomes the
   integer ``A_t = floor(|t| 2**(F - E))``: the bits below ``2**(E - F)`` are dropped by
   truncation (no guard, round or sticky bit), whatever ``t``'s sign.
3. The signed integers are summed exactly (enough carry bits: the hardware's ``ceil(log2 n) +
   2`` cannot overflow), ``S = sum sign(t) A_t``, and normalised once: ``S = 0`` gives +0,
   else the value ``|S| 2**(E - F)`` with the sign of ``S``.
4. Final rounding, once, with *final_rounding* (``toward_zero`` truncates, ``nearest_even``),
   to a significand of ``min(out.mantissa_bits, F)`` fraction bits (``F < 23``: the result keeps
   only ``F`` bits, as the FP8 adders of Hopper and Ada do) and the output format's subnormal
   grid (*output_subnormals* False flushes a subnormal result to +0). A result at or beyond
   ``2**(emax + 1)`` is ±inf (for either rounding, as the model's exponent check does).

A dot product of length K is *group* products at a time (K padded with zeros to a multiple of
*group*), recursively: ``d_0 = c``, ``d_g = BFMA(a_g, b_g, d_{g-1})`` (``GEMM.m``). Non-finite
inputs are decided over the whole dot product as ``GEMM.m`` does: any NaN among the products
(``0 * inf`` included) or ``c``, or both infinities, gives NaN; one infinity gives that infinity.
An accumulator that overflowed to ±inf stays ±inf (the model's behaviour there is undefined).
Exact zero results are +0, whatever the signs of the zero terms.

Exactness: inputs of at most 11 bits make every product exact in float64 and every aligned
``A_t < 2**28`` (``F <= 26``); the arithmetic is float64 where it is provably exact (see
:func:`_group`) and int64 for the final rounding.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from mixprec.formats import FloatFormat
from mixprec.formats.spec import Rounding, as_rounding

__all__ = ["BlockFMA", "block_fma_matmul"]

_ZERO_EXPONENT = -16000  # the exponent of a zero operand (int16): no zero product sets E
_FINAL_ROUNDINGS = (Rounding.TOWARD_ZERO, Rounding.NEAREST_EVEN)
_FP32_FRACTION = 23  # the adders' significands are fp32's, plus the extra alignment bits


@dataclass(frozen=True)
class BlockFMA:
    """The parameters of a block FMA (Khattak & Mikaitis's generic model; see the module).

    Args:
        group: products per fused group (the model's ``fma``), >= 1.
        extra_bits: extra alignment bits below fp32's 23 fraction bits (``neab``); negative
            values keep fewer (``-10``: 13 fraction bits, Hopper and Ada FP8).
        final_rounding: ``toward_zero`` or ``nearest_even`` (``frmode``).
        min_exponent: the smallest alignment exponent ``E`` (``min_exp_limit``), or None.
        input_subnormals, output_subnormals: False flushes subnormal inputs / ``c`` and results
            to zero (``in_subnormals``, ``out_subnormals``).
        late_c: True adds ``c`` after the group: ``d = RN_fp32(BFMA(a, b, 0) + c)``, one fp32
            addition rounded to nearest even (fp32 output only). B200 FP8 does this (see
            :mod:`mixprec.mac.tensor_cores`).

    Raises:
        ValueError: a parameter out of range; the message names it.

    >>> BlockFMA(group=16, extra_bits=2, final_rounding="toward_zero").fraction_bits
    25
    """

    group: int
    extra_bits: int
    final_rounding: Rounding = Rounding.TOWARD_ZERO
    min_exponent: int | None = None
    input_subnormals: bool = True
    output_subnormals: bool = True
    late_c: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.group, bool) or not isinstance(self.group, int) or self.group < 1:
            raise ValueError(
                f"group must be an int >= 1 (products per fused group), got {self.group!r}"
            )
        if not isinstance(self.extra_bits, int) or not -20 <= self.extra_bits <= 3:
            raise ValueError(
                f"extra_bits must be an int in [-20, 3] (alignment bits beyond fp32's 23), "
                f"got {self.extra_bits!r}"
            )
        rounding = as_rounding(self.final_rounding)
        if rounding not in _FINAL_ROUNDINGS:
            raise ValueError(
                f"final_rounding {rounding.value!r} is not modelled; allowed: 'toward_zero', "
                "'nearest_even'"
            )
        object.__setattr__(self, "final_rounding", rounding)

    @property
    def fraction_bits(self) -> int:
        """``F``: fraction bits kept below the alignment exponent."""
        return _FP32_FRACTION + self.extra_bits

    def replace(self, **changes: object) -> BlockFMA:
        """A copy with some parameters changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _exponents(x: np.ndarray, emin: int) -> np.ndarray:
    """``max(floor(log2 |x|), emin)`` as int16 (``_ZERO_EXPONENT`` for zeros)."""
    _, e = np.frexp(x)
    exponent: np.ndarray = np.maximum(e.astype(np.int16) - 1, emin).astype(np.int16)
    exponent[x == 0] = _ZERO_EXPONENT
    return exponent


def _round_result(
    total: np.ndarray, top: np.ndarray, fma: BlockFMA, out: FloatFormat
) -> np.ndarray:
    """Float64 values of the rounded results: ``total * 2**(top - F)`` rounded as in step 4."""
    f = fma.fraction_bits
    keep = min(out.mantissa_bits, f)
    magnitude = np.abs(total)
    _, length = np.frexp(magnitude.astype(np.float64))  # bit length (exact: |S| < 2**53)
    exponent = top - f + length.astype(np.int64) - 1  # of the leading bit
    quantum = np.maximum(exponent, out.emin) - keep
    drop = np.clip(quantum - (top - f), 0, 62)
    kept = magnitude >> drop
    if fma.final_rounding is Rounding.NEAREST_EVEN:
        rest = magnitude - (kept << drop)
        half = np.where(drop > 0, np.int64(1) << np.maximum(drop - 1, 0), 0)
        up = (drop > 0) & ((rest > half) | ((rest == half) & ((kept & 1) == 1)))
        kept = kept + up
    scale = np.maximum(top - f + drop, -2000).astype(np.int32)
    with np.errstate(over="ignore"):
        value = np.ldexp(kept.astype(np.float64), scale)
        value = np.where(value >= 2.0 ** (out.emax + 1), np.inf, value)
    if not fma.output_subnormals:
        value = np.where(value < out.smallest_normal, 0.0, value)
    return np.where(total < 0, -value, value)


def _group(
    a: np.ndarray,
    ea: np.ndarray,
    b: np.ndarray,
    eb: np.ndarray,
    c: np.ndarray,
    fma: BlockFMA,
    out: FloatFormat,
) -> np.ndarray:
    """One block FMA for every output: ``a`` (M, n) and ``b`` (n, N) values, ``ea``, ``eb`` their
    exponents, ``c`` (M, N) the accumulator; float64 results (values of ``out``).

    Exact in float64: a product of two inputs of <= 11 bits is exact; scaling it by
    ``2**(F - E)`` is exact (exponents stay within float64's normal range: |e| < 600), and
    ``trunc`` of the scaled product is ``sign(t) floor(|t| 2**(F - E))``, the aligned integer
    ``A_t``, below ``2**28``; the sum of at most ``2**20`` of them is an integer below ``2**53``,
    exact in any order.
    """
    f = fma.fraction_bits
    if not fma.output_subnormals:
        c = np.where(np.abs(c) < out.smallest_normal, 0.0, c)
    ec = _exponents(c, -126).astype(np.int64)
    top = np.maximum((ea[:, None, :] + eb.T[None, :, :]).max(axis=2, initial=_ZERO_EXPONENT), ec)
    if fma.min_exponent is not None:
        top = np.maximum(top, fma.min_exponent)
    top = np.maximum(top, -600)  # all-zero groups: any E gives S = 0
    scale = np.ldexp(1.0, (f - top).astype(np.int32))
    products = a[:, None, :] * b.T[None, :, :]
    products *= scale[:, :, None]
    total = np.trunc(products, out=products).sum(axis=2)
    total += np.trunc(c * scale)
    result = _round_result(total.astype(np.int64), top, fma, out)
    return np.where(np.isfinite(c), result, c)  # an overflowed accumulator stays ±inf


def block_fma_matmul(
    a: np.ndarray, b: np.ndarray, c: np.ndarray, fma: BlockFMA, inp: FloatFormat, out: FloatFormat
) -> np.ndarray:
    """Float64 values (M×N) of the tensor-core product ``a @ b + c`` (see the module).

    Args:
        a, b: (M, K) and (K, N) values of ``inp`` (any float dtype holding them exactly).
        c: (M, N) float64 values of ``out``: the accumulator's initial value.
        fma: the adder's parameters.
        inp, out: the input and output formats (at most 11 bits of precision in, fp32/fp16 out).

    Raises:
        ValueError: ``late_c`` with an output other than fp32.
    """
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not fma.input_subnormals:
        a64 = np.where(np.abs(a64) < inp.smallest_normal, 0.0, a64)
        b64 = np.where(np.abs(b64) < inp.smallest_normal, 0.0, b64)
    special = _specials(a64, b64, c)
    a_f = np.where(np.isfinite(a64), a64, 0.0)
    b_f = np.where(np.isfinite(b64), b64, 0.0)
    ea, eb = _exponents(a_f, inp.emin), _exponents(b_f, inp.emin)
    if fma.late_c and out.mantissa_bits != _FP32_FRACTION:
        raise ValueError(f"late_c is modelled for fp32 output only, got {out.name}")
    acc = np.where(np.isfinite(c), c, 0.0).astype(np.float64)
    zero = np.zeros_like(acc)
    for start in range(0, a64.shape[1], fma.group):
        part = slice(start, start + fma.group)
        operands = (a_f[:, part], ea[:, part], b_f[part], eb[part])
        if fma.late_c:  # the group from +0, then one IEEE fp32 addition (nearest even)
            with np.errstate(over="ignore", invalid="ignore"):
                group = _group(*operands, zero, fma, out).astype(np.float32)
                acc = (acc.astype(np.float32) + group).astype(np.float64)
        else:
            acc = _group(*operands, acc, fma, out)
    if special is not None:
        rows, cols, values = special
        acc[rows, cols] = values
    return acc


def _specials(
    a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Outputs decided by a non-finite input (``GEMM.m``'s rule) and their values, or None."""
    bad_rows = ~np.isfinite(a).all(axis=1)
    bad_cols = ~np.isfinite(b).all(axis=0)
    mask = bad_rows[:, None] | bad_cols[None, :] | ~np.isfinite(c)
    if not mask.any():
        return None
    rows, cols = np.nonzero(mask)
    with np.errstate(invalid="ignore"):
        terms = np.concatenate([a[rows] * b[:, cols].T, c[rows, cols][:, None]], axis=1)
    nan = np.isnan(terms).any(axis=1)
    pos, neg = (terms == np.inf).any(axis=1), (terms == -np.inf).any(axis=1)
    values = np.where(nan | (pos & neg), np.nan, np.where(pos, np.inf, -np.inf))
    decided = nan | pos | neg
    return rows[decided], cols[decided], values[decided]
