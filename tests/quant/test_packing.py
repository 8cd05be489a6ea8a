"""Sub-byte weight codes: the bit-stream layout, against a bit-by-bit reference."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from mixprec.quant.packing import pack_codes, pack_int4, packed_rows, unpack_codes


def reference_pack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Each column a little-endian bit stream, written one bit at a time in Python ints."""
    rows, cols = codes.shape
    out = np.zeros((packed_rows(rows, bits), cols), np.uint8)
    for j in range(cols):
        for k in range(rows):
            field = int(codes[k, j]) & ((1 << bits) - 1)
            for b in range(bits):
                position = k * bits + b
                out[position // 8, j] |= ((field >> b) & 1) << (position % 8)
    return out


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("rows", [1, 7, 8, 13, 784])
def test_pack_is_the_bit_stream_and_round_trips(bits: int, rows: int) -> None:
    rng = np.random.default_rng(rows * bits)
    codes = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (rows, 3))
    packed = pack_codes(codes, bits)
    assert packed.dtype == np.uint8 and packed.shape == (-(-rows * bits // 8), 3)
    assert_array_equal(packed, reference_pack(codes, bits))
    assert_array_equal(unpack_codes(packed, rows, bits), codes)
    assert unpack_codes(packed, rows, bits).dtype == np.int8


def test_int4_layout_is_the_four_bit_stream() -> None:
    codes = np.random.default_rng(0).integers(-8, 8, (9, 4))
    assert_array_equal(pack_int4(codes), reference_pack(codes, 4))


def test_bad_codes_and_widths() -> None:
    with pytest.raises(ValueError, match="int3 codes must lie in -4..3"):
        pack_codes(np.array([[4]]), 3)
    with pytest.raises(ValueError, match="int2 codes must lie in -2..1"):
        pack_codes(np.array([[-3]]), 2)
    with pytest.raises(ValueError, match="2, 3 or 4 bits wide, got 8"):
        pack_codes(np.zeros((2, 2), np.int64), 8)
    with pytest.raises(ValueError, match="cannot hold 9 int3 codes"):
        unpack_codes(np.zeros((3, 1), np.uint8), 9, 3)
