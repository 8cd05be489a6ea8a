"""The table route: formats with at most 6 mantissa bits by a 2**17-entry lookup table.

**Why it is exact.** For such a format the result depends only on the top 16 bits of the
float32 pattern (sign, exponent, 7 mantissa bits) and on whether the low 16 bits are zero: every
rounding boundary of the format (a value or a midpoint between two values, at most 7 significant
bits) lies on the 16-bit grid, so all inputs with the same top bits and non-zero low bits lie
strictly inside one interval between boundaries and round alike, as their representative (the
top bits with low bits ``0x0001``) does. The table is computed once per (format, mode,
overflow) by the reference path :func:`mixprec.formats.reference.round_float`. Deterministic
modes only; the format's smallest subnormal must be at least ``2**-132`` (so every boundary is a
normal float32 on that grid) and its ``emax`` at most 127.
"""

from __future__ import annotations

import functools

import numpy as np

from mixprec.formats.fast32.blocks import Block, block_scratch
from mixprec.formats.reference import round_float
from mixprec.formats.spec import FloatFormat, Format, Overflow, Rounding


@functools.lru_cache(maxsize=256)
def applies(fmt: Format, mode: Rounding) -> bool:
    """Whether the table route rounds ``fmt`` with ``mode``."""
    return (
        isinstance(fmt, FloatFormat)
        and mode is not Rounding.STOCHASTIC
        and fmt.mantissa_bits <= 6
        and fmt.emax <= 127
        and fmt.smallest_subnormal >= 2.0**-132
    )


@functools.lru_cache(maxsize=64)
def _table(fmt: FloatFormat, mode: Rounding, overflow: Overflow) -> np.ndarray:
    keys = np.arange(2**17, dtype=np.uint32)
    representatives = ((keys >> 1) << 16) | (keys & 1)
    with np.errstate(invalid="ignore"):  # signaling-NaN patterns
        x = representatives.view(np.float32).astype(np.float64)
    return round_float(x, fmt, mode, overflow).astype(np.float32).view(np.uint32)


@functools.lru_cache(maxsize=64)
def kernel(fmt: FloatFormat, mode: Rounding, overflow: Overflow) -> Block:
    """The block function of the table route for one (format, mode, overflow), built once."""
    table = _table(fmt, mode, overflow)

    def block(out: np.ndarray, b: np.ndarray) -> None:
        n = b.size
        scratch = block_scratch()
        index = np.right_shift(b, 15, out=scratch[0][:n])
        index &= 0x1FFFE  # (top 16 bits) << 1
        low = np.bitwise_and(b, 0xFFFF, out=scratch[1][:n])
        index |= np.not_equal(low, 0, out=scratch[5][:n])
        np.take(table, index, out=out)

    return block
