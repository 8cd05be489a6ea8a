"""The cast route: clean bf16 blocks by ml_dtypes' own float32 -> bfloat16 cast.

ml_dtypes rounds float32 to bfloat16 to nearest even in C++, with float32's exponent range and
subnormals: the same rounding as :func:`mixprec.formats.reference.round_float` for mixprec's
bf16 on every finite input that does not overflow (tested bit for bit on every float32 at and
beside every midpoint, ``tests/formats/test_quantize.py``). It is used on blocks that
:func:`~mixprec.formats.fast32.blocks.is_clean` passes (no NaN, inf or overflow), where the two
cannot differ; other blocks take the bits route. Other formats with float32's exponent range
(tf32 ...) round clean blocks by :func:`mixprec.formats.fast32.bits.clean_kernel` instead.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from mixprec.formats.fast32.blocks import Block
from mixprec.formats.spec import FloatFormat


def library_dtype(fmt: FloatFormat) -> type | None:
    """The ml_dtypes type whose cast equals nearest-even rounding to ``fmt``, or None."""
    if (fmt.mantissa_bits, fmt.emin, fmt.emax) == (7, -126, 127) and fmt.has_subnormals:
        dtype: type = ml_dtypes.bfloat16
        return dtype
    return None


def cast_kernel(dtype: type) -> Block:
    """Round a clean block by the library cast to ``dtype`` and back."""

    def block(out: np.ndarray, b: np.ndarray) -> None:
        out.view(np.float32)[...] = b.view(np.float32).astype(dtype)

    return block
