"""The value grid of a format, in exact float64 arithmetic: spacing, membership, ULP index.

Every quantity here is a dyadic rational held exactly in float64 (scaling by powers of two,
``floor``, comparisons), so nothing rounds. These helpers back the assertions, the edge values
and the rounding cases; they never call :func:`mixprec.quantize`.
"""

from __future__ import annotations

import numpy as np

from mixprec.formats.spec import FloatFormat, Format


def quantum_exponent(a: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    """``log2`` of the spacing of ``fmt``'s values at the finite magnitudes ``a`` (int64).

    Below ``smallest_normal`` the spacing is the subnormal one, or ``smallest_normal`` itself
    when the format flushes (0 and ``smallest_normal`` are then neighbours).
    """
    exponent = np.frexp(a)[1].astype(np.int64) - 1  # floor(log2 a); 0 gives -1, harmless
    below = (exponent < fmt.emin) | (a == 0)
    low = fmt.emin - fmt.mantissa_bits if fmt.has_subnormals else fmt.emin
    return np.where(below, low, exponent - fmt.mantissa_bits)


def spacing(a: np.ndarray, fmt: Format) -> np.ndarray:
    """The gap from the finite magnitude ``a`` (a value of ``fmt``) to the next larger value,
    continuing past ``max`` with the top binade's spacing (float64, exact).

    >>> from mixprec.formats import FP8_E4M3, INT8
    >>> spacing([0.0, 1.0, 448.0], FP8_E4M3).tolist(), spacing([5.0], INT8).tolist()
    ([0.001953125, 0.125, 32.0], [1.0])
    """
    a = np.asarray(a, dtype=np.float64)
    if not isinstance(fmt, FloatFormat):
        return np.full(a.shape, fmt.eps)
    result: np.ndarray = np.ldexp(1.0, quantum_exponent(a, fmt))
    return result


def is_representable(x: object, fmt: Format) -> np.ndarray:
    """Whether each element of ``x`` is a value of ``fmt`` (NaN and ±inf where it has them).

    Zero of either sign counts as the format's zero where it has one (the sign of zero is
    checked by :func:`~mixprec.testing.assert_bits_equal`, not here).

    >>> from mixprec.formats import FP8_E4M3
    >>> is_representable([1.125, 1.1, 480.0, float("nan"), float("inf")], FP8_E4M3).tolist()
    [True, False, False, True, False]
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(x)
        a = np.where(finite, np.abs(x), 0.0)
        negative = (x < 0) & finite
        if not isinstance(fmt, FloatFormat):
            scaled = np.ldexp(np.where(finite, x, 0.0), fmt.frac_bits)
            exact: np.ndarray = (
                finite & (scaled == np.floor(scaled)) & (x >= fmt.min) & (x <= fmt.max)
            )
            return exact
        scaled = np.ldexp(a, -quantum_exponent(a, fmt))
        on_grid = (scaled == np.floor(scaled)) & (a <= fmt.max)
        if not fmt.has_subnormals:  # flushed or no zero: nothing strictly below smallest_normal
            on_grid &= (a >= fmt.smallest_normal) | ((a == 0) & fmt.has_zero)
        if not fmt.is_signed:
            on_grid &= ~negative
        ok = np.where(finite, on_grid, False)
        ok |= np.isinf(x) & fmt.has_inf
        ok |= np.isnan(x) & fmt.has_nan
    return ok


def ulp_index(x: object, fmt: Format) -> tuple[np.ndarray, np.ndarray]:
    """The position of each value on ``fmt``'s ordered grid, as (int64 part, fraction in [0, 1)).

    Neighbouring values of the format differ by exactly 1; ±0 are both 0; a number between two
    values gets the fraction of the way from the lower one (so distances in ULPs are defined for
    any real). ``±inf`` sits one step beyond ``±max``. NaN gives an arbitrary index: test it
    separately. For integer and fixed-point formats the index is the code.
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(x)
        a = np.where(finite, np.abs(x), 0.0)
        if isinstance(fmt, FloatFormat):
            scaled, whole, index = _float_index(a, fmt)
            top = _float_index(np.array(fmt.max), fmt)[2] + 1
        else:
            scaled = np.ldexp(a, fmt.frac_bits)
            whole = np.floor(scaled)
            index = whole.astype(np.int64)
            top = np.int64(fmt.max_code + 1)
        fraction = scaled - whole
        index = np.where(np.isinf(x), top, index)
        fraction = np.where(finite, fraction, 0.0)
        negative = np.signbit(x)
        # -(i + f) = -(i + 1) + (1 - f): keep the fraction in [0, 1)
        neg_index = np.where(fraction > 0, -index - 1, -index)
        neg_fraction = np.where(fraction > 0, 1.0 - fraction, 0.0)
        return np.where(negative, neg_index, index), np.where(negative, neg_fraction, fraction)


def ulp_distance(actual: object, expected: object, fmt: Format) -> np.ndarray:
    """``|index(actual) - index(expected)|`` in ULPs of ``fmt`` (float64; NaN where either is
    NaN, 0 where both are the same infinity).

    >>> from mixprec.formats import FP8_E4M3
    >>> ulp_distance([1.25, 448.0, 0.0], [1.0, 416.0, -0.001953125], FP8_E4M3).tolist()
    [2.0, 1.0, 1.0]
    """
    a = np.asarray(actual, dtype=np.float64)
    b = np.asarray(expected, dtype=np.float64)
    ia, fa = ulp_index(a, fmt)
    ib, fb = ulp_index(b, fmt)
    same_side = (ia >= 0) == (ib >= 0)  # then the int64 difference cannot overflow
    with np.errstate(over="ignore"):
        close = (np.where(same_side, ia - ib, 0)).astype(np.float64) + (fa - fb)
    far = ia.astype(np.float64) - ib.astype(np.float64) + (fa - fb)
    distance = np.abs(np.where(same_side, close, far))
    distance = np.where(np.isnan(a) | np.isnan(b), np.nan, distance)
    return np.where(np.isinf(a) & (a == b), 0.0, distance)


def _float_index(a: np.ndarray, fmt: FloatFormat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(significand in quanta, its floor, integer grid index) of finite magnitudes ``a``."""
    m, emin = fmt.mantissa_bits, fmt.emin
    scaled = np.ldexp(a, -quantum_exponent(a, fmt))
    whole = np.floor(scaled)
    exponent = np.frexp(a)[1].astype(np.int64) - 1
    normal = (a >= fmt.smallest_normal) & (a > 0)
    first_normal = (2**m if fmt.has_subnormals else 1) if fmt.has_zero else 0
    below = whole.astype(np.int64) - (0 if fmt.has_zero else 1)  # no zero: sn has index 0
    index = np.where(
        normal, first_normal + (exponent - emin) * 2**m + whole.astype(np.int64) - 2**m, below
    )
    return scaled, whole, index
