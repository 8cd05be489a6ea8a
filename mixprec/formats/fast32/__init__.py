"""Fast exact rounding of float32 input to formats whose values are all float32.

:func:`float32_path` resolves once per (format, mode, overflow) which route rounds the flat
uint32 patterns of a float32 array, block by block (:mod:`.blocks`). Every route equals the
float64 reference (:func:`mixprec.formats.reference.round_float`) bit for bit, and is tested
against it on every float32 at and beside every midpoint (``tests/formats/test_quantize.py``):

* **magic constant** (:mod:`.magic`, proof in :func:`.magic.round_by_magic`): nearest-even
  rounding of *clean* blocks (no NaN, inf or overflow: :func:`.blocks.is_clean`) to formats with
  subnormals and 1 to 20 mantissa bits (fp16, fp8, fp6), in seven float32 passes.
* **ml_dtypes cast** (:mod:`.cast`): clean bf16 blocks by the library's own C++ cast.
* **table** (:mod:`.table`, proof in its docstring): formats with at most 6 mantissa bits
  (fp8, fp6, fp4), deterministic modes, by a 2**17-entry table; blocks that are not clean.
* **bits** (:mod:`.bits`, proof in its docstring): every other case of a signed format with
  ``emin >= -126``: integer arithmetic on the patterns, every mode (stochastic rounding with 32
  random bits per element); clean nearest-even blocks of formats with float32's exponent range
  (tf32) by :func:`.bits.clean_kernel`.

Formats none of them covers (unsigned, no zero, ``emin < -126``) take the reference path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from mixprec.formats.fast32 import bits, cast, magic, table
from mixprec.formats.fast32.bits import fits_float32
from mixprec.formats.fast32.blocks import Block, blockwise, is_clean, random_words
from mixprec.formats.spec import FloatFormat, Overflow, Rounding

Path = Callable[[np.ndarray, "np.random.Generator | None"], np.ndarray]

__all__ = ["Path", "fits_float32", "float32_path"]


@functools.lru_cache(maxsize=256)
def float32_path(fmt: FloatFormat, mode: Rounding, overflow: Overflow) -> Path | None:
    """The fast path for (format, mode, overflow), resolved once.

    Returns:
        ``round(u, rng)`` on flat uint32 float32 patterns, returning uint32 patterns (``rng``
        a Generator for stochastic rounding); None when no route applies.
    """
    via_table = table.applies(fmt, mode)
    if via_table:
        general = table.kernel(fmt, mode, overflow)
    elif bits.applies(fmt):
        general = bits.kernel(fmt, mode, overflow)
    else:
        return None
    block = _with_clean_route(fmt, mode, general, via_table)
    if mode is Rounding.STOCHASTIC:

        def stochastic(u: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
            if rng is None:
                raise ValueError("stochastic rounding needs rng=np.random.default_rng(seed)")
            return blockwise(block, u, random_words(rng, u.size))

        return stochastic
    return lambda u, rng: blockwise(block, u)


def _clean_route(fmt: FloatFormat, mode: Rounding, via_table: bool) -> Block | None:
    """The faster route for clean blocks, where one applies (nearest even only)."""
    if mode is not Rounding.NEAREST_EVEN or not fmt.has_subnormals:
        return None
    if via_table or fmt.emin > -126:
        constants = magic.magic_constants(fmt)
        return None if constants is None else functools.partial(magic.magic_block, magic=constants)
    # float32's exponent range (bf16, tf32): the discarded count is the same in every binade
    dtype = cast.library_dtype(fmt)
    return cast.cast_kernel(dtype) if dtype is not None else bits.clean_kernel(fmt.mantissa_bits)


def _with_clean_route(fmt: FloatFormat, mode: Rounding, general: Block, via_table: bool) -> Block:
    """``general``, with clean blocks (the usual case: scaled tensors) sent to the faster
    route: one check per block, two reductions."""
    clean = _clean_route(fmt, mode, via_table)
    if clean is None:
        return general
    limit = magic.clean_limit(fmt)

    def block(out: np.ndarray, b: np.ndarray, *extra: np.ndarray) -> None:
        if is_clean(b, limit):
            clean(out, b)
        else:
            general(out, b, *extra)

    return block
