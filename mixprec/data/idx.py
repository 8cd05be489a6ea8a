"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the payload in
C order, big-endian (Y. LeCun, C. Cortes, C. Burges, "The MNIST database", section "The IDX
file format"). The magic number is ``0x00 0x00 TYPE NDIM``, where ``TYPE`` names the element
type (``TYPE_CODES`` below) and ``NDIM`` the number of dimensions. The file may be gzip-compressed;
gzip is recognized by its magic bytes ``1f 8b``, never by the file name.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["GZIP_MAGIC", "TYPE_CODES", "read_idx", "write_idx"]

GZIP_MAGIC = b"\x1f\x8b"

#: IDX type code -> numpy dtype of the elements (big-endian on disk).
TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(np.int16),
    0x0C: np.dtype(np.int32),
    0x0D: np.dtype(np.float32),
    0x0E: np.dtype(np.float64),
}
_CODE_OF_DTYPE = {dtype: code for code, dtype in TYPE_CODES.items()}
_ALLOWED_DTYPES = ", ".join(str(dtype) for dtype in TYPE_CODES.values())


def _read_bytes(path: Path) -> bytes:
    """The IDX bytes of ``path``, decompressed when the file starts with the gzip magic."""
    data = path.read_bytes()
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as error:
        raise ValueError(
            f"{path}: corrupt or truncated gzip data ({error}); the file starts with the gzip "
            "magic 1f 8b but does not decompress. Download or copy the file again."
        ) from error


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw, into a numpy array.

    Args:
        path: the file. Compression is detected from its first bytes, not from its name.

    Returns:
        A writable C-contiguous array in native byte order, with the file's shape and with the
        dtype of its type code (``uint8`` for MNIST images and labels).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not valid IDX: wrong magic number, unknown type code, truncated
            header or payload, trailing bytes after the payload, or corrupt gzip data. The
            message names the file and what is wrong.

    Example:
        >>> import tempfile, numpy as np
        >>> path = Path(tempfile.mkdtemp()) / "labels-idx1-ubyte.gz"
        >>> write_idx(path, np.array([3, 1, 4], dtype=np.uint8))
        >>> read_idx(path)
        array([3, 1, 4], dtype=uint8)
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(
            f"{path}: truncated IDX file: {len(data)} bytes, fewer than the 4-byte magic number."
        )
    zero0, zero1, type_code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0:
        raise ValueError(
            f"{path}: not an IDX file: magic number {data[:4].hex(' ')} does not start with "
            "00 00. Check that the path names an IDX file (e.g. train-images-idx3-ubyte.gz)."
        )
    if type_code not in TYPE_CODES:
        known = ", ".join(f"0x{code:02X} ({dtype})" for code, dtype in TYPE_CODES.items())
        raise ValueError(
            f"{path}: unknown IDX type code 0x{type_code:02X} in magic number "
            f"{data[:4].hex(' ')}; known type codes: {known}."
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header_size} header bytes, "
            f"the file has {len(data)}."
        )
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = TYPE_CODES[type_code]
    expected = header_size + math.prod(shape) * dtype.itemsize
    if len(data) < expected:
        raise ValueError(
            f"{path}: truncated IDX payload: shape {shape} of {dtype} needs {expected} bytes, "
            f"the file has {len(data)} ({expected - len(data)} missing). Download or copy the "
            "file again."
        )
    if len(data) > expected:
        raise ValueError(
            f"{path}: {len(data) - expected} trailing bytes after the IDX payload: shape "
            f"{shape} of {dtype} needs {expected} bytes, the file has {len(data)}. The header "
            "and the data disagree; the file is corrupt."
        )
    values = np.frombuffer(data, dtype=dtype.newbyteorder(">"), offset=header_size)
    return values.astype(dtype).reshape(shape)


def write_idx(path: str | os.PathLike[str], array: ArrayLike, compress: bool | None = None) -> None:
    """Write an array as an IDX file.

    Args:
        path: the file to write (replaced if it exists; its directory must exist).
        array: the data; its dtype must be one of uint8, int8, int16, int32, float32, float64
            (the IDX element types). A 0-d array is written with no dimensions.
        compress: gzip the file (``True``), write it raw (``False``), or decide from the name
            (``None``: gzip when it ends in ``.gz``). The gzip header carries no time stamp, so
            the same array always gives the same bytes.

    Raises:
        TypeError: the dtype has no IDX type code.
        ValueError: the array has more than 255 dimensions or a dimension of 2**32 or more.
    """
    path = Path(path)
    values = np.asarray(array)
    dtype = values.dtype.newbyteorder("=")
    if dtype not in _CODE_OF_DTYPE:
        raise TypeError(
            f"cannot write dtype {values.dtype} as IDX; the IDX element types are "
            f"{_ALLOWED_DTYPES}. Convert first, e.g. array.astype(np.uint8)."
        )
    if values.ndim > 255 or any(n >= 2**32 for n in values.shape):
        raise ValueError(
            f"cannot write shape {values.shape} as IDX: at most 255 dimensions, each below "
            "2**32 (IDX stores the dimensions as one byte and uint32s)."
        )
    header = bytes([0, 0, _CODE_OF_DTYPE[dtype], values.ndim])
    header += np.asarray(values.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(values, dtype=dtype.newbyteorder(">")).tobytes()
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
