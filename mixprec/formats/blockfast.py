"""The float32 kernel of MX quantization: one pass over cache-sized chunks, on threads.

Used by :func:`mixprec.formats.blockquant.quantize_blocks` where :func:`fast_applies`; tested
against the general float64 path (``decode(encode(x))``) and the Fraction oracle.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from mixprec._util.threads import scratch
from mixprec.formats.block import BlockFormat, BlockSpecials, IntMin
from mixprec.formats.blockfused import Chunk, fused_float, fused_int
from mixprec.formats.blockscale import pow2_exponents, pow2_exponents_bits
from mixprec.formats.fast32.blocks import BLOCK
from mixprec.formats.quantize import _quantize_float32 as quantize_float32
from mixprec.formats.spec import FloatFormat, IntFormat, Overflow, Rounding

_ABS = np.uint32(0x7FFFFFFF)
_SPECIAL = np.uint32(0x7F800000)
_FAST_MODES = (Rounding.NEAREST_EVEN, Rounding.NEAREST_AWAY, Rounding.TOWARD_ZERO)


def fast_applies(block: BlockFormat, mode: Rounding, rows: np.ndarray) -> bool:
    """The float32 kernel: float32 input, saturating elements, the default specials, and a
    mode where values below ``2**-126`` after scaling round to zero however float32 rounded
    them (nearest modes and toward zero: every element format's smallest subnormal is at least
    ``2**-16``, so such a value is far below half of it). Every other step of the kernel is
    exact in float32, and clipping the scaled values to ±max before rounding gives what
    saturation gives after it in these modes (max is a value of the format)."""
    return (
        rows.dtype == np.float32
        and mode in _FAST_MODES
        and block.specials is BlockSpecials.BLOCK
        and block.element.smallest_subnormal >= 2.0**-100
    )


def fast_kernel(
    block: BlockFormat, mode: Rounding, policy: Overflow
) -> Callable[[np.ndarray, np.ndarray], None]:
    k, elem = block.block_size, block.element
    limit = np.float32(elem.max)
    symmetric = block.int_min is IntMin.SYMMETRIC and elem.is_integer
    int_round = {Rounding.NEAREST_EVEN: np.rint, Rounding.TOWARD_ZERO: np.trunc}.get(mode)
    if not isinstance(elem, IntFormat):
        int_round = None
    frac = elem.frac_bits if isinstance(elem, IntFormat) and int_round is not None else 0
    magic = None
    if isinstance(elem, FloatFormat) and mode is Rounding.NEAREST_EVEN:
        magic = _magic(elem)
    fused = _fused(block, mode, magic is not None)

    def kernel(out: np.ndarray, b: np.ndarray) -> None:
        """One chunk of whole blocks: amax by the integer max of the magnitude bits (a NaN or
        inf pattern is the largest; a float32 magnitude orders as its bits), the exponent,
        ``V / X`` and ``P * X`` by float32 products with powers of two (exact: the results
        are float32 numbers, see :mod:`mixprec.formats.blockquant`). Integer elements round
        in the same pass: ``rint(V * 2**(frac - e))``, clipped to the codes (rint is exact)."""
        n = b.size
        mag, work, sign = _scratch(n)
        rows = b.reshape(-1, k)
        np.bitwise_and(b, _ABS, out=mag)
        a = np.maximum.reduceat(mag, np.arange(0, n, k))  # 2.5x faster than max(axis=1)
        special = a >= _SPECIAL
        found = pow2_exponents_bits(a, special, block)
        if found is None:  # a subnormal amax: the float64 rule
            amax = np.where(special, 0.0, a.view(np.float32).astype(np.float64))
            found = pow2_exponents(amax, special, block)
        e, nan = found
        if fused is not None and fused(out, Chunk(b, a, e, nan, special, mag, work, sign)):
            return  # nearest-even in one step (or refused: then the steps below)
        e32 = e.astype(np.int32)
        inverse = np.ldexp(np.float32(1.0), -e32)  # 2**-e: at most 2**127
        with np.errstate(invalid="ignore"):  # signaling NaNs (their blocks are NaN below)
            scaled = np.multiply(
                rows.view(np.float32), inverse[:, None], out=work.reshape(rows.shape)
            )
        e32 -= frac
        if nan.any():  # NaN-scale blocks (NaN/inf inside, or a scale overflow): NaN below
            scaled[nan] = 0.0
        result = out.reshape(rows.shape).view(np.float32)
        if int_round is not None and isinstance(elem, IntFormat):  # (mypy: elem is an int)
            scaled *= np.float32(2.0**frac)  # |V / X| < 2: no overflow
            q = int_round(scaled, out=scaled)
            low = -elem.max_code if symmetric else elem.min_code
            np.clip(q, np.float32(low), np.float32(elem.max_code), out=q)
            q += np.float32(0.0)  # -0 -> +0: integers have no negative zero
            np.copyto(result, q)
        else:
            np.clip(scaled, -limit, limit, out=scaled)  # saturation, then no value rounds past max
            if magic is not None:  # clipped and special-free
                _round_nearest_even(result.reshape(-1), scaled.reshape(-1), magic, mag, sign)
            else:
                flat = scaled.reshape(-1)
                np.copyto(result, quantize_float32(flat, elem, mode, policy).reshape(rows.shape))
            if symmetric:
                np.maximum(result, np.float32(-elem.max), out=result)
        scale = np.ldexp(np.float32(1.0), e32)
        scale[nan] = np.nan
        result *= scale[:, None]

    return kernel


Fused = Callable[[np.ndarray, Chunk], bool]


def _fused(block: BlockFormat, mode: Rounding, has_magic: bool) -> Fused | None:
    """The one-step nearest-even routine of :mod:`mixprec.formats.blockfused`, or None."""
    elem, k = block.element, block.block_size
    if mode is not Rounding.NEAREST_EVEN:
        return None
    if isinstance(elem, FloatFormat) and has_magic:
        return functools.partial(fused_float, elem=elem, k=k)
    if isinstance(elem, IntFormat) and elem.is_signed and 0 <= elem.frac_bits <= 21:
        low = -elem.max_code if block.int_min is IntMin.SYMMETRIC else elem.min_code
        return functools.partial(fused_int, elem=elem, low_code=low, k=k)
    return None


def _magic(elem: FloatFormat) -> tuple[np.uint32, np.uint32] | None:
    """The two constants of :func:`_round_nearest_even` for ``elem``, or None."""
    m = elem.mantissa_bits
    if not (elem.has_subnormals and 1 <= m <= 21 and -126 <= elem.emin and elem.emax <= 104 + m):
        return None
    return np.uint32((elem.emin + 127) << 23), np.uint32(((23 - m) << 23) | 0x400000)


def _round_nearest_even(
    out: np.ndarray, x: np.ndarray, magic: tuple[Any, ...], work: np.ndarray, sign: np.ndarray
) -> None:
    """Round float32 ``x`` (finite, ``|x| <= elem.max``) to nearest-even on ``elem``'s grid.

    The magic-constant addition of :func:`mixprec.formats.fast32.magic.round_by_magic`, with the
    constant's exponent found by integer arithmetic instead of a multiplication into float32's
    subnormals (which this CPU runs 3x slower: most MXFP4/MXFP6 scaled values lie below 2 and
    E2M1/E2M3 have ``emin = 0``). With ``e`` the binade of ``|x|``, ``e' = max(e, emin)`` and
    ``q = 2**(e' - m)``: ``c = 1.5 * 2**(e' + 23 - m)`` has exponent field
    ``max(E_x, emin + 127) + 23 - m`` (``E_x`` the exponent field of ``x``, 0 for zero and
    subnormals) and fraction ``0x400000``. ``|x| < 2**(e'+1) <= c/3`` (m <= 21) keeps ``x + c``
    in c's binade, where float32's spacing is exactly ``q``, so ``fl(x + c) = c + RNE(x)``
    (``c / q = 3 * 2**22`` is even: ties agree) and ``fl(x + c) - c`` is exact (Sterbenz).
    Multiples of ``q`` in binade ``e'`` are the element's values there (subnormals below
    ``emin``), and ``|x| <= max`` keeps the result at most max. The sign goes back last, so a
    negative value rounding to zero gives -0.
    """
    low, offset = magic
    bits = np.bitwise_and(x.view(np.uint32), _SPECIAL, out=work)  # exponent field of x
    # as float32 these fields are 0 or powers of two, ordered as the integers (and numpy's
    # float32 maximum is 2x faster than its uint32 one)
    np.maximum(bits.view(np.float32), low.view(np.float32), out=bits.view(np.float32))
    bits += offset
    c = bits.view(np.float32)
    np.add(x, c, out=out)
    out -= c
    np.bitwise_and(x.view(np.uint32), np.uint32(0x80000000), out=sign)
    out_bits = out.view(np.uint32)
    out_bits |= sign


def _expand(per_block: np.ndarray, k: int, out: np.ndarray) -> np.ndarray:
    """Each value of ``per_block`` (float32) repeated ``k`` times, into ``out`` (float32 of
    ``k * per_block.size``): a broadcasting ufunc over rows of 32 runs 4x slower than over one
    flat array, and copying rows of 8 values at once is cheaper than repeating one by one."""
    r = 8 if k % 8 == 0 else 1
    wide = np.dtype((np.void, 4 * r))
    step = np.repeat(per_block, r).view(wide)
    target = out.view(wide)
    np.copyto(target.reshape(-1, k // r), step[:, None])
    return out


def _buffers() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size = BLOCK
    return np.empty(size, np.uint32), np.empty(size, np.float32), np.empty(size, np.uint32)


def _scratch(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This thread's buffers (uint32, float32, uint32) for a chunk of ``n <= BLOCK``
    values (:func:`mixprec._util.threads.scratch`: no page faults per call)."""
    buffers = scratch("formats.blockfast", _buffers)
    if buffers[0].size < n:
        buffers = (np.empty(n, np.uint32), np.empty(n, np.float32), np.empty(n, np.uint32))
    return buffers[0][:n], buffers[1][:n], buffers[2][:n]
