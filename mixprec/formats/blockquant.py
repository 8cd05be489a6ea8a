"""Quantize, encode and decode block-scaled formats (OCP MX v1.0 §6.3; NVIDIA NVFP4).

MX (a power-of-two scale ``X = 2**e``): ``e`` follows the format's scale rule from the block's
amax (:func:`mixprec.formats.blockscale.pow2_exponents`); each element is
``P_i = round_elem(V_i / X)``, saturating at the element's max (§6.3: "normal values greater
than the max normal are clamped"), in any rounding mode; the value is ``X * P_i``.

NVFP4 (a float block scale, rule ``amax``): the tensor scale ``s_t = fp32(amax / (6 * 448))``
(rounded once, exactly; 1 for an all-zero tensor, ``2**-149`` where the quotient would round to
0), or 1 (``tensor_scale="none"``), or a given float32; the block scale
``s_b = max(e4m3_rne(amax_b / (6 * s_t)), scale_min)``; the element
``P_i = e2m1(clamp(V_i / (s_b * s_t), ±6))``, each quotient rounded once (a division, not a
multiplication by a reciprocal); the value is ``P_i * s_b * s_t``.

Exactness: dividing by ``X = 2**e`` is exact (float64 for the general path; float32 in the fast
path, which only serves modes where a float32 underflow below ``2**-126`` cannot change the
result, see :func:`mixprec.formats.blockfast.fast_applies`). NVFP4's quotients are computed in
float64 and then rounded to the element or scale format: for float32 inputs this equals rounding
the exact quotient,
because ``a / b`` with ``a`` of 24 and ``b`` of at most 28 significant bits is either equal to a
point ``c`` of at most 5 bits (a grid point or midpoint of E4M3/E2M1) or differs from it by at
least ``2**-33 * c``, far more than float64's rounding error ``2**-53``. For float64 inputs with
more than 24 significant bits the quotient is rounded to float64 first (documented limit).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from mixprec.formats.block import (
    BlockFormat,
    BlockSpecials,
    IntMin,
    TensorScale,
    get_block_format,
)
from mixprec.formats.blockfast import fast_applies, fast_kernel
from mixprec.formats.blocknv import amax_bits, magic64, nv_elements, round_nearest_even64
from mixprec.formats.blockscale import (
    block_amax,
    from_blocks,
    pow2_exponents,
    round_fraction_to_float32,
    rows_from_scales,
    scales_from_rows,
    to_blocks,
)
from mixprec.formats.codec import decode, encode
from mixprec.formats.fast32.blocks import blockwise
from mixprec.formats.quantize import _quantize_reference as quantize_reference
from mixprec.formats.quantize import as_float_array
from mixprec.formats.rounding import as_generator
from mixprec.formats.spec import (
    FloatFormat,
    Overflow,
    Rounding,
    as_overflow,
    as_rounding,
)


def _checked(
    fmt: BlockFormat | str, rounding: Rounding | str, overflow: Overflow | str, rng: object
) -> tuple[BlockFormat, Rounding, Overflow, np.random.Generator | None]:
    block = get_block_format(fmt)
    mode, policy = as_rounding(rounding), as_overflow(overflow)
    if policy not in (Overflow.SATURATE, Overflow.INF) or (
        policy is Overflow.INF and not isinstance(block.element, FloatFormat)
    ):
        raise ValueError(
            f"{block} elements take overflow='saturate' (OCP MX §6.3 clamps to the element's max)"
            f"{' or inf' if isinstance(block.element, FloatFormat) else ''}, got {policy.value!r}"
        )
    return block, mode, policy, as_generator(rng, mode)


def quantize_blocks(
    x: object,
    fmt: BlockFormat | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | int | None = None,
    axis: int = -1,
    tensor_scale: float | None = None,
) -> np.ndarray:
    """Round ``x`` to a block-scaled format, blocks along ``axis``: ``decode(encode(x))``.

    Args:
        x: an array (float16/32/64, integers, bool, ml_dtypes floats) of at least 1 dimension.
        fmt: a :class:`BlockFormat` or its name (``"mxfp4"``, ``"mxfp8_e4m3:rceil"``, ``"nvfp4"``).
        rounding: the elements' rounding mode (scales always follow their rule).
        overflow: elements ``saturate`` (default, the spec) or ``inf`` (float elements).
        rng: Generator or seed for stochastic rounding.
        axis: the axis along which blocks of ``fmt.block_size`` run (any axis).
        tensor_scale: NVFP4 only: a given fp32 tensor scale (calibrated static use).

    Returns:
        Same shape as ``x``: float32 for float32-exact inputs of MX formats (every result is a
        float32 then), else float64. NaN-scale blocks give NaN everywhere.

    Raises:
        ValueError: as :func:`to_blocks`, bad options, a tensor scale for an MX format.

    >>> quantize_blocks([[0.1, 1.0, 5.0, -7.0]], "mxfp4:padding=zero").tolist()
    [[0.0, 1.0, 4.0, -6.0]]
    """
    block, mode, policy, gen = _checked(fmt, rounding, overflow, rng)
    values = as_float_array(x)
    rows, layout = to_blocks(values, block, axis)
    if not block.is_power_of_two:
        out, _, _, nan = _nv_rows(rows, block, mode, policy, gen, tensor_scale, values=True)
        if nan.any():
            out[nan] = np.nan
        return from_blocks(out, layout)
    _no_tensor_scale(block, tensor_scale)
    if policy is Overflow.SATURATE and fast_applies(block, mode, rows):
        u = rows.reshape(-1).view(np.uint32)
        out = blockwise(fast_kernel(block, mode, policy), u).view(np.float32)
        return from_blocks(out.reshape(rows.shape), layout)
    elements, e, nan = _mx_rows(rows, block, mode, policy, gen)
    out = np.ldexp(elements, e[:, None])
    out[nan] = np.nan
    if rows.dtype == np.float32:
        out = out.astype(np.float32)
    return from_blocks(out, layout)


def block_terms(
    x: object, fmt: BlockFormat | str, axis: int = -1
) -> tuple[np.ndarray, np.ndarray, float]:
    """What a block MAC needs of float operands (nearest-even): the element values (float64,
    zero-padded to whole blocks along ``axis``), the block scale values (float64, NaN for the
    NaN scale; ``axis`` counting blocks) and the tensor scale (1.0 when none).

    MX float32 input takes the float32 kernel for the values; the exponents are recomputed from
    each block's amax (the same rule), and ``values / 2**e`` gives the elements exactly.
    """
    block = get_block_format(fmt)
    values = as_float_array(x)
    rows, layout = to_blocks(values, block, axis)
    mode, policy = Rounding.NEAREST_EVEN, Overflow.SATURATE
    lead, _, moved_axis, blocks = layout
    padded = (*lead, blocks * block.block_size)
    if not block.is_power_of_two:
        elements, s_b, s_t, nan = _nv_rows(rows, block, mode, policy, None, None)
        s_b = np.where(nan, np.nan, s_b)
        t = float(s_t[0]) if s_t.size else 1.0
    elif fast_applies(block, mode, rows):
        u = rows.reshape(-1).view(np.uint32)
        out = blockwise(fast_kernel(block, mode, policy), u).view(np.float32)
        amax, special = amax_bits(rows)  # = block_amax for float32 with specials="block"
        e, nan = pow2_exponents(amax, special, block)
        # P * X times 2**-e (a normal float64 for |e| <= 127) is P: exact, as ldexp, 5x faster
        elements = out.reshape(rows.shape).astype(np.float64)
        elements *= np.ldexp(1.0, -e)[:, None]
        s_b, t = np.where(nan, np.nan, np.ldexp(1.0, e)), 1.0
    else:
        elements, e, nan = _mx_rows(rows, block, mode, policy, None)
        s_b, t = np.where(nan, np.nan, np.ldexp(1.0, e)), 1.0
    elements[nan] = 0.0
    element_array = np.moveaxis(elements.reshape(padded), -1, moved_axis)
    return element_array, scales_from_rows(s_b, layout), t


def _no_tensor_scale(block: BlockFormat, tensor_scale: object) -> None:
    if tensor_scale is not None:
        raise ValueError(f"{block} has a power-of-two block scale and no tensor scale")


def _mx_rows(
    rows: np.ndarray,
    block: BlockFormat,
    mode: Rounding,
    policy: Overflow,
    rng: np.random.Generator | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The general MX path: element values (float64), scale exponents, NaN-scale mask."""
    amax, special = block_amax(rows, block)
    e, nan = pow2_exponents(amax, special, block)
    with np.errstate(invalid="ignore"):
        scaled = np.ldexp(rows.astype(np.float64), -e[:, None])
    scaled[nan] = 0.0
    elements = quantize_reference(scaled, block.element, mode, policy, rng)
    if block.int_min is IntMin.SYMMETRIC and block.element.is_integer:
        np.maximum(elements, -block.element.max, out=elements)
    return elements, e, nan


def tensor_scale_of(x: object, fmt: BlockFormat | str) -> float:
    """NVFP4's tensor scale of ``x``: ``fp32(amax / (max_elem * max_scale))``, rounded once.

    The amax is over the finite values (NaN and inf blocks are NaN blocks). An all-zero tensor
    gets 1.0; a quotient that would round to 0 gets the smallest float32, ``2**-149``.
    """
    block = get_block_format(fmt)
    magnitude = np.abs(as_float_array(x)).astype(np.float64)
    finite = magnitude[np.isfinite(magnitude)]
    return _tensor_scale_of_amax(float(finite.max()) if finite.size else 0.0, block)


def _tensor_scale_of_amax(amax: float, block: BlockFormat) -> float:
    """:func:`tensor_scale_of` from the tensor's largest finite magnitude."""
    if amax == 0.0:
        return 1.0
    quotient = Fraction(amax) / (Fraction(block.element.max) * Fraction(block.scale.max))
    return max(round_fraction_to_float32(quotient), 2.0**-149)


def _nv_rows(
    rows: np.ndarray,
    block: BlockFormat,
    mode: Rounding,
    policy: Overflow,
    rng: np.random.Generator | None,
    tensor_scale: float | None,
    values: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """NVFP4: element values (times ``s_b * s_t`` when ``values``), block scales, the tensor
    scale (per row), NaN mask (float64)."""
    if tensor_scale is not None:
        s_t = float(tensor_scale)
        if not (np.isfinite(s_t) and s_t > 0 and float(np.float32(s_t)) == s_t):
            raise ValueError(
                f"tensor_scale must be a positive finite float32, got {tensor_scale!r}; use "
                "mixprec.formats.tensor_scale_of(x, fmt) to compute one"
            )
    if rows.dtype == np.float32 and block.specials is BlockSpecials.BLOCK:
        amax, nan = amax_bits(rows)
    else:
        amax, nan = block_amax(rows, block)
    if tensor_scale is None and block.tensor_scale is TensorScale.AMAX:
        # the tensor's finite amax is the largest block amax (each over its finite values)
        s_t = _tensor_scale_of_amax(float(amax.max(initial=0.0)), block)
    elif tensor_scale is None:
        s_t = 1.0
    elem, scale = block.element, block.scale
    # 6 * s_t is exact in float64 (26 bits); the quotient is rounded once (module docstring).
    wanted = amax / (elem.max * s_t)
    scale_magic = magic64(scale, Rounding.NEAREST_EVEN)
    if scale_magic is not None:  # nearest-even with saturation = clip to max, then round
        s_b = round_nearest_even64(np.minimum(wanted, scale.max), scale_magic)
    else:
        s_b = quantize_reference(wanted, scale, Rounding.NEAREST_EVEN, Overflow.SATURATE)
    low = scale.smallest_subnormal if block.scale_min.value == "subnormal" else scale.min_normal
    s_b = np.maximum(s_b, low)
    divisor = s_b * s_t  # exact: 4 + 24 significant bits
    magic = magic64(elem, mode)
    if magic is not None and (block.specials is BlockSpecials.BLOCK or not np.isnan(rows).any()):
        # the same quotients, rounded by the magic constant (exact: its docstring)
        clean = np.where(nan[:, None], 0.0, rows) if nan.any() else rows
        factor = s_b * s_t if values else None
        elements = nv_elements(clean, divisor, elem.max, magic, factor)
        return elements, s_b, np.full(rows.shape[0], s_t), nan
    with np.errstate(invalid="ignore"):
        quotient = np.clip(rows.astype(np.float64) / divisor[:, None], -elem.max, elem.max)
    quotient[nan] = 0.0
    elements = quantize_reference(quotient, elem, mode, policy, rng)
    if values:
        elements *= (s_b * s_t)[:, None]
    return elements, s_b, np.full(rows.shape[0], s_t), nan


def encode_blocks(
    x: object,
    fmt: BlockFormat | str,
    rounding: Rounding | str = "nearest_even",
    overflow: Overflow | str = "saturate",
    rng: np.random.Generator | int | None = None,
    axis: int = -1,
    tensor_scale: float | None = None,
) -> tuple[Any, ...]:
    """Element codes and scale codes of ``x`` in a block format (arguments as quantize_blocks).

    Returns:
        ``(codes, scales)`` for MX: element codes shaped as ``x`` (the element format's codes,
        see :func:`mixprec.encode`; 0 in NaN-scale blocks) and uint8 scale codes shaped as
        ``x`` with ``axis`` counting blocks (E8M0: ``e + 127``; 255 is NaN). NVFP4 with a
        tensor scale: ``(codes, scales, tensor_scale)``, scales in E4M3 codes (0x7F is NaN),
        the tensor scale a float32 scalar.

    >>> codes, scales = encode_blocks([1.0, -6.0, 0.5, 3.0], "mxfp4")
    >>> codes.tolist(), scales.tolist()
    ([2, 15, 1, 5], [127])
    """
    block, mode, policy, gen = _checked(fmt, rounding, overflow, rng)
    rows, layout = to_blocks(as_float_array(x), block, axis)
    if block.is_power_of_two:
        _no_tensor_scale(block, tensor_scale)
        elements, e, nan = _mx_rows(rows, block, mode, policy, gen)
        scale_codes = np.where(nan, 255, e + block.scale.bias).astype(np.uint8)
    else:
        elements, s_b, s_t, nan = _nv_rows(rows, block, mode, policy, gen, tensor_scale)
        scale_codes = encode(np.where(nan, np.nan, s_b), block.scale).astype(np.uint8)
    elements[nan] = 0.0
    codes = from_blocks(encode(elements, block.element), layout)
    scales = scales_from_rows(scale_codes, layout)
    if block.tensor_scale is TensorScale.AMAX or tensor_scale is not None:
        return codes, scales, np.float32(s_t[0] if s_t.size else 1.0)
    return codes, scales


def decode_blocks(
    encoded: tuple[Any, ...], fmt: BlockFormat | str, axis: int = -1, dtype: type | None = None
) -> np.ndarray:
    """The values of ``(codes, scales[, tensor_scale])`` from :func:`encode_blocks`.

    Args:
        encoded: the tuple; codes shaped as the values, scales with ``axis`` counting blocks.
        fmt: the block format.
        axis: the block axis used to encode.
        dtype: float64 (default: every MX and NVFP4 value is a float64) or float32.

    Raises:
        ValueError: scales whose shape does not match the codes, a bad code.
    """
    block = get_block_format(fmt)
    if not isinstance(encoded, tuple) or len(encoded) not in (2, 3):
        raise ValueError(
            f"decode of {block} takes (codes, scales) or (codes, scales, tensor_scale), got "
            f"{type(encoded).__name__}"
        )
    codes, scales = np.asarray(encoded[0]), np.asarray(encoded[1])
    s_t = float(encoded[2]) if len(encoded) == 3 else 1.0
    elements = decode(codes, block.element, dtype=np.float64)
    rows, layout = to_blocks(elements, block, axis)
    expected = scales_from_rows(np.zeros(rows.shape[0]), layout).shape
    if scales.shape != expected:
        raise ValueError(
            f"scales of shape {scales.shape} do not match codes of shape {codes.shape} with "
            f"blocks of {block.block_size} along axis {axis}: expected {expected}"
        )
    scale_values = decode(rows_from_scales(scales, layout), block.scale, dtype=np.float64)
    out = rows * (scale_values * s_t)[:, None]
    return from_blocks(out, layout).astype(dtype or np.float64)
