"""Requantization: an int32 accumulator back to int8 with a fixed-point multiplier.

An integer layer computes ``acc = sum_k (q_x[k] - z_x) * q_w[k, j] + q_b[j]`` exactly in int32;
the real value it stands for is ``s_x * s_w[j] * acc``. The next layer wants it as int8 on the
grid of scale ``s_y`` and zero point ``z_y``::

    q_y = clamp(z_y + round(M * acc), lo, hi),    M = s_x * s_w[j] / s_y

Two ways to compute ``round(M * acc)`` stand side by side here:

* ``"gemmlowp"`` (default): integer arithmetic only, as gemmlowp and TensorFlow Lite do it
  (Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
  Integer-Arithmetic-Only Inference", section 2.2; gemmlowp ``fixedpoint.h``; TFLite
  ``MultiplyByQuantizedMultiplier``). ``M = M0 * 2**(shift - 31)`` with an int32 ``M0`` in
  ``[2**30, 2**31)``; ``SaturatingRoundingDoublingHighMul(acc, M0)`` rounds the high half of the
  64-bit product (ties toward +inf), then ``RoundingDivideByPOT`` divides by ``2**-shift``
  rounding ties away from zero. Two roundings in a row: the result is within 1 of
  ``M * acc``, and can differ by one from a single correctly rounded ``round(M * acc)``.
* ``"float"``: float32 arithmetic, as ONNX Runtime's ``MatMulInteger -> Cast -> Mul ->
  QuantizeLinear`` computes it: ``rint(float32(acc) * float32(M))`` with ties to even
  (``float32(acc)`` is exact below ``2**24``; the product rounds once to float32).

The two agree except where ``M * acc`` lies within a rounding error of a half-integer (see
``tests/nn/test_requant.py``, which counts the differences).

>>> m0, shift = quantize_multiplier(0.25)
>>> m0, shift
(1073741824, -1)
>>> requantize(np.array([10, -10, 6, -6]), m0, shift).tolist()
[3, -3, 2, -2]
"""

from __future__ import annotations

import enum
import math

import numpy as np

from mixprec._util.choice import as_choice

__all__ = [
    "Requantization",
    "multiply_by_quantized_multiplier",
    "quantize_multiplier",
    "requantize",
    "requantize_float",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class Requantization(str, enum.Enum):
    """How an int32 accumulator is scaled back to int8 (see the module docstring)."""

    GEMMLOWP = "gemmlowp"
    FLOAT = "float"


def as_requantization(value: Requantization | str) -> Requantization:
    """The enum member of ``value``; a ``ValueError`` lists the choices."""
    return as_choice(Requantization, value, "requantization")


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """``(M0, shift)``: ``real_multiplier ~= M0 * 2**(shift - 31)`` (TFLite ``QuantizeMultiplier``).

    ``M0`` is an int32 in ``[2**30, 2**31)`` (0 for a zero multiplier): the significand of the
    multiplier rounded to 31 bits, ties away from zero (``std::round``). A significand that
    rounds up to ``2**31`` is halved and the shift incremented. Multipliers below ``2**-32``
    give ``(0, 0)``, as in TFLite.

    Args:
        real_multiplier: a finite float ``>= 0``.

    Raises:
        ValueError: a negative, infinite or NaN multiplier.
    """
    real = float(real_multiplier)
    if not (math.isfinite(real) and real >= 0.0):
        raise ValueError(f"a requantization multiplier must be finite and >= 0, got {real!r}")
    if real == 0.0:
        return 0, 0
    significand, shift = math.frexp(real)  # real = significand * 2**shift, 0.5 <= s < 1
    scaled = significand * 2.0**31  # exact: a power-of-two scaling
    fixed = math.floor(scaled + 0.5)  # std::round: ties away from zero (scaled > 0)
    if fixed == 2**31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(fixed), int(shift)


def _as_int64(x: object) -> np.ndarray:
    array = np.asarray(x)
    if array.dtype.kind not in "iu":
        raise TypeError(f"requantization takes integer arrays, got dtype {array.dtype}")
    return array.astype(np.int64)


def saturating_rounding_doubling_high_mul(a: object, b: object) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul``: ``round(a * b / 2**31)`` of int32s.

    The rounding adds ``2**30`` (``1 - 2**30`` for a negative product) and divides truncating
    toward zero: ties go toward +inf. The one overflow, ``a == b == INT32_MIN``, saturates to
    ``INT32_MAX``.

    Returns:
        int64 array (values in int32 range).
    """
    a64, b64 = _as_int64(a), _as_int64(b)
    overflow = (a64 == INT32_MIN) & (b64 == INT32_MIN)
    ab = a64 * b64  # |ab| <= 2**62: exact in int64
    nudge = np.where(ab >= 0, np.int64(1 << 30), np.int64(1 - (1 << 30)))
    total = ab + nudge
    high = np.where(total >= 0, total >> 31, -((-total) >> 31))  # C division: toward zero
    return np.where(overflow, np.int64(INT32_MAX), high)


def rounding_divide_by_pot(x: object, exponent: object) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2**exponent`` rounded, ties away from zero.

    Args:
        x: integers.
        exponent: integers in ``[0, 31]`` (broadcast against ``x``).

    Raises:
        ValueError: an exponent out of ``[0, 31]``.
    """
    x64, e64 = _as_int64(x), _as_int64(exponent)
    if e64.size and (e64.min() < 0 or e64.max() > 31):
        raise ValueError(f"exponents must be in [0, 31], got {e64.min()}..{e64.max()}")
    mask = (np.int64(1) << e64) - 1
    remainder = x64 & mask
    threshold = (mask >> 1) + (x64 < 0)
    return (x64 >> e64) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: object, m0: object, shift: object) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier``: ``x * M0 * 2**(shift - 31)``, rounded.

    A positive ``shift`` multiplies ``x`` by ``2**shift`` first, saturating to int32 (gemmlowp's
    ``SaturatingRoundingMultiplyByPOT``; TFLite's plain int32 product would overflow there); a
    negative one is the rounding right shift after the high multiplication.

    Args:
        x: int32 accumulators (any integer dtype).
        m0, shift: from :func:`quantize_multiplier` (scalars, or arrays broadcast against ``x``:
            one per output channel).

    Returns:
        int64 array.
    """
    shift64 = _as_int64(shift)
    left = np.maximum(shift64, 0)
    right = np.maximum(-shift64, 0)
    x64 = np.clip(_as_int64(x) << left, INT32_MIN, INT32_MAX)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x64, m0), right)


def requantize(
    acc: object,
    m0: object,
    shift: object,
    zero_point: int = 0,
    lo: int = -128,
    hi: int = 127,
) -> np.ndarray:
    """int8 codes ``clamp(zero_point + MultiplyByQuantizedMultiplier(acc), lo, hi)``.

    ``lo = zero_point`` fuses a ReLU (the code of real 0 is the zero point).

    Returns:
        int8 array.
    """
    scaled = multiply_by_quantized_multiplier(acc, m0, shift) + np.int64(zero_point)
    return np.clip(scaled, lo, hi).astype(np.int8)


def requantize_float(
    acc: object,
    multiplier: object,
    zero_point: int = 0,
    lo: int = -128,
    hi: int = 127,
) -> np.ndarray:
    """int8 codes ``clamp(zero_point + rint(float32(acc) * float32(multiplier)), lo, hi)``.

    Float32 arithmetic with ties to even, as ONNX Runtime's ``Cast``, ``Mul`` and
    ``QuantizeLinear`` (scale 1) compute it; see the module docstring.

    Returns:
        int8 array.
    """
    product = np.asarray(acc).astype(np.float32) * np.asarray(multiplier, np.float32)
    rounded = np.rint(product).astype(np.int64) + np.int64(zero_point)
    return np.clip(rounded, lo, hi).astype(np.int8)
