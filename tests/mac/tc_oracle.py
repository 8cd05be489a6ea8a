"""A slow, exact tensor-core reference in ``fractions.Fraction``, written from the block-FMA
semantics (Khattak & Mikaitis's generic model), independently of ``mixprec.mac.block_fma``.

One output at a time, one group at a time; Python ints and Fractions only (float64 only for
reading the inputs, which it holds exactly).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def _floor_log2(x: Fraction) -> int:
    """floor(log2(x)) of a positive Fraction, exactly."""
    e = x.numerator.bit_length() - x.denominator.bit_length()
    return e if Fraction(2) ** e <= x else e - 1


def _exponent(x: Fraction, emin: int) -> int:
    return max(_floor_log2(abs(x)), emin)


def _round(value: Fraction, keep: int, emin: int, emax: int, mode: str) -> Fraction | float:
    """|value| > 0 rounded to ``keep`` fraction bits and the grid of 2**(emin - keep)."""
    quantum = Fraction(2) ** (max(_floor_log2(value), emin) - keep)
    units = value / quantum
    low = math.floor(units)
    if mode == "nearest_even":
        rest = units - low
        if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and low % 2 == 1):
            low += 1
    result = low * quantum
    return math.inf if result >= Fraction(2) ** (emax + 1) else result


def block(a: list[float], b: list[float], c: float, p: dict, inp, out) -> float:
    """One block FMA ``BFMA(a, b, c)`` as a float (the output format's value)."""
    f = 23 + p["extra_bits"]
    small_in, small_out = Fraction(2) ** inp.emin, Fraction(2) ** out.emin
    terms: list[tuple[int, Fraction]] = []
    for x, y in zip(a, b, strict=True):
        fx, fy = Fraction(x), Fraction(y)
        if not p["input_subnormals"]:
            fx = fx if abs(fx) >= small_in else Fraction(0)
            fy = fy if abs(fy) >= small_in else Fraction(0)
        if fx and fy:
            terms.append((_exponent(fx, inp.emin) + _exponent(fy, inp.emin), fx * fy))
    fc = Fraction(c)
    if not p["output_subnormals"] and abs(fc) < small_out:
        fc = Fraction(0)
    if fc and not p["late_c"]:
        terms.append((_exponent(fc, -126), fc))
    total = 0
    if terms:
        top = max(e for e, _ in terms)
        if p["min_exponent"] is not None:
            top = max(top, p["min_exponent"])
        scale = Fraction(2) ** (f - top)
        for _, t in terms:
            magnitude = math.floor(abs(t) * scale)
            total += magnitude if t > 0 else -magnitude
    if total == 0:
        result: float = 0.0
    else:
        value = _round(Fraction(abs(total)) / scale, min(out.mantissa_bits, f), out.emin,
                       out.emax, p["final_rounding"])  # fmt: skip
        if not p["output_subnormals"] and value < small_out:
            value = Fraction(0)
        result = float(value) if total > 0 else -float(value)
    if p["late_c"]:
        return float(np.float32(result) + np.float32(c))  # one IEEE fp32 addition
    return result


def gemm(a: np.ndarray, b: np.ndarray, c: np.ndarray, p: dict, inp, out) -> np.ndarray:
    """``a @ b + c`` by recursive block FMAs of ``p["group"]`` products, with GEMM.m's rule for
    non-finite inputs (over the whole dot product)."""
    m, k = a.shape
    n = b.shape[1]
    result = np.empty((m, n))
    for i in range(m):
        for j in range(n):
            with np.errstate(invalid="ignore"):
                terms = [float(a[i, q]) * float(b[q, j]) for q in range(k)] + [float(c[i, j])]
            if any(math.isnan(t) for t in terms) or (math.inf in terms and -math.inf in terms):
                result[i, j] = math.nan
                continue
            if math.inf in terms or -math.inf in terms:
                result[i, j] = math.inf if math.inf in terms else -math.inf
                continue
            acc = float(c[i, j])
            for start in range(0, k, p["group"]):
                stop = min(start + p["group"], k)
                if math.isinf(acc):
                    break
                acc = block(list(a[i, start:stop]), list(b[start:stop, j]), acc, p, inp, out)
            result[i, j] = acc
    return result
