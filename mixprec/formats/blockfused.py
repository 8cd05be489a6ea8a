"""MX nearest-even in one rounding step: ``X * RNE(V / X)`` without forming ``V / X``.

The float32 kernel (:mod:`mixprec.formats.blockfast`) divides each block by its scale
``X = 2**e``, rounds, and multiplies back: two broadcasting products per element. For
nearest-even rounding the two cancel: rounding ``V`` to the element's grid *scaled by X* gives
``X * RNE(V / X)`` at once (the grid of ``P * X`` is the element's grid times ``X``: ``X`` is a
power of two). The magic-constant addition (:func:`mixprec.formats.fast32.magic.round_by_magic`)
does that with the constant of each block scaled by ``X``. Each routine returns False, leaving
``out`` to the caller's general kernel, for a chunk outside the conditions of its proof (scales
near the ends of float32's range: rare).

Saturation (OCP MX v1.0 §6.3) is applied after rounding, on the few blocks whose amax passes
``max * X``: rounding to nearest is monotone and ``max * X`` is on the grid, so
``clip(RNE(v)) = RNE(clip(v))``, and a block with ``amax <= max * X`` needs no clip at all.
Blocks with the NaN scale (a NaN/inf element, or a scale overflow) are rounded as zeros and
then set to NaN, as the general kernel does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mixprec.formats.spec import FloatFormat, IntFormat

_SPECIAL = np.uint32(0x7F800000)
_SIGN = np.uint32(0x80000000)


class Chunk(NamedTuple):
    """One chunk of whole blocks in the float32 kernel, after the scale exponents."""

    b: np.ndarray  # the float32 patterns (uint32), flat
    a: np.ndarray  # each block's largest magnitude pattern (NaN/inf patterns in special ones)
    e: np.ndarray  # each block's scale exponent (0 where the scale is NaN)
    nan: np.ndarray  # blocks with the NaN scale
    special: np.ndarray  # blocks holding a NaN or inf
    mag: np.ndarray  # scratch (uint32, as b) holding the magnitude patterns of b
    work: np.ndarray  # scratch (float32, as b)
    sign: np.ndarray  # scratch (uint32, as b)


def _zeroed(b: np.ndarray, special: np.ndarray, k: int, work: np.ndarray) -> np.ndarray:
    """The float32 values of ``b``, with the NaN/inf blocks zeroed (in ``work``) if any."""
    x = b.view(np.float32)
    if not special.any():
        return x
    np.copyto(work, x)
    work.reshape(-1, k)[special] = 0.0
    return work


def _finish(
    out: np.ndarray, a: np.ndarray, nan: np.ndarray, limit: np.ndarray, low: np.ndarray, k: int
) -> None:
    """Saturate the blocks whose amax pattern ``a`` passes ``limit`` (per block, float32
    patterns of the bound: they order as the magnitudes) to ``[low, limit]`` (float32); set the
    NaN-scale blocks to NaN."""
    rows = out.view(np.float32).reshape(-1, k)
    over = np.flatnonzero(a > limit)  # NaN blocks: their a was zeroed
    if over.size:
        picked = rows[over]
        np.minimum(picked, limit[over, None].view(np.float32), out=picked)
        np.maximum(picked, low[over, None], out=picked)
        rows[over] = picked
    if nan.any():
        rows[nan] = np.nan


def fused_float(out: np.ndarray, chunk: Chunk, *, elem: FloatFormat, k: int) -> bool:
    """``X * RNE_elem(clip(V / X, ±max))`` of a chunk of whole blocks of float32 patterns ``b``
    (:class:`Chunk`), into ``out``; False (``out`` untouched) outside the proof's range.

    **Why it is exact.** Write ``v = |V_i|`` in a block with ``X = 2**e``, ``z = min(v, max *
    X)`` (saturation before rounding, as the general kernel) and ``y = max(z, 2**(emin + e))``.
    The element's spacing at ``z / X`` is ``q = 2**(e' - m)``, ``e' = max(binade(z / X),
    emin)``; at ``z`` the grid of ``X * P`` has spacing ``q * X = 2**(b_y - m)`` with ``b_y =
    binade(y) = max(binade(z), emin + e)``. With ``c = 1.5 * 2**(b_y + 23 - m)`` (the exponent
    field of ``y`` plus ``23 - m``, fraction ``2**22``), ``z < 2**(b_y+1) <= c / 3`` (``m <=
    21``) keeps ``z + c`` in c's binade, where float32's spacing is ``q * X``: ``fl(z + c) = c
    + X * RNE(z / X)`` (ties agree: ``c / (q X)`` is even) and ``fl(z + c) - c`` is exact
    (Sterbenz), exactly as in :func:`~mixprec.formats.fast32.magic.round_by_magic`. This needs
    ``y``, ``c`` and ``max * X`` normal and finite float32: every block has ``emin + e >=
    -126`` and ``emax + e + 1 + 23 - m <= 127`` (else the chunk is refused). ``z = min(v, y)``
    The sign of ``V_i`` goes back last: rounding
    is symmetric, and a negative value rounding to zero gives -0, as the general kernel.
    """
    m = elem.mantissa_bits
    b, e, nan, special, mag, work, sign = chunk.b, chunk.e, chunk.nan, chunk.special, *chunk[5:]
    if e.size == 0 or int(e.min()) + elem.emin < -126 or int(e.max()) + elem.emax + 24 - m > 127:
        return False
    if special.any():
        mag.reshape(-1, k)[special] = 0  # their values become NaN below
    v = mag.view(np.float32).reshape(-1, k)
    e32 = e.astype(np.int32)
    # per element (a flat ufunc runs 3x faster than one broadcasting over rows of 32):
    # 2**(emin + e), a power of two, and max * X = 2**(emin + e) * (max / 2**emin), exact
    low = np.repeat(np.ldexp(np.float32(1.0), e32 + elem.emin), k).reshape(-1, k)
    factor = np.float32(elem.max / 2.0**elem.emin)
    top = np.multiply(low, factor, out=sign.view(np.float32).reshape(-1, k))
    z = np.minimum(v, top, out=v)
    y = np.maximum(z, low, out=work.view(np.float32).reshape(-1, k))
    c = y.view(np.uint32)  # the exponent field of y, plus 23 - m: c
    c &= _SPECIAL
    c += np.uint32(((23 - m) << 23) | 0x400000)
    result = out.view(np.float32).reshape(-1, k)
    cf = c.view(np.float32)
    np.add(z, cf, out=result)
    result -= cf
    np.bitwise_and(b, _SIGN, out=sign)
    out |= sign
    if nan.any():
        result[nan] = np.nan
    return True


def fused_int(out: np.ndarray, chunk: Chunk, *, elem: IntFormat, low_code: int, k: int) -> bool:
    """``X * clip(rint(V / X * 2**frac), low_code, max_code) * 2**-frac`` of a chunk (as
    :func:`fused_float`, for an integer element such as MXINT8's).

    **Why it is exact.** The grid of ``X * P`` is the multiples of ``g = 2**(e - frac)``, the
    same in every binade: with ``c = 1.5 * 2**(e - frac + 23)`` per block (a normal float32
    when its field ``e - frac + 150`` is in ``[1, 254]``), float32's spacing in c's binade is
    ``g``, and every ``|v| <= amax < 2**(e - frac + 22) = c / 3`` (checked per block) keeps
    ``v + c`` there, so ``fl(v + c) = c + RNE_g(v)`` (ties agree: ``c / g = 3 * 2**22`` is
    even) and ``fl(v + c) - c`` is exact. An exact zero comes out +0 (integers have no -0).
    The bounds ``max_code * g`` and ``low_code * g`` are float32 (at most 24 bits, checked).
    """
    b, a, e, nan, special, work = chunk.b, chunk.a, chunk.e, chunk.nan, chunk.special, chunk.work
    shift = e.astype(np.int64) - elem.frac_bits
    field = shift + 150
    finite = np.where(special, 0, a)
    top_field = (finite >> np.uint32(23)).astype(np.int64)  # amax < 2**(top_field - 126)
    if field.size == 0 or field.min() < 1 or field.max() > 254:
        return False
    if np.any((finite != 0) & (top_field - 126 > shift + 22)) or int(shift.min()) < -140:
        return False
    x = _zeroed(b, special, k, work)
    c = np.repeat(np.ldexp(np.float32(1.5), (shift + 23).astype(np.int32)), k)  # per element
    result = out.view(np.float32)
    np.add(x, c, out=result)
    result -= c
    g = np.ldexp(1.0, shift)  # float64: exact
    limit = (elem.max_code * g).astype(np.float32).view(np.uint32)  # exact: 7 bits, normal
    _finish(out, finite, nan, limit, (low_code * g).astype(np.float32), k)
    return True
