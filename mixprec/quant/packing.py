"""Sub-byte weight codes packed along the input axis (the quantized model file's layout).

int4: two codes per byte, row ``2i`` in the low nibble, row ``2i + 1`` in the high one. Any
width ``bits`` of 2..4 (:func:`pack_codes`): each output channel's column is one little-endian
bit stream, row ``k``'s two's-complement code in bits ``k * bits .. (k + 1) * bits - 1`` (bit 0
of byte 0 first), zero-padded to whole bytes: ``ceil(rows * bits / 8)`` bytes per column. For
``bits = 4`` that is the int4 layout above (tested).
"""

from __future__ import annotations

import numpy as np

__all__ = ["pack_codes", "pack_int4", "packed_rows", "unpack_codes", "unpack_int4"]


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


def packed_rows(rows: int, bits: int) -> int:
    """Bytes per column of ``rows`` codes of ``bits`` bits: ``ceil(rows * bits / 8)``."""
    return -(-rows * bits // 8)


def _check_bits(bits: int) -> None:
    if bits not in (2, 3, 4):
        raise ValueError(f"packed codes are 2, 3 or 4 bits wide, got {bits!r} (int8: unpacked)")


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """``(in, out)`` signed codes of ``bits`` bits -> uint8 ``(packed_rows(in, bits), out)``.

    Raises:
        ValueError: ``bits`` not 2..4, or a code outside ``-2**(bits-1) .. 2**(bits-1) - 1``.
    """
    _check_bits(bits)
    if bits == 4:
        return pack_int4(codes)
    codes = np.asarray(codes, np.int64)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if codes.size and (codes.min() < lo or codes.max() > hi):
        raise ValueError(f"int{bits} codes must lie in {lo}..{hi}")
    rows, cols = codes.shape
    fields = (codes & (2**bits - 1)).astype(np.uint8)  # two's complement in `bits` bits
    stream = (fields[:, :, None] >> np.arange(bits, dtype=np.uint8)) & 1  # (rows, cols, bits)
    stream = stream.transpose(1, 0, 2).reshape(cols, rows * bits)  # column-major bit streams
    return np.packbits(stream, axis=1, bitorder="little").T.copy()


def unpack_codes(packed: np.ndarray, rows: int, bits: int) -> np.ndarray:
    """The int8 codes ``(rows, out)`` of :func:`pack_codes`.

    Raises:
        ValueError: ``bits`` not 2..4, or too few bytes for ``rows`` codes.
    """
    _check_bits(bits)
    packed = np.asarray(packed, np.uint8)
    if packed.shape[0] < packed_rows(rows, bits):
        raise ValueError(f"{packed.shape[0]} bytes per column cannot hold {rows} int{bits} codes")
    if bits == 4:
        return unpack_int4(packed, rows)
    cols = packed.shape[1]
    stream = np.unpackbits(packed.T, axis=1, bitorder="little")[:, : rows * bits]
    fields = stream.reshape(cols, rows, bits).astype(np.int16) << np.arange(bits, dtype=np.int16)
    values = fields.sum(axis=2).T  # unsigned fields (rows, cols)
    sign = 2 ** (bits - 1)
    return ((values ^ sign) - sign).astype(np.int8)
