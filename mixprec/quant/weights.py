"""Weight codes of one layer: round to nearest or GPTQ, per channel or per group, within an
accumulator budget or not.

:func:`quantize_weights` is the one entry post-training quantization calls for each layer; it
combines :mod:`mixprec.quant.groupwise` (scales per group of ``group_size`` inputs),
:mod:`mixprec.quant.gptq` (``method="gptq"``, with the Hessian of the layer's calibration
inputs) and :mod:`mixprec.quant.a2q` (``accumulator=P``: each output channel's codes bounded so
that no input in ``input_range`` makes a P-bit accumulator overflow).

With both GPTQ and an accumulator, the scales are the accumulator-aware ones that
:func:`mixprec.quant.a2q.a2q_quantize` chooses, and GPTQ rounds onto a grid that keeps a running
account of each channel's budget (per sign for ``"a2q+"``): a row's code is clipped toward zero
to what is left, so the bound holds by construction and GPTQ's error feedback moves what a
clipped code lost onto the rows still to come.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mixprec.formats import INT8, Format, IntFormat, get_format, to_storage
from mixprec.quant import a2q, gptq, groupwise
from mixprec.quant.packing import pack_codes

__all__ = ["METHODS", "QuantizedWeights", "compact_codes", "quantize_weights"]

METHODS = ("rtn", "gptq")


@dataclass(frozen=True)
class QuantizedWeights:
    """One layer's integer weights.

    Attributes:
        codes: int8 ``(in, out)`` on ``-q_max .. q_max``.
        scales: float32 ``(out,)`` per channel, or ``(groups, out)`` with ``group_size``.
        group_size: rows per group, or ``None`` (per channel).
    """

    codes: np.ndarray
    scales: np.ndarray
    group_size: int | None = None

    def dequantize(self) -> np.ndarray:
        """float32 ``(in, out)`` weights ``s * q``."""
        if self.group_size is None:
            return (self.codes.astype(np.float32) * self.scales).astype(np.float32)
        return groupwise.dequantize_groupwise(self.codes, self.scales, self.group_size)


def _budget_grid(scales: np.ndarray, q_max: int, limit: int, bound: str) -> gptq.Grid:
    """A rounding grid that never lets a channel spend more than ``limit`` (see module doc)."""
    s = np.asarray(scales, np.float64)
    spent_pos = np.zeros(s.shape, np.int64)
    spent_neg = np.zeros(s.shape, np.int64)

    def grid(values: np.ndarray, k: int) -> np.ndarray:
        q = np.clip(np.rint(values / s), -q_max, q_max).astype(np.int64)
        if bound == "a2q":
            room_pos = room_neg = limit - spent_pos - spent_neg
        else:
            room_pos, room_neg = limit - spent_pos, limit - spent_neg
        q = np.clip(q, -room_neg, room_pos)
        spent_pos[...] += np.maximum(q, 0)
        spent_neg[...] += np.maximum(-q, 0)
        return s * q

    return grid


def _check_fmt(fmt: Format | str) -> IntFormat:
    f = get_format(fmt)
    if not isinstance(f, IntFormat) or f.frac_bits != 0 or f.max > 127:
        raise ValueError(f"integer weight codes need int2..int8, got {f.name}")
    return f


def quantize_weights(
    w: np.ndarray,
    fmt: Format | str,
    *,
    method: str = "rtn",
    scales: np.ndarray | None = None,
    group_size: int | None = None,
    inputs: np.ndarray | None = None,
    accumulator: int | None = None,
    input_range: tuple[int, int] = (-128, 127),
    bound: str = "a2q+",
    damp: float = 0.01,
    act_order: bool = False,
) -> QuantizedWeights:
    """Integer codes and scales of one layer's weights ``w`` (``(in, out)``).

    Args:
        w: float weights ``(in, out)`` of ``y = x @ w``.
        fmt: the integer format (``"int8"``, ``"int4"``, ``"int3"``, ``"int2"``).
        method: ``"rtn"`` (round to nearest) or ``"gptq"`` (needs ``inputs``).
        scales: per-channel scales ``(out,)`` (e.g. from a weight observer); default
            ``max |w| / q_max`` per channel. Ignored with ``group_size`` or ``accumulator``.
        group_size: one scale per group of this many input rows and per channel.
        inputs: the layer's calibration inputs ``(n, in)`` (GPTQ's Hessian).
        accumulator: bound the codes for a signed accumulator of this many bits.
        input_range: the integer range of the layer's input codes (with ``accumulator``).
        bound: ``"a2q+"`` or ``"a2q"`` (see :mod:`mixprec.quant.a2q`).
        damp, act_order: GPTQ's damping and column order (see :func:`mixprec.quant.gptq.gptq`).

    Returns:
        A :class:`QuantizedWeights`.

    Raises:
        ValueError: an unknown method, GPTQ without inputs, group-wise scales together with an
            accumulator bound, or a format beyond int8.
    """
    f = _check_fmt(fmt)
    q_max = int(f.max)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(map(repr, METHODS))}")
    if accumulator is not None and group_size is not None:
        raise ValueError(
            "an accumulator bound is per output channel; use per-channel scales (no group_size)"
        )
    w = np.asarray(w, np.float32)
    lo, hi = input_range
    h = None if inputs is None else gptq.hessian(inputs)

    def run_gptq(grid: gptq.Grid) -> np.ndarray:
        if h is None:
            raise ValueError("method='gptq' needs the layer's calibration inputs (inputs=...)")
        return gptq.gptq(w, h, grid, damp=damp, act_order=act_order)

    if accumulator is not None:
        limit = a2q.budget(accumulator, lo, hi, bound)
        if method == "rtn":
            codes, scale = a2q.a2q_quantize(w, f, accumulator, lo, hi, bound)
        else:
            _, scale = a2q.a2q_quantize(w, f, accumulator, lo, hi, bound)  # its scales
            grid = _budget_grid(scale, q_max, limit, bound)
            values = run_gptq(grid)
            codes = np.rint(values / scale.astype(np.float64))
        return QuantizedWeights(codes.astype(np.int8), scale)
    if group_size is not None:
        scale = groupwise.group_scales(w, f, group_size)
        per_row = groupwise.expand_groups(scale, w.shape[0], group_size)
    else:
        if scales is None:
            amax = np.abs(w).max(axis=0, initial=0) / np.float32(q_max)
            scales = np.where(amax > 0, amax, 1).astype(np.float32)
        scale = np.asarray(scales, np.float32)
        per_row = np.broadcast_to(scale, w.shape)
    if method == "rtn":
        codes = np.clip(np.rint(w / per_row), -q_max, q_max)
    else:
        grid = gptq.rtn_grid(per_row, f)
        values = run_gptq(grid)
        codes = np.rint(values / per_row.astype(np.float64))
    return QuantizedWeights(codes.astype(np.int8), scale, group_size)


def compact_codes(
    w: np.ndarray, scale: np.ndarray, fmt: Format, group_size: int | None = None
) -> np.ndarray:
    """The compact weights of ``w / scale`` in ``fmt`` (symmetric: int codes on -qmax..qmax;
    group-wise ``scale`` of :mod:`mixprec.quant.groupwise` with ``group_size``)."""
    if group_size is not None:
        scale = groupwise.expand_groups(scale, w.shape[0], group_size)
    scaled = np.asarray(w, np.float32) / np.asarray(scale, np.float32)
    if isinstance(fmt, IntFormat):
        codes = np.clip(np.rint(scaled), -fmt.max, fmt.max)
        return codes.astype(np.int8) if fmt == INT8 else pack_codes(codes, fmt.bits)
    return to_storage(scaled, fmt, overflow="saturate")
