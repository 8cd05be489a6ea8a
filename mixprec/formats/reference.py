"""Rounding to any format in float64 arithmetic: the general path every fast path must equal.

Every rounding mode reduces to one boolean, "round the magnitude away from zero?", decided from
the integer part ``floor`` and the fraction ``frac`` of the magnitude measured in units of the
format's quantum at that exponent. All steps are exact in float64: scaling by a power of two,
``floor``, and ``scaled - floor``. An input is therefore rounded once, whatever its precision.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mixprec.formats import rounding
from mixprec.formats.spec import FloatFormat, Format, IntFormat, Overflow, Rounding


class Draws(NamedTuple):
    """Where stochastic rounding takes its random numbers (unused by the other modes).

    ``rng`` alone: one uniform float64 per element. ``bits = N``: N-bit stochastic rounding
    (:func:`mixprec.formats.rounding.away_by_random_bits`) with the N-bit integers ``given``
    (uint64, one per element), or drawn from ``rng`` when ``given`` is None.
    """

    rng: np.random.Generator | None = None
    bits: int | None = None
    given: np.ndarray | None = None


NO_DRAWS = Draws()


def round_away(
    mode: Rounding, floor: np.ndarray, frac: np.ndarray, negative: np.ndarray, draws: Draws
) -> np.ndarray:
    """Whether each magnitude rounds away from zero (up to ``floor + 1``), by the mode's rule
    in :data:`mixprec.formats.rounding.RULES`.

    Args:
        mode: the rounding mode.
        floor: integer part of the magnitude in quanta (float64, integer-valued).
        frac: fractional part in [0, 1), exact.
        negative: sign of the value (directed modes look at it).
        draws: the random numbers of stochastic rounding (:class:`Draws`).

    Stochastic rounding without ``random_bits`` draws one float64 ``U = k / 2**53`` per element
    and rounds away when ``U < frac``: the probability is ``ceil(frac * 2**53) / 2**53``, equal
    to ``frac`` whenever the discarded part has at most 53 significant bits (always, for
    float32 input).
    """
    uniform = None
    rng, random_bits, random = draws
    if mode is Rounding.STOCHASTIC:
        if random_bits is not None:
            if random is None:
                if rng is None:
                    raise ValueError("stochastic rounding needs rng=np.random.default_rng(seed)")
                random = rounding.draw_random_bits(rng, random_bits, frac.size)
            return rounding.away_by_random_bits(frac, random.reshape(frac.shape), random_bits)
        if rng is None:
            raise ValueError("stochastic rounding needs rng=np.random.default_rng(seed)")
        uniform = rng.random(frac.shape)
    return rounding.round_away(
        mode, frac, 0.5, lambda: np.fmod(floor, 2.0) == 1.0, negative, uniform
    )


def _keep_inexact(frac: np.ndarray, scaled: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Scaling a tiny magnitude down by a quantum above 1 can underflow to 0 in float64: such a
    value is still inexact, below half a quantum. Give it the smallest positive fraction."""
    return np.where((scaled == 0) & (magnitude > 0), 5e-324, frac)


def overflows_to_infinity(mode: Rounding, negative: np.ndarray) -> np.ndarray:
    """IEEE 754-2019 §7.4: which overflowing values become ±inf rather than ±max.

    The mode's decision above the midpoint past ``max`` (:data:`~mixprec.formats.rounding.RULES`),
    ``max`` taken as odd (all ones in IEEE formats): nearest and stochastic modes carry the value
    to infinity; toward-zero and odd stop at max; ``up`` goes to +inf but -max, ``down`` to -inf
    but +max.
    """
    away = rounding.RULES[mode].above_half
    if away is rounding.Away.AT_RANDOM:
        away = rounding.Away.ALWAYS
    decision = rounding.decide(away, lambda: np.True_, negative)
    return np.array(np.broadcast_to(decision, negative.shape))


def overflow_value(fmt: FloatFormat) -> float:
    """What a non-saturating overflow becomes: inf, else NaN (OCP FP8 §5), else max."""
    if fmt.has_inf:
        return np.inf
    if fmt.has_nan:
        return np.nan
    return fmt.max


def round_reference(
    flat: np.ndarray, fmt: Format, mode: Rounding, overflow: Overflow, draws: Draws = NO_DRAWS
) -> np.ndarray:
    """The float64 reference rounding of float32 or float64 values to any format (float64)."""
    with np.errstate(invalid="ignore"):  # float32 signaling NaNs become quiet NaNs
        wide = flat.astype(np.float64)
    if isinstance(fmt, IntFormat):
        return round_int(wide, fmt, mode, overflow, draws)
    return round_float(wide, fmt, mode, overflow, draws)


def round_float(
    x: np.ndarray,
    fmt: FloatFormat,
    mode: Rounding,
    overflow: Overflow | None,
    draws: Draws = NO_DRAWS,
) -> np.ndarray:
    """Round float64 ``x`` to the float format ``fmt``; returns float64 values of the format.

    See :func:`mixprec.formats.quantize` for the semantics of each argument; ``draws`` as in
    :func:`round_away`. ``overflow=None``: no overflow policy, for callers that apply and
    count their own (MAC accumulators): a value past ``max`` stays on the format's grid
    continued above ``max``, and ±inf stays ±inf.
    """
    m = fmt.mantissa_bits
    a = np.abs(x)
    negative = np.signbit(x)
    finite = np.isfinite(x)
    with np.errstate(invalid="ignore", over="ignore"):
        exponent = np.frexp(np.where(finite, a, 1.0))[1].astype(np.int64) - 1  # floor(log2 a)
        below = exponent < fmt.emin
        if fmt.has_subnormals:
            quantum_exp = np.where(below, fmt.emin - m, exponent - m)
        else:
            quantum_exp = np.where(below, fmt.emin, exponent - m)
        scaled = np.ldexp(np.where(finite, a, 0.0), -quantum_exp)
        floor = np.floor(scaled)
        frac = _keep_inexact(scaled - floor, scaled, a)
        rounded = np.ldexp(floor + round_away(mode, floor, frac, negative, draws), quantum_exp)

        over = finite & (rounded > fmt.max)
        if overflow is not None and over.any():
            if overflow is Overflow.SATURATE:
                rounded[over] = fmt.max
            else:
                to_inf = overflows_to_infinity(mode, negative)
                rounded[over] = np.where(to_inf[over], overflow_value(fmt), fmt.max)
        infinite = np.isinf(x)
        if fmt.has_inf or overflow is None:
            rounded[infinite] = np.inf
        elif overflow is Overflow.SATURATE or not fmt.has_nan:
            rounded[infinite] = fmt.max
        else:
            rounded[infinite] = np.nan
        rounded[np.isnan(x)] = np.nan
        if not fmt.has_zero:
            rounded = np.maximum(rounded, fmt.smallest_normal)  # keeps NaN
        result: np.ndarray = np.where(negative, -rounded, rounded)
        if not fmt.is_signed:
            not_representable = (negative & (a > 0)) | ((a == 0) & (not fmt.has_zero))
            result[not_representable] = np.nan if fmt.has_nan else fmt.min
            result[(a == 0) & fmt.has_zero] = 0.0
            result[np.isnan(x)] = np.nan
        elif not fmt.has_negative_zero:
            result[result == 0] = 0.0
    return result


def round_int(
    x: np.ndarray, fmt: IntFormat, mode: Rounding, overflow: Overflow, draws: Draws = NO_DRAWS
) -> np.ndarray:
    """Round float64 ``x`` to the integer / fixed-point format ``fmt``; returns float64 values.

    Arguments as :func:`round_float`.

    Raises:
        ValueError: NaN input; inf input unless overflow is ``saturate``.
        OverflowError: a value out of range with ``overflow="error"``.
    """
    if np.isnan(x).any():
        raise ValueError(
            f"NaN cannot be rounded to the integer format {fmt.name}; "
            "replace NaNs first (e.g. np.nan_to_num)"
        )
    infinite = np.isinf(x)
    if infinite.any() and overflow is not Overflow.SATURATE:
        raise ValueError(
            f"±inf cannot be rounded to {fmt.name} with overflow={overflow.value!r}; "
            "use overflow='saturate' to clamp it to the range"
        )
    negative = np.signbit(x)
    with np.errstate(over="ignore", invalid="ignore"):
        magnitude = np.where(infinite, 0.0, np.abs(x))
        a = np.ldexp(magnitude, fmt.frac_bits)
        floor = np.floor(a)
        frac = _keep_inexact(a - floor, a, magnitude)
        code = floor + round_away(mode, floor, frac, negative, draws)
        code = np.where(negative, -code, code)
    # The largest float64 not above max_code (they differ for formats wider than 53 bits).
    low, high = float(fmt.min_code), _float_at_most(fmt.max_code)
    out_of_range = (code < low) | (code > high) | infinite
    if out_of_range.any():
        if overflow is Overflow.SATURATE:
            code = np.where(infinite, np.where(negative, low, high), np.clip(code, low, high))
        elif overflow is Overflow.WRAP:
            period = 2.0**fmt.bits
            code = np.fmod(code, period)  # exact
            code = np.where(code < low, code + period, code)
            code = np.where(code > high, code - period, code)
        else:
            first = x[out_of_range].flat[0]
            raise OverflowError(
                f"{first!r} is out of the range of {fmt.name} [{fmt.min}, {fmt.max}] (the first "
                "value that is); use overflow='saturate' or 'wrap'"
            )
    values: np.ndarray = np.ldexp(code + 0.0, -fmt.frac_bits)  # + 0.0 turns -0 into +0
    return values


def _float_at_most(n: int) -> float:
    """The largest float64 that is not above the integer ``n``."""
    value = float(n)
    return value if int(value) <= n else float(np.nextafter(value, 0.0))
