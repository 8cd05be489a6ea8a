"""A slow, exact rounding oracle in ``fractions.Fraction``, independent of mixprec's rounding.

The value set of a format is derived here from the format's *parameters* (exponent bits,
mantissa bits, bias, special-value scheme, subnormals, sign, zero; or width, sign and binary
scale), never from :func:`mixprec.quantize`, :func:`mixprec.decode` or the derived properties
of the spec. Rounding finds the two neighbours of the exact value and picks one by the mode:

* The grid continues past ``max`` with the top binade's spacing and into higher binades
  (unbounded exponent range), so overflow is decided after rounding as IEEE 754-2019 §4.3 and
  §7.4 say: 65520 rounds to 2**16 in fp16 and overflows; 464 is a tie between 448 and the NaN
  slot 480 in OCP E4M3 and rounds to the even 448.
* Ties under ``nearest_even`` and the choice under ``odd`` look at the parity of the integer
  significand ``k`` when both neighbours are written ``k * q`` and ``(k + 1) * q`` with the
  quantum ``q`` of the lower one's binade (for a format with no mantissa bits, 1.5 * 2**e is a
  tie between 1 * 2**e and 2 * 2**e: the even one is 2**(e + 1)).
* Overflow ``saturate``: finite values beyond ±max give ±max; ±inf stays ±inf where the format
  has inf, else ±max. Overflow ``inf``: a result beyond max is ±inf (or NaN where the format has
  NaN but no inf, OCP FP8 §5, or ±max where it has neither) when the mode rounds that value away
  from zero (nearest modes, ``up`` for positive, ``down`` for negative values); toward-zero
  directions and ``odd`` give ±max (IEEE 754 §7.4). ±inf inputs give inf, else NaN, else max.
* Integer and fixed-point formats: ``saturate`` clips to the code range (±inf too), ``wrap`` is
  two's complement modulo ``2**bits``, ``error`` raises :class:`OverflowError`; NaN raises
  :class:`ValueError`, and so does inf unless the policy is ``saturate``.
* Signs: a result of zero keeps the input's sign where the format has -0 (not fnuz, not integer).
  An unsigned float format maps negative non-zero values (and -0 where it has no zero) to NaN, or
  to its minimum when it has no NaN. A format without zero (E8M0) clamps magnitudes below its
  smallest normal up to it, and maps zero to NaN (as ml_dtypes ``float8_e8m0fnu``).

>>> from mixprec import get_format
>>> e4m3 = get_format("fp8_e4m3")
>>> exact_round(464, e4m3), exact_round(465, e4m3, overflow="inf")
(448.0, nan)
>>> neighbours(Fraction(1, 3), e4m3)
(Fraction(5, 16), Fraction(11, 32))
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

from mixprec.formats.registry import get_format
from mixprec.formats.spec import FloatFormat, Format, IntFormat

ROUNDINGS = ("nearest_even", "nearest_away", "toward_zero", "up", "down", "odd")
FLOAT_OVERFLOWS = ("saturate", "inf")
INT_OVERFLOWS = ("saturate", "wrap", "error")


def _name(choice: object) -> str:
    """A rounding mode or overflow policy as its string value (accepts the enums too)."""
    return str(getattr(choice, "value", choice))


# -- the value set, from the parameters ------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _pow2(exponent: int) -> Fraction:
    """2**exponent as a Fraction (cached: the oracle asks for the same few powers again)."""
    return Fraction(2) ** exponent


@functools.lru_cache(maxsize=256)
def _float_params(fmt: FloatFormat) -> tuple[int, int, int, Fraction]:
    """(m, emin, emax, max) of a float format, from its independent parameters."""
    e, m, bias, special = fmt.exponent_bits, fmt.mantissa_bits, fmt.bias, _name(fmt.special)
    assert bias is not None
    top = 2**e - 1
    emin = (1 if fmt.has_zero else 0) - bias
    top_is_special = special == "ieee" or (special == "fn" and m == 0)
    emax = top - bias - (1 if top_is_special else 0)
    top_significand = 2 ** (m + 1) - 1 - (1 if special == "fn" and m > 0 else 0)
    return m, emin, emax, top_significand * _pow2(emax - m)


def _has_subnormals(fmt: FloatFormat) -> bool:
    return fmt.has_subnormals and fmt.has_zero


def max_value(fmt: Format | str) -> Fraction:
    """The largest finite value of ``fmt``."""
    fmt = get_format(fmt)
    if isinstance(fmt, FloatFormat):
        return _float_params(fmt)[3]
    top = 2 ** (fmt.bits - 1) - 1 if fmt.is_signed else 2**fmt.bits - 1
    return top * _pow2(-fmt.frac_bits)


def finite_values(fmt: Format | str) -> list[Fraction]:
    """Every finite value of ``fmt``, sorted, without duplicates (zero once). Slow: <= 16 bits."""
    fmt = get_format(fmt)
    if fmt.bits > 16:
        raise ValueError(f"{fmt.name} has {fmt.bits} bits; enumerate formats of <= 16 bits only")
    if not isinstance(fmt, FloatFormat):
        scale = _pow2(-fmt.frac_bits)
        low = -(2 ** (fmt.bits - 1)) if fmt.is_signed else 0
        high = 2 ** (fmt.bits - 1) - 1 if fmt.is_signed else 2**fmt.bits - 1
        return [k * scale for k in range(low, high + 1)]
    m, emin, emax, top = _float_params(fmt)
    magnitudes = [Fraction(0)] if fmt.has_zero else []
    if _has_subnormals(fmt):
        magnitudes += [k * _pow2(emin - m) for k in range(1, 2**m)]
    for exponent in range(emin, emax + 1):
        binade = [(2**m + k) * _pow2(exponent - m) for k in range(2**m)]
        magnitudes += [v for v in binade if v <= top]
    negatives = [-v for v in reversed(magnitudes) if v > 0] if fmt.is_signed else []
    return negatives + magnitudes


# -- neighbours on the grid ------------------------------------------------------------------------
def _floor_log2(a: Fraction) -> int:
    """floor(log2(a)) of a positive fraction, exactly."""
    exponent = a.numerator.bit_length() - a.denominator.bit_length()
    return exponent - 1 if _pow2(exponent) > a else exponent


def _grid(a: Fraction, fmt: Format) -> tuple[int, Fraction] | None:
    """``(k, q)`` with ``k * q <= a < (k + 1) * q`` on the format's magnitude grid, unbounded
    above; ``None`` when ``a`` lies below the smallest value of a format without zero."""
    if not isinstance(fmt, FloatFormat):
        q = _pow2(-fmt.frac_bits)
        return math.floor(a / q), q
    m, emin, _, _ = _float_params(fmt)
    if a > 0 and _floor_log2(a) >= emin:
        q = _pow2(_floor_log2(a) - m)
    elif not fmt.has_zero:
        return None
    elif _has_subnormals(fmt):
        q = _pow2(emin - m)
    else:
        q = _pow2(emin)  # flushed: 0 and the smallest normal are neighbours
    return math.floor(a / q), q


def neighbours(value: Fraction | float | int, fmt: Format | str) -> tuple[Fraction | None, ...]:
    """The largest finite value of ``fmt`` <= ``value`` and the smallest one >= ``value``.

    Either is ``None`` when no finite value of the format lies on that side (beyond ±max, below
    the minimum of an unsigned format or of a format without zero). Equal when ``value`` is a
    value of the format.

    >>> neighbours(2.5, "int8"), neighbours(1000, "fp8_e4m3")
    ((Fraction(2, 1), Fraction(3, 1)), (Fraction(448, 1), None))
    """
    fmt = get_format(fmt)
    x = Fraction(value)
    top, lowest = max_value(fmt), _lowest(fmt)
    if x > top:
        return top, None
    if x < lowest:
        return None, lowest
    low, high = _magnitude_neighbours(abs(x), fmt)
    if low is None:  # |x| below the smallest magnitude of a signed format without zero
        low = -high
    return (low, high) if x >= 0 else (-high, -low)


def _lowest(fmt: Format) -> Fraction:
    if isinstance(fmt, FloatFormat):
        if fmt.is_signed:
            return -max_value(fmt)
        return Fraction(0) if fmt.has_zero else _pow2(_float_params(fmt)[1])
    return (-(2 ** (fmt.bits - 1)) if fmt.is_signed else 0) * _pow2(-fmt.frac_bits)


def _magnitude_neighbours(a: Fraction, fmt: Format) -> tuple[Fraction | None, Fraction]:
    """Neighbours of a magnitude on the unbounded grid; the lower is None below a zero-less
    format's smallest value."""
    grid = _grid(a, fmt)
    if grid is None:
        return None, _pow2(_float_params(fmt)[1])
    k, q = grid
    if k * q == a:
        return a, a
    return k * q, (k + 1) * q


# -- rounding --------------------------------------------------------------------------------------
def _round_magnitude(a: Fraction, fmt: Format, rounding: str, negative: bool) -> Fraction:
    """Round a magnitude on the unbounded grid; returns the chosen magnitude."""
    grid = _grid(a, fmt)
    if grid is None:
        return _pow2(_float_params(fmt)[1])
    k, q = grid
    low, high = k * q, (k + 1) * q
    if low == a:
        return a
    if rounding == "nearest_even":
        tie_choice = high if k % 2 == 1 else low
        return low if a - low < high - a else high if a - low > high - a else tie_choice
    if rounding == "nearest_away":
        return low if a - low < high - a else high
    if rounding == "toward_zero":
        return low
    if rounding == "up":
        return low if negative else high
    if rounding == "down":
        return high if negative else low
    if rounding == "odd":
        return low if k % 2 == 1 else high
    raise ValueError(f"unknown rounding mode {rounding!r}; the oracle knows {', '.join(ROUNDINGS)}")


def _away_from_zero(rounding: str, negative: bool) -> bool:
    """IEEE 754-2019 §7.4: does an overflowing value of this sign go to infinity?"""
    if rounding == "up":
        return not negative
    if rounding == "down":
        return negative
    return rounding in ("nearest_even", "nearest_away")


def exact_round(
    value: Fraction | float | int,
    fmt: Format | str,
    rounding: object = "nearest_even",
    overflow: object = "saturate",
) -> float:
    """Round ``value`` exactly to ``fmt`` and return the result as a Python float.

    Args:
        value: a Fraction, int or float (``nan``, ``±inf`` and ``-0.0`` included).
        fmt: a format or its name.
        rounding: one of :data:`ROUNDINGS` (a string or a ``mixprec.Rounding``).
        overflow: ``saturate`` or ``inf`` for float formats; ``saturate``, ``wrap`` or ``error``
            for integer formats (a string or a ``mixprec.Overflow``).

    Raises:
        ValueError: unknown mode or policy, NaN (or inf with a policy other than ``saturate``)
            into an integer format, a result that is not a float64.
        OverflowError: integer overflow with ``overflow="error"``.

    >>> exact_round(65520.0, "fp16"), exact_round(65520.0, "fp16", overflow="inf")
    (65504.0, inf)
    >>> exact_round(-1e-30, "fp8_e5m2"), exact_round(-1e-30, "fp8_e5m2", rounding="down")
    (-0.0, -1.52587890625e-05)
    >>> exact_round(130, "int8", overflow="wrap"), exact_round(Fraction(5, 2), "int8")
    (-126.0, 2.0)
    """
    fmt = get_format(fmt)
    mode, policy = _name(rounding), _name(overflow)
    if mode not in ROUNDINGS:
        raise ValueError(f"unknown rounding mode {mode!r}; the oracle knows {', '.join(ROUNDINGS)}")
    if isinstance(fmt, FloatFormat):
        return _round_float(value, fmt, mode, policy)
    return _round_int(value, fmt, mode, policy)


def _round_float(value: Fraction | float | int, fmt: FloatFormat, mode: str, policy: str) -> float:
    if policy not in FLOAT_OVERFLOWS:
        raise ValueError(f"overflow {policy!r} is not one of {FLOAT_OVERFLOWS} for {fmt.name}")
    overflow_result = math.inf if fmt.has_inf else math.nan if fmt.has_nan else None
    top = max_value(fmt)
    if isinstance(value, float) and math.isnan(value):
        return math.nan
    negative = (value < 0) or (isinstance(value, float) and math.copysign(1.0, value) < 0)
    if not fmt.is_signed and negative and value != 0:
        return math.nan if fmt.has_nan else float(_lowest(fmt))
    if not fmt.has_zero and value == 0 and not fmt.is_signed:
        return math.nan if fmt.has_nan else float(_lowest(fmt))
    if isinstance(value, float) and math.isinf(value):
        if fmt.has_inf:
            result = math.inf
        elif policy == "saturate" or overflow_result is None:
            result = float(top)
        else:
            result = overflow_result
        return -result if negative and fmt.is_signed else result
    magnitude = _round_magnitude(abs(Fraction(value)), fmt, mode, negative)
    if magnitude > top:
        if policy == "inf" and overflow_result is not None and _away_from_zero(mode, negative):
            result = overflow_result
        else:
            result = float(top)
    else:
        result = _exact_float(magnitude, fmt)
    if not fmt.is_signed:
        return result
    if result == 0 and not fmt.has_negative_zero:
        return 0.0
    return -result if negative else result


def _round_int(value: Fraction | float | int, fmt: IntFormat, mode: str, policy: str) -> float:
    if policy not in INT_OVERFLOWS:
        raise ValueError(f"overflow {policy!r} is not one of {INT_OVERFLOWS} for {fmt.name}")
    low = -(2 ** (fmt.bits - 1)) if fmt.is_signed else 0
    high = 2 ** (fmt.bits - 1) - 1 if fmt.is_signed else 2**fmt.bits - 1
    scale = _pow2(-fmt.frac_bits)
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"NaN has no value in the integer format {fmt.name}")
    if isinstance(value, float) and math.isinf(value):
        if policy != "saturate":
            raise ValueError(f"inf has no value in {fmt.name} with overflow={policy!r}")
        return _exact_float((low if value < 0 else high) * scale, fmt)
    x = Fraction(value)
    magnitude = _round_magnitude(abs(x), fmt, mode, x < 0)
    code = int(magnitude / scale) * (-1 if x < 0 else 1)
    if not low <= code <= high:
        if policy == "saturate":
            code = min(max(code, low), high)
        elif policy == "wrap":
            code = (code - low) % 2**fmt.bits + low
        else:
            raise OverflowError(f"{value!r} rounds to code {code}, out of range for {fmt.name}")
    return _exact_float(code * scale, fmt) + 0.0


def _exact_float(x: Fraction, fmt: Format) -> float:
    result = float(x)
    if Fraction(result) != x:
        raise ValueError(
            f"{x} is a value of {fmt.name} but not a float64; the oracle returns floats"
        )
    return result
