"""An exact oracle of block-scaled formats in ``fractions.Fraction``, written from the specs.

OCP Microscaling Formats v1.0 §6.3 ("Conversion from vector of scalar to MX"): for a block
``V_1 .. V_k``, ``shared_exp = floor(log2(max_i |V_i|)) - emax_elem``, ``X = 2**shared_exp``,
``P_i = quantize_to_element_format(V_i / X)`` with values beyond the element's max clamped to it.
The other rules replace the first line (cuBLAS RCEIL: ``X = 2**ceil(log2(amax / max_elem))``;
torchao CEIL and EVEN). E8M0 holds ``2**-127 .. 2**127`` (§5.4.1). NVFP4 (NVIDIA): tensor scale
``fp32(amax / (6 * 448))``, block scale ``e4m3(amax_b / 6 / s_t)``, element
``e2m1(clamp(V / (s_b * s_t), ±6))``. Nothing here calls mixprec's rounding: element rounding is
``tests.reference.exact_round``, an independent Fraction oracle.
"""

from __future__ import annotations

import math
from fractions import Fraction

from tests.reference import exact_round, max_value


def floor_log2(a: Fraction) -> int:
    """The largest ``e`` with ``2**e <= a`` (a > 0)."""
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    return e


def ceil_log2(a: Fraction) -> int:
    """The smallest ``e`` with ``2**e >= a`` (a > 0)."""
    e = floor_log2(a)
    return e if Fraction(2) ** e == a else e + 1


def round_half_up_bits(a: Fraction, p: int) -> Fraction:
    """``a`` rounded to ``p`` significant bits, ties away from zero (magnitudes: half up)."""
    quantum = Fraction(2) ** (floor_log2(a) - p + 1)
    return math.floor(a / quantum + Fraction(1, 2)) * quantum


def element_precision(element: object) -> int:
    if element.is_integer:
        return element.bits - 1
    return element.mantissa_bits + 1


def scale_exponent(amax: Fraction, fmt: object) -> int | None:
    """The E8M0 exponent of a block with largest magnitude ``amax``; None for the NaN scale."""
    elem_max = max_value(fmt.element)
    emax_elem = floor_log2(elem_max)
    if amax == 0:
        return -127
    rule = fmt.rule.value
    if rule == "floor":
        e = floor_log2(amax) - emax_elem
    elif rule == "ceil":
        e = ceil_log2(amax) - emax_elem
    elif rule == "even":
        e = floor_log2(round_half_up_bits(amax, element_precision(fmt.element))) - emax_elem
    else:  # rceil
        e = ceil_log2(amax / elem_max)
    if e > 127:
        return None if fmt.scale_overflow.value == "nan" else 127
    return max(e, -127)


def mx_block(values: list[float], fmt: object, rounding: str = "nearest_even") -> list[float]:
    """The MX quantization of one block (Python floats in and out; NaN for a NaN scale)."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < len(values) and fmt.specials.value == "block":
        return [math.nan] * len(values)
    amax = max((abs(Fraction(v)) for v in finite), default=Fraction(0))
    e = scale_exponent(amax, fmt)
    if e is None:
        return [math.nan] * len(values)
    scale = Fraction(2) ** e
    out = []
    for v in values:
        if not math.isfinite(v):
            p = exact_round(v, fmt.element, rounding, "saturate")
            out.append(p * float(scale) if math.isfinite(p) else p)
            continue
        exact = Fraction(v) / scale if v != 0 else v  # a Fraction has no -0
        p = exact_round(exact, fmt.element, rounding, "saturate")
        if fmt.element.is_integer and fmt.int_min.value == "symmetric":
            p = max(p, -float(max_value(fmt.element)))
        out.append(math.copysign(float(Fraction(p) * scale), p))
    return out


def nv_tensor_scale(values: list[float]) -> Fraction:
    finite = [abs(Fraction(v)) for v in values if math.isfinite(v)]
    amax = max(finite, default=Fraction(0))
    if amax == 0:
        return Fraction(1)
    s_t = Fraction(exact_round(amax / (6 * 448), "fp32"))
    return max(s_t, Fraction(2) ** -149)


def nv_block(
    values: list[float], fmt: object, s_t: Fraction, rounding: str = "nearest_even"
) -> list[float]:
    """NVFP4 of one block given the tensor scale ``s_t`` (1 without one)."""
    if not all(math.isfinite(v) for v in values):
        return [math.nan] * len(values)
    amax = max(abs(Fraction(v)) for v in values)
    s_b = Fraction(exact_round(amax / 6 / s_t, "fp8_e4m3", "nearest_even", "saturate"))
    low = Fraction(2) ** (-9 if fmt.scale_min.value == "subnormal" else -6)
    s_b = max(s_b, low)
    out = []
    for v in values:
        q = min(max(Fraction(v) / (s_b * s_t), Fraction(-6)), Fraction(6)) if v != 0 else v
        p = exact_round(q, "fp4_e2m1", rounding, "saturate")
        value = float(Fraction(p) * s_b * s_t)
        out.append(math.copysign(value, p))
    return out
