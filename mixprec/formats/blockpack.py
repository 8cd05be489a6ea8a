"""Compact storage of block-scaled arrays: element codes packed into bytes, and the scales.

Codes of ``b`` bits (4, 6 or 8) are packed little-end first in C order of the array: two fp4
codes per byte (the first in the low nibble, as PyTorch's ``float4_e2m1fn_x2`` and torchao's
packing), four fp6 codes per three bytes; 8-bit codes are stored as they are. The scale codes are
one byte per block, and NVFP4 adds its float32 tensor scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mixprec.formats.block import BlockFormat, get_block_format
from mixprec.formats.blockquant import decode_blocks, encode_blocks
from mixprec.formats.spec import Overflow, Rounding


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack unsigned codes of ``bits`` bits (1 to 8) into a flat uint8 array, LSB first.

    >>> pack_codes(np.array([1, 2, 15], np.uint8), 4).tolist()
    [33, 15]
    """
    if not 1 <= bits <= 8:
        raise ValueError(f"pack_codes packs codes of 1 to 8 bits, got {bits}")
    flat = np.asarray(codes).reshape(-1).astype(np.uint8)
    if bits == 8:
        copied: np.ndarray = flat.copy()
        return copied
    bit_array = np.unpackbits(flat[:, None], axis=1, bitorder="little")[:, :bits]
    packed: np.ndarray = np.packbits(bit_array.reshape(-1), bitorder="little")
    return packed


def unpack_codes(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: ``count`` codes of ``bits`` bits as uint8."""
    data = np.asarray(packed, dtype=np.uint8).reshape(-1)
    if bits == 8:
        head: np.ndarray = data[:count].copy()
        return head
    bit_array = np.unpackbits(data, bitorder="little")[: count * bits].reshape(count, bits)
    codes: np.ndarray = np.packbits(bit_array, axis=1, bitorder="little").reshape(-1)
    return codes


@dataclass(frozen=True)
class BlockStorage:
    """A block-scaled array as stored: packed element codes, scale codes, tensor scale.

    ``nbytes`` counts what a file or a memory model holds: the packed codes, one byte per
    block scale, and 4 bytes for NVFP4's tensor scale.
    """

    format: BlockFormat
    shape: tuple[int, ...]
    axis: int
    codes: np.ndarray
    scales: np.ndarray
    tensor_scale: np.float32 | None = None

    @property
    def nbytes(self) -> int:
        extra = 4 if self.tensor_scale is not None else 0
        return int(self.codes.nbytes + self.scales.nbytes + extra)

    def decode(self, dtype: type | None = None) -> np.ndarray:
        """The values (as :func:`mixprec.formats.blockquant.decode_blocks`)."""
        count = int(np.prod(self.shape))
        codes = unpack_codes(self.codes, self.format.bits, count).reshape(self.shape)
        parts: tuple[Any, ...] = (codes, self.scales)
        if self.tensor_scale is not None:
            parts += (self.tensor_scale,)
        return decode_blocks(parts, self.format, self.axis, dtype)


def to_storage_blocks(
    x: object,
    fmt: BlockFormat | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | int | None = None,
    axis: int = -1,
) -> BlockStorage:
    """Encode ``x`` and pack its codes (see the module docstring).

    >>> s = to_storage_blocks(np.ones((4, 32), np.float32), "mxfp4")
    >>> s.codes.nbytes, s.scales.nbytes, s.nbytes
    (64, 4, 68)
    """
    block = get_block_format(fmt)
    encoded = encode_blocks(x, block, rounding, overflow, rng, axis)
    codes = encoded[0]
    return BlockStorage(
        format=block,
        shape=tuple(codes.shape),
        axis=axis,
        codes=pack_codes(codes, block.bits),
        scales=encoded[1],
        tensor_scale=encoded[2] if len(encoded) == 3 else None,
    )
