"""int4 packing: two codes per byte, along the input axis (the quantized model file's layout)."""

from __future__ import annotations

import numpy as np

__all__ = ["pack_int4", "unpack_int4"]


def pack_int4(codes: np.ndarray) -> np.ndarray:
    """``(in, out)`` int codes in -8..7 -> uint8 ``(ceil(in / 2), out)``: row ``2i`` in the low
    nibble, row ``2i + 1`` in the high one (a zero row pads an odd count).

    Raises:
        ValueError: a code outside -8..7.
    """
    codes = np.asarray(codes, np.int64)
    if codes.size and (codes.min() < -8 or codes.max() > 7):
        raise ValueError("int4 codes must lie in -8..7")
    if codes.shape[0] % 2:
        codes = np.concatenate([codes, np.zeros((1,) + codes.shape[1:], np.int64)])
    nibbles = (codes & 0xF).astype(np.uint8)
    return nibbles[0::2] | (nibbles[1::2] << 4)


def unpack_int4(packed: np.ndarray, rows: int) -> np.ndarray:
    """The int8 codes ``(rows, out)`` of :func:`pack_int4`."""
    packed = np.asarray(packed, np.uint8)
    out = np.empty((2 * packed.shape[0],) + packed.shape[1:], np.int8)
    out[0::2] = (packed & 0xF).astype(np.int8)
    out[1::2] = (packed >> 4).astype(np.int8)
    out = (out ^ 8) - 8  # sign-extend the nibble
    return out[:rows]
