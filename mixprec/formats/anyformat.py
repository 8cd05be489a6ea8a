"""The entry points that take element and block formats alike (``mixprec.get_format`` ...).

:func:`mixprec.formats.get_format`, :func:`~mixprec.formats.quantize` and the codec take element
formats (a :class:`Format`); these wrappers also accept a :class:`BlockFormat` or its name and
hand it to :mod:`mixprec.formats.blockquant`. The package root exports these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixprec.formats import codec, registry
from mixprec.formats.block import (
    BLOCK_FORMATS,
    BlockFormat,
    get_block_format,
    is_block_format_name,
)
from mixprec.formats.blockpack import BlockStorage, to_storage_blocks
from mixprec.formats.blockquant import decode_blocks, encode_blocks, quantize_blocks
from mixprec.formats.quantize import quantize as element_quantize
from mixprec.formats.quantize import to_storage as element_to_storage
from mixprec.formats.spec import Format, Overflow, Rounding

AnyFormat = Format | BlockFormat


def _block(fmt: object) -> BlockFormat | None:
    if isinstance(fmt, BlockFormat):
        return fmt
    if isinstance(fmt, str) and is_block_format_name(fmt):
        return get_block_format(fmt)
    return None


def _no_random_bits(random_bits: object) -> None:
    if random_bits is not None:
        raise ValueError(
            "random_bits (N-bit stochastic rounding) is for element formats; block formats "
            "round their elements stochastically with full-precision random bits"
        )


def get_format(fmt: AnyFormat | str) -> AnyFormat:
    """:func:`mixprec.formats.get_format`, and block formats (``"mxfp4"``, ``"nvfp4:rceil"``).

    >>> get_format("mxfp4").bits_per_element, get_format("e4m3").max
    (4.25, 448.0)
    """
    block = _block(fmt)
    return block if block is not None else registry.get_format(fmt)  # type: ignore[arg-type]


def list_formats(blocks: bool = False) -> list[AnyFormat]:
    """The registered element formats; with ``blocks=True`` the block formats after them.

    (Element formats only by default: code that iterates the registry reads ``.bits``,
    ``.is_integer`` ... of element formats.)

    >>> [f.name for f in list_formats(blocks=True)][-2:]
    ['mxint8', 'nvfp4']
    """
    if blocks:
        return [*registry.list_formats(), *BLOCK_FORMATS.values()]
    return list(registry.list_formats())


def quantize(
    x: object,
    fmt: AnyFormat | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | int | None = None,
    random_bits: int | None = None,
    axis: int = -1,
    tensor_scale: float | None = None,
) -> np.ndarray:
    """:func:`mixprec.formats.quantize`; for a block format, blocks run along ``axis``
    (:func:`mixprec.formats.blockquant.quantize_blocks`)."""
    block = _block(fmt)
    if block is not None:
        _no_random_bits(random_bits)
        return quantize_blocks(x, block, rounding, overflow, rng, axis, tensor_scale)
    return element_quantize(x, fmt, rounding, overflow, rng, random_bits)  # type: ignore[arg-type]


def encode(
    x: object,
    fmt: AnyFormat | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | int | None = None,
    random_bits: int | None = None,
    axis: int = -1,
    tensor_scale: float | None = None,
) -> np.ndarray | tuple[Any, ...]:
    """:func:`mixprec.formats.encode`; a block format gives ``(codes, scales[, tensor_scale])``."""
    block = _block(fmt)
    if block is not None:
        _no_random_bits(random_bits)
        return encode_blocks(x, block, rounding, overflow, rng, axis, tensor_scale)
    return codec.encode(x, fmt, rounding, overflow, rng, random_bits)  # type: ignore[arg-type]


def decode(
    codes: object, fmt: AnyFormat | str, dtype: type | None = None, axis: int = -1
) -> np.ndarray:
    """:func:`mixprec.formats.decode`; a block format takes ``(codes, scales[, tensor_scale])``."""
    block = _block(fmt)
    if block is not None:
        return decode_blocks(codes, block, axis, dtype)  # type: ignore[arg-type]
    return codec.decode(codes, fmt, dtype)  # type: ignore[arg-type]


def to_storage(
    x: object,
    fmt: AnyFormat | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | int | None = None,
    random_bits: int | None = None,
    axis: int = -1,
) -> np.ndarray | BlockStorage:
    """:func:`mixprec.formats.to_storage`; a block format gives a :class:`BlockStorage` with the
    element codes packed (two fp4 codes per byte, four fp6 codes per three bytes)."""
    block = _block(fmt)
    if block is not None:
        _no_random_bits(random_bits)
        return to_storage_blocks(x, block, rounding, overflow, rng, axis)
    return element_to_storage(x, fmt, rounding, overflow, rng, random_bits)  # type: ignore[arg-type]
