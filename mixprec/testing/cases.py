"""``rounding_cases``: inputs at and beside every rounding boundary, with their exact results.

The expected results are computed here from the format's parameters in exact arithmetic (every
number is a dyadic rational held exactly in float64: grid values ``k * 2**e``, midpoints, and
comparisons; no step rounds), never by calling :func:`mixprec.quantize`, so a converter (or
mixprec itself) can be checked against them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mixprec.formats.registry import get_format
from mixprec.formats.spec import (
    FloatFormat,
    Format,
    IntFormat,
    Overflow,
    Rounding,
    as_overflow,
    as_rounding,
)
from mixprec.testing.boundaries import (
    POSITIONS,
    beside,
    check_float_dtype,
    check_int_dtype,
    float_lows,
    int_lows,
)
from mixprec.testing.grid import spacing


@dataclass(frozen=True, eq=False)
class RoundingCases:
    """Inputs and the exact results of rounding them to ``fmt``.

    ``inputs[i]`` rounds to ``expected[i]`` (float64) under ``rounding`` and ``overflow``;
    ``labels[i]`` says where the input lies (``"midpoint"``, ``"above midpoint"``,
    ``"overflow: midpoint"`` for max + half an ulp, ``"underflow: midpoint"`` for half the
    smallest subnormal, ``"inf"``, ...). Iterating gives ``(input, expected)`` pairs of floats.
    """

    fmt: Format
    rounding: Rounding
    overflow: Overflow
    inputs: np.ndarray
    expected: np.ndarray
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(zip(self.inputs.tolist(), self.expected.tolist(), strict=True))

    def __repr__(self) -> str:
        return (
            f"RoundingCases({self.fmt.name}, rounding={self.rounding.value!r}, "
            f"overflow={self.overflow.value!r}: {len(self)} {self.inputs.dtype} inputs)"
        )


def rounding_cases(
    fmt: Format | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    *,
    dtype: np.dtype | type = np.float64,
    exhaustive: bool | None = None,
    per_binade: int = 256,
) -> RoundingCases:
    """Inputs at and beside every rounding boundary of ``fmt``, paired with their exact results.

    For each pair of neighbouring values ``lo < hi`` the inputs are ``lo``, the next ``dtype``
    number above it, the midpoint and the ``dtype`` numbers just below and above it, and the
    ``dtype`` number just below ``hi``; on both signs. The pair ``(max, max + ulp)`` gives the
    overflow threshold (max + half an ulp), the pair ``(0, smallest subnormal)`` the underflow
    threshold; ``max + ulp``, twice that, the largest ``dtype`` number, ±inf, ±0 and NaN (where
    the format has NaN) complete the set. Integer formats get the same around every code, codes
    just out of range, and codes ``2**bits`` away (``wrap``).

    Args:
        fmt: a format or its name.
        rounding: any deterministic mode (not ``stochastic``).
        overflow: ``saturate`` or ``inf`` (float formats); ``saturate``, ``wrap`` or ``error``
            (integer formats; with ``error`` only the in-range cases are returned).
        dtype: the input type, ``np.float64`` or ``np.float32``; it must hold every midpoint of
            ``fmt`` exactly (float32 does for fp16, bf16, tf32 and all narrower formats).
        exhaustive: every pair of neighbouring values; default: for formats of 8 bits or fewer.
            Otherwise a sample: the subnormal binade and the binades of ``smallest_normal``,
            ``2 * smallest_normal``, 0.5, 1, 2, ``max / 2`` and ``max``; in each, all significands
            when there are at most ``per_binade``, else the first and last ``per_binade // 4``
            and ``per_binade // 2`` spread evenly between (integers: the codes around 0, min and
            max, and an even spread).
        per_binade: the sample size per binade of wide formats.

    Returns:
        A :class:`RoundingCases` with inputs sorted by value.

    Raises:
        ValueError: stochastic rounding, a policy the format does not take, or a ``dtype`` that
            cannot hold the midpoints (fp32 needs float64; fp64, int64 have no wider input).

    >>> cases = rounding_cases("fp8_e4m3", "nearest_even")
    >>> len(cases), cases.inputs.dtype
    (1533, dtype('float64'))
    >>> [(x, y) for (x, y), label in zip(cases, cases.labels) if label == "overflow: midpoint"]
    [(-464.0, -448.0), (464.0, 448.0)]
    >>> [(x, y) for (x, y), label in zip(cases, cases.labels) if label == "underflow: midpoint"]
    [(-0.0009765625, -0.0), (0.0009765625, 0.0)]
    """
    fmt = get_format(fmt)
    mode, policy = as_rounding(rounding), as_overflow(overflow)
    dtype = np.dtype(dtype)
    if mode is Rounding.STOCHASTIC:
        raise ValueError(
            "stochastic rounding has no single expected result; test it statistically, or "
            "check that the result is one of the two neighbours (mixprec.testing.grid)"
        )
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype}")
    if exhaustive is None:
        exhaustive = fmt.bits <= 8
    inputs, labels, expected = _cases(fmt, mode, policy, dtype, exhaustive, per_binade)
    order = np.argsort(inputs.astype(np.float64), kind="stable")
    return RoundingCases(
        fmt=fmt,
        rounding=mode,
        overflow=policy,
        inputs=inputs[order],
        expected=expected[order],
        labels=tuple(np.asarray(labels, dtype=object)[order].tolist()),
    )


def _cases(
    fmt: Format,
    mode: Rounding,
    policy: Overflow,
    dtype: np.dtype,
    exhaustive: bool,
    per_binade: int,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Inputs, labels and expected results, unsorted; the policy and dtype checked."""
    if isinstance(fmt, FloatFormat):
        if policy not in (Overflow.SATURATE, Overflow.INF):
            raise ValueError(f"{fmt.name} is a float format: overflow is 'saturate' or 'inf'")
        check_float_dtype(fmt, dtype)
        return _float_cases(fmt, mode, policy, dtype, float_lows(fmt, exhaustive, per_binade))
    if policy is Overflow.INF:
        raise ValueError(f"{fmt.name} is an integer format: use 'saturate', 'wrap' or 'error'")
    check_int_dtype(fmt, dtype)
    return _int_cases(fmt, mode, policy, dtype, int_lows(fmt, exhaustive, per_binade))


# -- expected results -----------------------------------------------------------------------------
def _choose_high(
    mode: Rounding, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, lo_is_odd: np.ndarray
) -> np.ndarray:
    """For ``lo < x < hi`` on the signed line: does ``x`` round to ``hi``? One line per mode."""
    mid = lo + (hi - lo) / 2  # exact: lo and hi are neighbours on a dyadic grid
    toward_zero_is_high = x < 0
    if mode is Rounding.NEAREST_EVEN:
        high: np.ndarray = (x > mid) | ((x == mid) & lo_is_odd)
        return high
    if mode is Rounding.NEAREST_AWAY:
        high = (x > mid) | ((x == mid) & (x > 0))
        return high
    if mode is Rounding.TOWARD_ZERO:
        return toward_zero_is_high
    if mode is Rounding.UP:
        return np.ones(x.shape, dtype=bool)
    if mode is Rounding.DOWN:
        return np.zeros(x.shape, dtype=bool)
    if mode is Rounding.ODD:
        return ~lo_is_odd
    raise ValueError(f"rounding mode {mode.value!r} has no single expected result")


def _rounded(
    mode: Rounding, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, lo_is_odd: np.ndarray
) -> np.ndarray:
    """The exact result of rounding ``x`` in ``[lo, hi]`` (``lo == hi``: that value)."""
    high = _choose_high(mode, x, lo, hi, lo_is_odd)
    inexact = np.where(high, hi, lo)
    return np.where(x == lo, lo, np.where(x == hi, hi, inexact))


def _float_cases(
    fmt: FloatFormat, mode: Rounding, policy: Overflow, dtype: np.dtype, lows: np.ndarray
) -> tuple[np.ndarray, list[str], np.ndarray]:
    q = spacing(lows, fmt)
    highs = lows + q
    lo_is_odd = np.fmod(lows / q, 2.0) == 1.0  # the significand of lo in quanta of its binade
    region = np.where(lows == fmt.max, "overflow: ", np.where(lows == 0, "underflow: ", ""))
    xs, los, his, odd, labels = [], [], [], [], []
    for position, x in zip(POSITIONS, beside(lows, highs, dtype), strict=True):
        xs.append(x)
        los.append(lows)
        his.append(highs)
        odd.append(lo_is_odd)
        labels += [f"{r}{position}" for r in region]
    beyond = fmt.max + float(spacing(np.array(fmt.max), fmt))
    with np.errstate(over="ignore"):
        far = np.array([beyond, 2 * beyond, np.finfo(dtype).max], dtype=np.float64)
        far = far[(far >= beyond) & np.isfinite(far.astype(dtype))]
    xs.append(far.astype(dtype))
    los.append(far)
    his.append(far)
    odd.append(np.zeros(far.shape, bool))
    labels += ["overflow: beyond"] * far.size
    if not fmt.has_zero:  # below the smallest value: clamped up to it (OCP MX E8M0)
        sn = np.array(fmt.smallest_normal, dtype=dtype)
        tiny = np.array([np.finfo(dtype).smallest_subnormal, sn / 2, np.nextafter(sn, 0)], dtype)
        xs.append(tiny)
        los.append(np.full(3, fmt.smallest_normal))
        his.append(np.full(3, fmt.smallest_normal))
        odd.append(np.zeros(3, bool))
        labels += ["underflow: below smallest"] * 3
    x = np.concatenate(xs).astype(np.float64)
    lo, hi, lo_odd = np.concatenate(los), np.concatenate(his), np.concatenate(odd)

    keep = np.ones(x.shape, bool) if fmt.has_zero else x > 0  # (0 is a special case below)
    x, lo, hi, lo_odd = x[keep], lo[keep], hi[keep], lo_odd[keep]
    labels = [label for label, k in zip(labels, keep, strict=True) if k]
    x, lo, hi, lo_odd, labels = _unique(x, lo, hi, lo_odd, labels)

    magnitude_pos = _rounded(mode, x, lo, hi, lo_odd)
    result_pos = _float_overflow(fmt, mode, policy, magnitude_pos, negative=False)
    inputs, expected, out_labels = [x], [result_pos], list(labels)
    if fmt.is_signed:  # the mirror image: on the signed line the pair is (-hi, -lo)
        magnitude_neg = np.abs(_rounded(mode, -x, -hi, -lo, ~lo_odd))
        result_neg = -_float_overflow(fmt, mode, policy, magnitude_neg, negative=True)
        if not fmt.has_negative_zero:
            result_neg = np.where(result_neg == 0, 0.0, result_neg)
        inputs.append(-x)
        expected.append(result_neg)
        out_labels += labels
    special_x, special_y, special_labels = _float_specials(fmt, policy, dtype)
    inputs.append(special_x)
    expected.append(special_y)
    out_labels += special_labels
    return np.concatenate(inputs).astype(dtype), out_labels, np.concatenate(expected)


def _float_overflow(
    fmt: FloatFormat, mode: Rounding, policy: Overflow, magnitude: np.ndarray, negative: bool
) -> np.ndarray:
    """IEEE 754-2019 §7.4 / OCP FP8 §5: results beyond max, for magnitudes of one sign."""
    if policy is Overflow.INF and (fmt.has_inf or fmt.has_nan):
        to_inf = mode in (Rounding.NEAREST_EVEN, Rounding.NEAREST_AWAY) or (
            mode is (Rounding.DOWN if negative else Rounding.UP)
        )
        if to_inf:
            return np.where(magnitude > fmt.max, np.inf if fmt.has_inf else np.nan, magnitude)
    saturated: np.ndarray = np.minimum(magnitude, fmt.max)
    return saturated


def _float_specials(
    fmt: FloatFormat, policy: Overflow, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """±0, ±inf and NaN; and negative inputs of an unsigned format."""
    no_value = np.nan if fmt.has_nan else fmt.min  # what an unsigned format makes of x < 0
    if fmt.has_inf:
        infinity = np.inf
    elif policy is Overflow.INF and fmt.has_nan:
        infinity = np.nan
    else:
        infinity = fmt.max
    cases = [(np.inf, infinity, "inf")]
    if fmt.is_signed:
        cases += [(-np.inf, -infinity, "-inf")]  # (±0 are among the pairs' inputs)
    elif fmt.has_zero:
        cases += [(-0.0, 0.0, "zero")]
    else:
        cases += [(0.0, no_value, "zero"), (-0.0, no_value, "zero")]
        cases += [(x, no_value, "negative") for x in (-np.inf, -fmt.max, -1.0, -fmt.min_normal)]
    if fmt.has_nan:
        cases.append((np.nan, np.nan, "nan"))
    x, y, labels = zip(*cases, strict=True)
    return np.array(x, dtype=dtype), np.array(y, dtype=np.float64), list(labels)


def _int_cases(
    fmt: IntFormat, mode: Rounding, policy: Overflow, dtype: np.dtype, codes: np.ndarray
) -> tuple[np.ndarray, list[str], np.ndarray]:
    q = fmt.eps
    lows, highs = codes * q, (codes + 1) * q
    lo_is_odd = np.fmod(codes, 2.0) != 0
    in_range = (codes >= fmt.min_code) & (codes + 1 <= fmt.max_code)
    region = np.where(in_range, "", "overflow: ")
    xs, labels = [], []
    for position, x in zip(POSITIONS, beside(lows, highs, dtype), strict=True):
        xs.append(x.astype(np.float64))
        labels += [f"{r}{position}" for r in region]
    x = np.concatenate(xs)
    lo, hi, lo_odd = np.tile(lows, 6), np.tile(highs, 6), np.tile(lo_is_odd, 6)
    x, lo, hi, lo_odd, labels = _unique(x, lo, hi, lo_odd, labels)
    code = _rounded(mode, x, lo, hi, lo_odd) / q
    low, high = float(fmt.min_code), float(fmt.max_code)
    if policy is Overflow.SATURATE:
        code = np.clip(code, low, high)
    elif policy is Overflow.WRAP:
        code = np.mod(code - low, 2.0**fmt.bits) + low  # exact: integers below 2**53
    else:
        keep = (code >= low) & (code <= high)
        x, code = x[keep], code[keep]
        labels = [label for label, k in zip(labels, keep, strict=True) if k]
    expected = code * q + 0.0
    x, expected = np.append(x, -0.0), np.append(expected, 0.0)
    labels.append("zero")
    if policy is Overflow.SATURATE:
        x, expected = np.append(x, [np.inf, -np.inf]), np.append(expected, [fmt.max, fmt.min])
        labels += ["inf", "-inf"]
    return x.astype(dtype), labels, expected


def _unique(
    x: np.ndarray, lo: np.ndarray, hi: np.ndarray, lo_odd: np.ndarray, labels: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Drop repeated inputs (the first label stays), as neighbouring pairs share some."""
    _, first = np.unique(x, return_index=True)
    first.sort()
    return x[first], lo[first], hi[first], lo_odd[first], [labels[i] for i in first]
