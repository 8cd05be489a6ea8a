"""Where the rounding cases of :func:`mixprec.testing.rounding_cases` lie: the pairs of
neighbouring values to probe, the six inputs at and beside each pair's boundaries, and which
input types hold them exactly. Exact float64 arithmetic throughout (see :mod:`.grid`).
"""

from __future__ import annotations

import numpy as np

from mixprec.formats.spec import FloatFormat, IntFormat
from mixprec.testing.grid import spacing

POSITIONS = (
    "value",
    "above value",
    "below midpoint",
    "midpoint",
    "above midpoint",
    "below next value",
)


# -- which pairs ---------------------------------------------------------------------------------
def sample(n: int, per_binade: int, exhaustive: bool) -> np.ndarray:
    """Significand offsets 0 .. n-1: all, or both ends and an even spread."""
    if exhaustive or n <= per_binade:
        return np.arange(n, dtype=np.float64)
    quarter = max(per_binade // 4, 1)
    spread = np.linspace(quarter, n - quarter, max(per_binade // 2, 1)).round()
    ends = np.concatenate([np.arange(quarter), np.arange(n - quarter, n)])
    return np.unique(np.concatenate([ends, spread]))


def float_lows(fmt: FloatFormat, exhaustive: bool, per_binade: int) -> np.ndarray:
    """Non-negative values of ``fmt`` whose upper neighbour gives a pair of cases."""
    m, emin, emax = fmt.mantissa_bits, fmt.emin, fmt.emax
    offsets = sample(2**m, per_binade, exhaustive)
    parts = []
    if fmt.has_zero:
        parts.append(np.ldexp(offsets, emin - m) if fmt.has_subnormals else np.zeros(1))
    if exhaustive:
        exponents = list(range(emin, emax + 1))
    else:
        wanted = (emin, emin + 1, -1, 0, 1, emax - 1, emax)
        exponents = sorted({e for e in wanted if emin <= e <= emax})
    for e in exponents:
        parts.append(np.ldexp(2.0**m + offsets, e - m))
    lows = np.concatenate(parts + [np.array([fmt.max])])
    return np.unique(lows[lows <= fmt.max])


def int_lows(fmt: IntFormat, exhaustive: bool, per_binade: int) -> np.ndarray:
    """Integer codes ``k`` (as float64) whose pairs ``(k, k + 1)`` give cases."""
    low, high, period = fmt.min_code, fmt.max_code, 2**fmt.bits
    edges = [low - 3, low - 2, low - 1, high, high + 1, high + 2]
    far = [high + period - 1, high + period, low - period - 1, low - period, 2 * period]
    if exhaustive:
        codes = np.arange(low, high, dtype=np.float64)
    else:
        span = high - low
        spread = low + sample(span, per_binade, exhaustive=False)
        middle = np.arange(-per_binade // 4, per_binade // 4, dtype=np.float64)
        codes = np.concatenate([spread, middle[(middle >= low) & (middle < high)]])
    return np.unique(np.concatenate([codes, np.array(edges + far, dtype=np.float64)]))


def beside(lo: np.ndarray, hi: np.ndarray, dtype: np.dtype) -> list[np.ndarray]:
    """The six inputs of each pair, in ``dtype``, in the order of ``POSITIONS``."""
    with np.errstate(over="ignore"):
        lo_t, hi_t = lo.astype(dtype), hi.astype(dtype)
        mid_t = ((lo + hi) / 2).astype(dtype)
    up, down = np.array(np.inf, dtype), np.array(-np.inf, dtype)
    return [
        lo_t,
        np.nextafter(lo_t, up),
        np.nextafter(mid_t, down),
        mid_t,
        np.nextafter(mid_t, up),
        np.nextafter(hi_t, down),
    ]


# -- which input types hold the cases exactly -----------------------------------------------------
def check_float_dtype(fmt: FloatFormat, dtype: np.dtype) -> None:
    info = np.finfo(dtype)
    smallest_gap = fmt.smallest_subnormal if fmt.has_zero else fmt.smallest_normal
    top = fmt.max + float(spacing(np.array(fmt.max), fmt)) / 2
    exact = (
        fmt.mantissa_bits + 2 <= info.nmant + 1
        and smallest_gap / 2 >= float(info.smallest_subnormal)
        and top <= float(info.max)
    )
    if not exact:
        wider = " (use dtype=np.float64)" if dtype == np.float32 else ""
        raise ValueError(
            f"{dtype} cannot hold every midpoint of {fmt.name} exactly (they need "
            f"{fmt.mantissa_bits + 2} significant bits, down to {smallest_gap / 2!r} and up to "
            f"{top!r}){wider}"
        )


def check_int_dtype(fmt: IntFormat, dtype: np.dtype) -> None:
    info = np.finfo(dtype)
    exact = (
        fmt.bits + 3 <= info.nmant + 1
        and fmt.eps / 2 >= float(info.smallest_subnormal)
        and 4 * 2.0**fmt.bits * fmt.eps <= float(info.max)
    )
    if not exact:
        wider = " (use dtype=np.float64)" if dtype == np.float32 else ""
        raise ValueError(
            f"{dtype} cannot hold the rounding cases of {fmt.name} exactly (codes up to "
            f"2**{fmt.bits + 2} with halves){wider}"
        )
