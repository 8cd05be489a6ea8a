"""NVFP4's fast exact steps: block amax from float32 bits, and float64 quotients rounded to the
element by a magic constant (issue 13: the general path rounded every quotient through the
float64 reference rounding, 25x slower than rounding to E2M1 alone).

Used by :func:`mixprec.formats.blockquant._nv_rows`; each step is tested bit for bit against
the general path it replaces (``tests/formats/test_blocknv.py``).
"""

from __future__ import annotations

import functools

import numpy as np

from mixprec._util.threads import run_parallel, threads
from mixprec.formats.spec import FloatFormat, Format, Rounding

_CHUNK = 1 << 14  # elements per step: a few float64 temporaries stay in L2

_ABS32 = np.uint32(0x7FFFFFFF)
_INF32 = np.uint32(0x7F800000)
_EXP64 = np.uint64(0x7FF0000000000000)
_SIGN64 = np.uint64(0x8000000000000000)


def amax_bits(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mixprec.formats.blockscale.block_amax` of float32 rows with ``specials="block"``:
    each row's largest finite magnitude (float64) and which rows hold a NaN or inf.

    Exact: a float32 magnitude orders as its bit pattern (an unsigned integer), NaN and inf
    patterns above every finite one, so the integer maximum of the magnitude bits is the bits
    of the largest magnitude, and it is a NaN/inf pattern exactly when the row holds one. Rows
    holding one (rare) take the float64 maximum over their finite values instead.
    """
    mag = np.bitwise_and(rows.view(np.uint32), _ABS32).reshape(-1)
    if mag.size:  # reduceat: 2.5x faster than max(axis=1) on rows of 16 or 32
        top = np.maximum.reduceat(mag, np.arange(0, mag.size, rows.shape[1]))
    else:
        top = np.zeros(rows.shape[0], np.uint32)
    special = top >= _INF32
    amax = top.view(np.float32).astype(np.float64)
    if special.any():
        picked = np.abs(rows[special].astype(np.float64))
        amax[special] = np.where(np.isfinite(picked), picked, 0.0).max(axis=1, initial=0.0)
    return amax, special


@functools.lru_cache(maxsize=64)
def magic64(elem: Format, mode: Rounding) -> tuple[np.uint64, np.uint64] | None:
    """The two constants of :func:`round_nearest_even64` for ``elem``, or None where the proof
    does not hold (not nearest-even, an integer format, no subnormals or a signed zero,
    ``m > 50`` or an exponent range beyond float64's)."""
    if mode is not Rounding.NEAREST_EVEN or not isinstance(elem, FloatFormat):
        return None
    m = elem.mantissa_bits
    if not (
        elem.has_subnormals
        and elem.is_signed
        and elem.has_negative_zero
        and 1 <= m <= 50
        and -1022 <= elem.emin
        and elem.emax <= 971 + m
    ):
        return None
    return np.uint64((elem.emin + 1023) << 52), np.uint64(((52 - m) << 52) | (1 << 51))


def round_nearest_even64(q: np.ndarray, magic: tuple[np.uint64, np.uint64]) -> np.ndarray:
    """Round float64 ``q`` (finite, ``|q| <= elem.max``) to nearest-even on ``elem``'s grid.

    **Why it is exact** (the float32 proof of :func:`mixprec.formats.fast32.magic.round_by_magic`
    with float64's 52 fraction bits). Let ``e`` be the binade of ``|q|``, ``e' = max(e, emin)``
    and ``Q = 2**(e' - m)`` the element's spacing there (its subnormal spacing below ``emin``).
    ``c = 1.5 * 2**(e' + 52 - m)`` has exponent field ``max(E_q, emin + 1023) + 52 - m`` (``E_q``
    the exponent field of ``q``, 0 for zero and subnormals; float64 exponent fields order as the
    binades) and fraction ``2**51``: ``max`` of the fields, plus ``offset``. ``|q| < 2**(e'+1) <=
    c / 3`` (``m <= 50``) keeps ``q + c`` inside c's binade, where float64's spacing is exactly
    ``Q``, so ``fl(q + c) = c + RNE(q)`` (``c / Q = 3 * 2**(51 - m)`` is even: ties agree) and
    ``fl(q + c) - c`` is exact (Sterbenz). Multiples of ``Q`` in binade ``e'`` are the
    element's values there, and ``|q| <= max`` (a value of the element) keeps the result at
    most ``max``. ``c`` is finite (``emax + 1023 + 52 - m <= 2046``). A negative ``q`` rounding
    to zero gives +0; the sign bit of ``q`` goes back last (the element has -0).
    """
    low, offset = magic
    bits = np.bitwise_and(q.view(np.uint64), _EXP64)
    np.maximum(bits.view(np.float64), low.view(np.float64), out=bits.view(np.float64))
    bits += offset  # (the fields are powers of two or 0 as float64: they order as values)
    c = bits.view(np.float64)
    out: np.ndarray = np.add(q, c)
    out -= c
    sign = np.bitwise_and(q.view(np.uint64), _SIGN64, out=bits)
    out_bits = out.view(np.uint64)
    out_bits |= sign
    return out


def nv_elements(
    rows: np.ndarray,
    divisor: np.ndarray,
    limit: float,
    magic: tuple[np.uint64, np.uint64],
    factor: np.ndarray | None = None,
) -> np.ndarray:
    """``round_nearest_even64(clip(rows / divisor, ±limit))`` row by row (float64), times
    ``factor`` per row when given; in cache-sized steps, on the worker threads.

    The same operations as the general path of :func:`mixprec.formats.blockquant._nv_rows`
    (one float64 division per element, rounded once), cut into steps of whole rows: each
    element's result depends on its row alone, so neither the steps nor the threads change it.
    The rows must hold no NaN (the caller zeroes NaN-scale rows, ``divisor`` is finite and
    positive).
    """
    out = np.empty(rows.shape, np.float64)
    step = max(1, _CHUNK // max(rows.shape[1], 1))

    def run(start: int, stop: int) -> None:
        for lo in range(start, stop, step):
            hi = min(lo + step, stop)
            q = rows[lo:hi].astype(np.float64)
            q /= divisor[lo:hi, None]
            np.clip(q, -limit, limit, out=q)
            result = round_nearest_even64(q, magic)
            if factor is not None:
                result *= factor[lo:hi, None]
            out[lo:hi] = result

    n = rows.shape[0]
    workers = min(threads(), rows.size // (4 * _CHUNK) + 1)
    part = -(-n // workers)
    run_parallel([functools.partial(run, lo, min(lo + part, n)) for lo in range(0, n, part)],
                 workers)  # fmt: skip
    return out
