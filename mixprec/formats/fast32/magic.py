"""The magic-constant route: nearest-even rounding of clean float32 blocks in seven float passes.

For formats with subnormals and 1 to 20 mantissa bits (fp16, fp8, fp6 ...): adding a constant
``c`` whose float32 spacing is the format's quantum makes the float32 adder round to the
format's grid; subtracting ``c`` back is exact. The proof is in :func:`round_by_magic`; it
applies to a block whose magnitudes are all at most :func:`clean_limit` (no NaN, inf or
overflow: checked by :func:`~mixprec.formats.fast32.blocks.is_clean`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from mixprec.formats.fast32.blocks import INF, SIGN, bits_of, block_scratch
from mixprec.formats.spec import FloatFormat


def clean_limit(fmt: FloatFormat) -> np.float32:
    """The largest float32 that rounds to nearest-even without passing ``fmt.max``: the tie
    above ``max`` when ``max``'s last kept bit is even (the tie then rounds down to it), else the
    float32 just below that tie."""
    max_bits = int(bits_of(fmt.max))
    kept_is_odd = (max_bits >> (23 - fmt.mantissa_bits)) & 1
    limit: np.float32 = np.uint32(
        max_bits + (1 << (23 - fmt.mantissa_bits)) // 2 - kept_is_odd
    ).view(np.float32)
    return limit


class Magic(NamedTuple):
    """Constants of :func:`round_by_magic` for one format (see :func:`magic_constants`)."""

    scale_down: np.float32  # 2**-(127 + emin): the format's first normal binade -> float32's last
    # subnormal binade
    offset: np.uint32  # added to the exponent bits of the scaled-down input: the pattern of c
    signed_zero: bool  # whether -0 exists (else a negative value rounding to zero gives +0)


@functools.lru_cache(maxsize=64)
def magic_constants(fmt: FloatFormat) -> Magic | None:
    """The constants of the magic-constant rounding to ``fmt``, or None where it does not apply.

    It needs subnormals, 1 to 20 mantissa bits, ``-126 <= emin <= 22`` (float32 subnormal
    inputs then lie below the smallest normal; the scale factor is a float32) and
    ``emax <= 104 + m``, which keeps ``c`` finite.
    """
    m = fmt.mantissa_bits
    if not (
        fmt.has_subnormals
        and fmt.is_signed
        and 1 <= m <= 20
        and -126 <= fmt.emin <= 22
        and fmt.emax <= 104 + m
    ):
        return None
    return Magic(
        scale_down=np.float32(2.0 ** (-127 - fmt.emin)),
        offset=np.uint32(((fmt.emin + 150 - m) << 23) | 0x400000),
        signed_zero=fmt.has_negative_zero,
    )


def round_by_magic(
    out: np.ndarray, x: np.ndarray, magic: Magic, work: np.ndarray, sign: np.ndarray
) -> None:
    """Round float32 ``x`` to nearest-even on the grid of a format into float32 ``out``.

    Valid when every ``|x|`` is at most the format's largest magnitude that does not round
    past its max (the caller checks; NaN and inf excluded). ``work`` and ``sign``: uint32
    scratch of ``x``'s size. Seven float32-speed passes, no comparison or select.

    **Why it is exact.** Let ``e`` be the binade of ``|x|`` (``2**e <= |x| < 2**(e+1)``),
    ``e' = max(e, emin)`` and ``q = 2**(e' - m)`` the format's spacing there, ``m`` its
    mantissa bits. With ``c = 1.5 * 2**(e' + 23 - m)``, ``|x| < 2**(e'+1) <= c/3`` (m <= 20)
    keeps ``x + c`` inside c's binade ``[2**(e'+23-m), 2**(e'+24-m))``, where the float32
    spacing is exactly ``q``: the float32 addition rounds ``x`` to the nearest multiple of
    ``q``, ties to even (``c / q = 3 * 2**(22-m)`` is even, so parities agree). Multiples of
    ``q`` in binade ``e'`` are exactly the format's values there (its subnormals below
    ``emin``), so ``fl(x + c) = c + RNE(x)`` and ``fl(x + c) - c`` is exact (Sterbenz).

    ``c`` is built without a comparison: ``x * 2**-(127+emin)`` puts the format's first normal
    binade and everything below it into float32's subnormals, whose exponent bits are 0, and
    each binade above at exponent bits ``e - emin``; adding ``offset`` to those exponent bits
    gives c's pattern (an exponent field of at most ``emax + 150 - m <= 254``). One corner: the
    float32 just below ``2**(emin+1)`` scales to the midpoint below float32's smallest normal
    and rounds up to it, giving the next binade's ``c`` (spacing ``2q``); the result is still
    right: both grids round it to ``2**(emin+1)``, a value of both, ``2**(emin-23)`` away.

    A result of zero comes out +0; the sign of ``x`` is then put back (``-0`` for negative
    inputs) in formats that have ``-0``.
    """
    with np.errstate(under="ignore"):
        c = np.multiply(x, magic.scale_down, out=work.view(np.float32))
    bits = c.view(np.uint32)
    bits &= INF  # exponent bits only
    bits += magic.offset
    np.add(x, c, out=out)
    out -= c
    if magic.signed_zero:
        np.bitwise_and(x.view(np.uint32), SIGN, out=sign)
        out_bits = out.view(np.uint32)
        out_bits |= sign


def magic_block(out: np.ndarray, b: np.ndarray, magic: Magic) -> None:
    """:func:`round_by_magic` of one clean block of uint32 patterns, in the thread's scratch."""
    scratch = block_scratch()
    n = b.size
    round_by_magic(out.view(np.float32), b.view(np.float32), magic, scratch[0][:n], scratch[1][:n])
