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

Exactness: inputs of at most 11 bits (``F + 2 <= 28``) make every ``A_t < 2**28``, a group's
sum below ``2**34``: all of it is int64 arithmetic.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from mixprec.formats import FloatFormat
from mixprec.formats.spec import Rounding, as_rounding

__all__ = ["BlockFMA", "block_fma_matmul"]

_ZERO_EXPONENT = -(1 << 20)  # the exponent of a zero operand: no zero product sets E
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


def _split(x: np.ndarray, emin: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(exponent, integer significand with 23 fraction bits, sign)`` of float64 values.

    ``x = sign * significand * 2**(exponent - 23)`` exactly (values with at most 24 bits);
    zeros get significand 0 and exponent ``_ZERO_EXPONENT``.
    """
    magnitude = np.abs(x)
    _, e = np.frexp(magnitude)
    exponent = np.maximum(e.astype(np.int64) - 1, emin)
    significand = np.ldexp(magnitude, (_FP32_FRACTION - exponent).astype(np.int32)).astype(np.int64)
    exponent[magnitude == 0] = _ZERO_EXPONENT
    return exponent, significand, np.where(np.signbit(x), -1, 1).astype(np.int64)


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
    ea: np.ndarray,
    sa: np.ndarray,
    eb: np.ndarray,
    sb: np.ndarray,
    c: np.ndarray,
    fma: BlockFMA,
    out: FloatFormat,
    shift_in: int,
) -> np.ndarray:
    """One block FMA for every output: ``ea, sa`` (M, n) and ``eb, sb`` (n, N) are exponents and
    signed significands (scaled so products have ``2 * frac_in - shift_in`` fraction bits)."""
    f = fma.fraction_bits
    exponents = ea[:, None, :] + eb.T[None, :, :]  # (M, N, n)
    products = sa[:, None, :] * sb.T[None, :, :]
    if not fma.output_subnormals:
        c = np.where(np.abs(c) < out.smallest_normal, 0.0, c)
    ec, sc, sign_c = _split(c, -126)
    top = np.maximum(exponents.max(axis=2, initial=_ZERO_EXPONENT), ec)
    if fma.min_exponent is not None:
        top = np.maximum(top, fma.min_exponent)
    # A_t = floor(|t| 2**(F - E)) for t = P 2**(e - F - shift_in): |P| >> (E - e + shift_in)
    shift = np.minimum(top[:, :, None] - exponents + shift_in, 62)
    aligned = np.abs(products) >> shift
    total = np.einsum("ijk,ijk->ij", aligned, np.sign(products))
    # c = sc 2**(ec - 23): pre-scaled by 2**lead_c, so the shift is E - ec + 23 + lead_c - F >= 0
    lead_c = max(0, f - _FP32_FRACTION)
    shift_c = np.minimum(top - ec + _FP32_FRACTION + lead_c - f, 62)
    total += sign_c * ((sc << lead_c) >> shift_c)
    result = _round_result(total, top, fma, out)
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
    """
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not fma.input_subnormals:
        a64 = np.where(np.abs(a64) < inp.smallest_normal, 0.0, a64)
        b64 = np.where(np.abs(b64) < inp.smallest_normal, 0.0, b64)
    special = _specials(a64, b64, c)
    finite = np.isfinite
    a_f = np.where(finite(a64), a64, 0.0)
    b_f = np.where(finite(b64), b64, 0.0)
    ea, sa, sign_a = _split(a_f, inp.emin)
    eb, sb, sign_b = _split(b_f, inp.emin)
    # significands carry 23 fraction bits, of which at most frac_in are used: drop the others
    # from one operand (exact) and pre-scale so that every alignment shift is a right shift
    f, frac_in = fma.fraction_bits, inp.mantissa_bits
    lead = max(0, f - 2 * frac_in)
    sa = sign_a * ((sa >> (_FP32_FRACTION - frac_in)) << lead)
    sb = sign_b * (sb >> (_FP32_FRACTION - frac_in))
    shift_in = 2 * frac_in + lead - f
    k = a64.shape[1]
    acc = np.where(finite(c), c, 0.0).astype(np.float64)
    if fma.late_c and out.mantissa_bits != _FP32_FRACTION:
        raise ValueError(f"late_c is modelled for fp32 output only, got {out.name}")
    zero = np.zeros_like(acc)
    for start in range(0, k, fma.group):
        stop = min(start + fma.group, k)
        operands = (ea[:, start:stop], sa[:, start:stop], eb[start:stop], sb[start:stop])
        if fma.late_c:  # the group from +0, then one IEEE fp32 addition (nearest even)
            with np.errstate(over="ignore", invalid="ignore"):
                part = _group(*operands, zero, fma, out, shift_in).astype(np.float32)
                acc = (acc.astype(np.float32) + part).astype(np.float64)
        else:
            acc = _group(*operands, acc, fma, out, shift_in)
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
