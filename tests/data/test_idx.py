"""IDX reading and writing: round trips and clear errors for damaged files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mixprec.data import read_idx, write_idx
from mixprec.data.idx import TYPE_CODES

DTYPES = list(TYPE_CODES.values())


@settings(max_examples=60, deadline=None)
@given(
    array=st.sampled_from(DTYPES).flatmap(
        lambda dtype: hnp.arrays(
            dtype, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
        )
    ),
    compress=st.booleans(),
)
def test_round_trip_is_bit_exact(
    tmp_path_factory: pytest.TempPathFactory, array: np.ndarray, compress: bool
) -> None:
    path = tmp_path_factory.mktemp("idx") / "data-idx"
    write_idx(path, array, compress=compress)
    result = read_idx(path)
    assert result.dtype == array.dtype
    assert result.shape == array.shape
    assert result.tobytes() == array.tobytes()  # bit for bit: NaN payloads, -0.0
    assert result.flags.writeable and result.flags.c_contiguous


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_big_endian_on_disk(tmp_path: Path, dtype: np.dtype) -> None:
    write_idx(tmp_path / "x", np.array([1, 2], dtype=dtype))
    data = (tmp_path / "x").read_bytes()
    code = {v: k for k, v in TYPE_CODES.items()}[dtype]
    assert data[:8] == bytes([0, 0, code, 1, 0, 0, 0, 2])
    assert data[8:] == np.array([1, 2], dtype=dtype.newbyteorder(">")).tobytes()


def test_compression_follows_the_name_by_default(tmp_path: Path) -> None:
    write_idx(tmp_path / "a.gz", np.zeros(3, np.uint8))
    write_idx(tmp_path / "a", np.zeros(3, np.uint8))
    assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "a").read_bytes()[:2] == b"\x00\x00"


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "gzipped-without-suffix", array, compress=True)
    write_idx(tmp_path / "raw-with-suffix.gz", array, compress=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "gzipped-without-suffix"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "raw-with-suffix.gz"), array)


def test_gzip_output_is_reproducible(tmp_path: Path) -> None:
    write_idx(tmp_path / "a.gz", np.arange(5, dtype=np.int32))
    first = (tmp_path / "a.gz").read_bytes()
    write_idx(tmp_path / "a.gz", np.arange(5, dtype=np.int32))
    assert (tmp_path / "a.gz").read_bytes() == first


GOOD = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))

BROKEN = {
    "empty": (b"", "truncated IDX file: 0 bytes"),
    "wrong-magic": (b"\x01\x02" + GOOD[2:], "not an IDX file: magic number 01 02 08 02"),
    "unknown-type": (b"\x00\x00\x07" + GOOD[3:], "unknown IDX type code 0x07"),
    "truncated-header": (GOOD[:9], "truncated IDX header: 2 dimensions need 12"),
    "truncated-payload": (GOOD[:-2], "truncated IDX payload: shape (2, 3) of uint8 needs 18"),
    "trailing-bytes": (GOOD + b"\x00\x00\x00", "3 trailing bytes after the IDX payload"),
}


def test_good_fixture_reads(tmp_path: Path) -> None:
    (tmp_path / "good").write_bytes(GOOD)
    np.testing.assert_array_equal(read_idx(tmp_path / "good"), np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_file_gives_clear_error(tmp_path: Path, case: str, compress: bool) -> None:
    data, message = BROKEN[case]
    path = tmp_path / f"{case}-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(ValueError, match="^" + str(path).replace(".", r"\.") + ": ") as error:
        read_idx(path)
    assert message in str(error.value)


@pytest.mark.parametrize("cut", [5, 20, -4], ids=["header", "stream", "trailer"])
def test_truncated_gzip_gives_clear_error(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(GOOD * 50)[:cut])
    with pytest.raises(ValueError, match="corrupt or truncated gzip data") as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_corrupt_gzip_gives_clear_error(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(GOOD * 50))
    data[12] ^= 0xFF
    data[-8] ^= 0xFF  # and the CRC, so the damage cannot go unnoticed
    (tmp_path / "bad.gz").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="bad.gz: corrupt or truncated gzip"):
        read_idx(tmp_path / "bad.gz")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing")


@pytest.mark.parametrize("dtype", [np.bool_, np.uint16, np.int64, np.complex64, np.float16])
def test_write_rejects_types_without_idx_code(tmp_path: Path, dtype: type) -> None:
    with pytest.raises(TypeError, match=r"IDX element types are uint8, int8, .*astype"):
        write_idx(tmp_path / "x", np.zeros(2, dtype=dtype))
