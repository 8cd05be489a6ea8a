"""Block shapes and scales: the blocks along an axis, and each scale rule, exactly.

Blocks run along one axis: the axis moves last, a length the block size does not divide is
padded with zeros (``padding="zero"``: zeros leave a block's amax unchanged, so this equals a
short last block) or refused (``padding="error"``), and the array is viewed as rows of
``block_size`` elements.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from mixprec.formats.block import BlockFormat, BlockSpecials, Padding, ScaleOverflow, ScaleRule


def to_blocks(
    values: np.ndarray, fmt: BlockFormat, axis: int
) -> tuple[np.ndarray, tuple[Any, ...]]:
    """Rows of ``fmt.block_size`` elements along ``axis``, and what :func:`from_blocks` needs.

    Raises:
        ValueError: ``axis`` out of range (or a 0-d input), or ``padding="error"`` and a length
            the block size does not divide.
    """
    if values.ndim == 0:
        raise ValueError(
            f"{fmt} scales blocks along an axis; a scalar has none: pass an array such as "
            "np.atleast_1d(x)"
        )
    if not -values.ndim <= axis < values.ndim:
        raise ValueError(f"axis {axis} is out of range for an array of {values.ndim} dimensions")
    axis %= values.ndim
    moved = np.moveaxis(values, axis, -1)
    n, k = moved.shape[-1], fmt.block_size
    blocks = -(-n // k)
    if n % k:
        if fmt.padding is Padding.ERROR:
            raise ValueError(
                f"{fmt} with padding='error' needs the length along axis {axis} ({n}) to be a "
                f"multiple of {k}; pad the input or use the default padding='zero'"
            )
        moved = np.concatenate(
            [moved, np.zeros(moved.shape[:-1] + (blocks * k - n,), moved.dtype)], axis=-1
        )
    rows = np.ascontiguousarray(moved).reshape(-1, k)
    return rows, (moved.shape[:-1], n, axis, blocks)


def from_blocks(rows: np.ndarray, layout: tuple[Any, ...]) -> np.ndarray:
    """Undo :func:`to_blocks` on per-element rows (same number of rows)."""
    lead, n, axis, blocks = layout
    moved = rows.reshape(lead + (blocks * rows.shape[-1],))[..., :n]
    return np.moveaxis(moved, -1, axis)


def scales_from_rows(per_block: np.ndarray, layout: tuple[Any, ...]) -> np.ndarray:
    """Per-block values (one per row) shaped as the input with ``axis`` counting blocks."""
    lead, _, axis, blocks = layout
    return np.moveaxis(per_block.reshape(lead + (blocks,)), -1, axis)


def rows_from_scales(scales: np.ndarray, layout: tuple[Any, ...]) -> np.ndarray:
    """Inverse of :func:`scales_from_rows`: one value per row."""
    _, _, axis, _ = layout
    return np.ascontiguousarray(np.moveaxis(scales, axis, -1)).reshape(-1)


def block_amax(rows: np.ndarray, fmt: BlockFormat) -> tuple[np.ndarray, np.ndarray]:
    """Each block's largest magnitude (float64), and which blocks get the NaN scale.

    With ``specials="block"`` (microxcaling) a NaN or inf makes the block's scale NaN; with
    ``"element"`` the amax is over the finite elements and no block is NaN.
    """
    magnitude = np.abs(rows).astype(np.float64, copy=False)
    finite = np.isfinite(magnitude)
    if fmt.specials is BlockSpecials.BLOCK:
        special = ~finite.all(axis=1)
    else:
        special = np.zeros(rows.shape[0], bool)
    amax = np.where(finite, magnitude, 0.0).max(axis=1, initial=0.0)
    return amax, special


def pow2_exponents(
    amax: np.ndarray, special: np.ndarray, fmt: BlockFormat
) -> tuple[np.ndarray, np.ndarray]:
    """The power-of-two scale exponent of each block, and which blocks get the NaN scale.

    OCP MX v1.0 §6.3 and the rules of :mod:`mixprec.formats.block`, computed exactly from the
    float64 ``amax`` (``frexp`` gives ``amax = m * 2**E``, ``m`` in [0.5, 1)):

    * floor: ``floor(log2 amax) = E - 1``, minus ``emax_elem``;
    * ceil: ``E - 1``, plus 1 unless ``m == 0.5`` (amax a power of two), minus ``emax_elem``;
    * even: ``m`` rounded half-up to ``p`` bits (``floor(m * 2**p + 1/2)``, exact) may carry
      to the next binade; then as floor;
    * rceil: ``ceil(log2(amax / max_elem)) = E - E_max + (m > m_max)``, exact (no division).

    Exponents below the scale format's smallest clamp up to it (an all-zero block too); above
    its largest they clamp (``scale_overflow="saturate"``) or give the NaN scale.

    Returns:
        (exponents, nan): the clamped exponents (0 where NaN) and the NaN-scale mask.
    """
    m, big_e = np.frexp(amax)
    big_e = big_e.astype(np.int64)
    rule = fmt.rule
    if rule is ScaleRule.FLOOR:
        e = big_e - 1 - fmt.element_emax
    elif rule is ScaleRule.CEIL:
        e = big_e - 1 + (m != 0.5) - fmt.element_emax
    elif rule is ScaleRule.EVEN:
        p = fmt.element_precision
        carry = np.floor(np.ldexp(m, p) + 0.5) >= 2.0**p
        e = big_e - 1 + carry - fmt.element_emax
    elif rule is ScaleRule.RCEIL:
        m_max, e_max = np.frexp(fmt.element.max)
        e = big_e - int(e_max) + (m > m_max)
    else:
        raise ValueError(f"scale rule {rule.value!r} is not a power-of-two rule")
    low, high = fmt.scale.emin, fmt.scale.emax
    e = np.where(amax > 0, e, low)
    nan = special.copy()
    if fmt.scale_overflow is ScaleOverflow.NAN:
        nan |= e > high
    e = np.clip(e, low, high)
    return np.where(nan, 0, e), nan


def round_fraction_to_float32(q: Fraction) -> float:
    """``q`` rounded to the nearest float32 (ties to even), exactly; inf past the range.

    ``float(q)`` is correctly rounded to float64; the float32 neighbours of that double are
    compared with ``q`` exactly, so no double rounding survives.
    """
    if q == 0:
        return 0.0
    near = np.float32(float(q)) if abs(q) < 2**128 else np.float32(np.inf * (1 if q > 0 else -1))
    if not np.isfinite(near):
        return float(near)
    best = near
    for other in (np.nextafter(near, np.float32(-np.inf)), np.nextafter(near, np.float32(np.inf))):
        if not np.isfinite(other):
            continue
        d_best, d_other = abs(Fraction(float(best)) - q), abs(Fraction(float(other)) - q)
        even = int(np.array(other).view(np.uint32)) % 2 == 0
        if d_other < d_best or (d_other == d_best and even):
            best = other
    return float(best)


def pow2_exponents_bits(
    a: np.ndarray, special: np.ndarray, fmt: BlockFormat
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`pow2_exponents` from float32 magnitude bit patterns ``a`` (uint32), in integer
    arithmetic; None when a block's amax is a float32 subnormal (then use the float64 one).

    A normal float32 ``amax = (1 + f / 2**23) * 2**(E - 127)`` with exponent field ``E`` and
    fraction field ``f``: floor is ``E - 127``; ceil adds ``f != 0``; even carries when
    ``f + 2**(23 - p) >= 2**23`` (``f`` rounded half-up to ``p - 1`` fraction bits overflows);
    rceil is ``E - E_max + (f > f_max)`` with the fields of ``max_elem`` (a float32 too).
    """
    exponent = (a >> np.uint32(23)).astype(np.int32)
    fraction = (a & np.uint32(0x7FFFFF)).astype(np.int32)
    zero = a == 0
    if np.any(a - np.uint32(1) < np.uint32(0x7FFFFF)):  # 0 < a < 2**-126: a subnormal amax
        return None
    rule = fmt.rule
    if rule is ScaleRule.FLOOR:
        e = exponent - (127 + fmt.element_emax)
    elif rule is ScaleRule.CEIL:
        e = exponent - (127 + fmt.element_emax) + (fraction != 0)
    elif rule is ScaleRule.EVEN:
        carry = fraction + (1 << (23 - fmt.element_precision)) >= (1 << 23)
        e = exponent - (127 + fmt.element_emax) + carry
    elif rule is ScaleRule.RCEIL:
        bits = int(np.float32(fmt.element.max).view(np.uint32))
        e = exponent - (bits >> 23) + (fraction > (bits & 0x7FFFFF))
    else:
        raise ValueError(f"scale rule {rule.value!r} is not a power-of-two rule")
    low, high = fmt.scale.emin, fmt.scale.emax
    e[zero] = low
    nan = special.copy()
    if fmt.scale_overflow is ScaleOverflow.NAN:
        nan |= e > high
    np.maximum(e, low, out=e)  # (np.clip's wrapper costs more than the work here)
    np.minimum(e, high, out=e)
    e[nan] = 0
    return e, nan
