"""Group-wise symmetric weight scales: one scale per output channel and group of inputs.

A weight matrix ``w`` of shape ``(in, out)`` (mixprec's layout: ``y = x @ w``) is cut along its
input (reduction) axis into groups of ``group_size`` consecutive rows; each (group, output
channel) gets its own scale ``s[g, j] = max_{k in g} |w[k, j]| / q_max`` and the codes
``round(w[k, j] / s[g, j])`` clipped to ``-q_max .. q_max`` (the narrow symmetric range, zero
point 0; as int4 weight-only schemes with a group size do, e.g. torchao's
``Int4WeightOnlyConfig(group_size)``). The last group is shorter when ``group_size`` does not
divide ``in`` (784 = 24 * 32 + 16). A group of zeros gets scale 1 (its codes are 0).

Scales are float32 (as stored). A dot product of a group-wise layer is exact in the groups'
integer partial sums, each multiplied by its scale: ``y[j] = sum_g s[g, j] * (x[g] @ q[g, j])``.

>>> w = np.array([[1.0, -2.0], [0.5, 4.0], [3.5, 1.0]], np.float32)
>>> group_scales(w, "int4", 2).tolist()
[[0.1428571492433548, 0.5714285969734192], [0.5, 0.1428571492433548]]
"""

from __future__ import annotations

import numpy as np

from mixprec.formats import Format, IntFormat, get_format

__all__ = [
    "dequantize_groupwise",
    "expand_groups",
    "group_scales",
    "n_groups",
    "quantize_groupwise",
]


def n_groups(rows: int, group_size: int) -> int:
    """The number of groups of ``group_size`` rows in ``rows`` (the last may be shorter).

    Raises:
        ValueError: ``group_size < 1``.
    """
    if int(group_size) != group_size or group_size < 1:
        raise ValueError(f"group_size must be an integer >= 1, got {group_size!r} (e.g. 32, 128)")
    return -(-rows // group_size)


def _int_format(fmt: Format | str) -> IntFormat:
    f = get_format(fmt)
    if not isinstance(f, IntFormat) or f.frac_bits != 0:
        raise ValueError(f"group-wise scales need an integer format (int2..int8), got {f.name}")
    return f


def group_scales(w: np.ndarray, fmt: Format | str, group_size: int) -> np.ndarray:
    """float32 ``(n_groups, out)`` scales ``max |w| / q_max`` of each group and channel.

    Raises:
        ValueError: ``w`` not 2-D or not finite, a non-integer format, or a bad group size.
    """
    f = _int_format(fmt)
    w = np.asarray(w, np.float32)
    if w.ndim != 2 or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be a finite (in, out) matrix, got shape {w.shape}")
    rows, cols = w.shape
    g = n_groups(rows, group_size)
    pad = np.zeros((g * group_size, cols), np.float32)
    pad[:rows] = np.abs(w)
    amax = pad.reshape(g, group_size, cols).max(axis=1)
    scale = (amax / np.float32(f.max)).astype(np.float32)
    tiny = np.finfo(np.float32).tiny
    return np.where(scale > 0, np.maximum(scale, tiny), np.float32(1)).astype(np.float32)


def expand_groups(scales: np.ndarray, rows: int, group_size: int) -> np.ndarray:
    """The ``(rows, out)`` scale of every weight: row ``k`` takes group ``k // group_size``.

    Raises:
        ValueError: ``scales`` has the wrong number of groups for ``rows``.
    """
    scales = np.asarray(scales)
    if scales.ndim != 2 or scales.shape[0] != n_groups(rows, group_size):
        raise ValueError(
            f"scales of shape {scales.shape} do not have {n_groups(rows, group_size)} groups "
            f"of {group_size} rows for {rows} rows"
        )
    return np.repeat(scales, group_size, axis=0)[:rows]


def quantize_groupwise(
    w: np.ndarray, scales: np.ndarray, fmt: Format | str, group_size: int
) -> np.ndarray:
    """int8 codes ``clip(rint(w / s), -q_max, q_max)`` of ``w`` on group-wise ``scales``."""
    f = _int_format(fmt)
    w = np.asarray(w, np.float32)
    s = expand_groups(scales, w.shape[0], group_size).astype(np.float32)
    return np.clip(np.rint(w / s), -f.max, f.max).astype(np.int8)


def dequantize_groupwise(codes: np.ndarray, scales: np.ndarray, group_size: int) -> np.ndarray:
    """float32 weights ``s * q`` of group-wise codes (the float32 product, rounded once)."""
    codes = np.asarray(codes)
    s = expand_groups(scales, codes.shape[0], group_size).astype(np.float32)
    return (codes.astype(np.float32) * s).astype(np.float32)
