"""Post-training weight methods on a calibrated quantized model: GPTQ and accumulator bounds.

:func:`refine` takes a ``QuantizedMLP`` calibrated by post-training quantization (activation
scales and zero points learned from images) and recomputes every layer's integer weights with
:func:`mixprec.quant.weights.quantize_weights`:

* ``method="gptq"``: GPTQ with the Hessian ``2 X^T X / n`` of each layer's calibration inputs.
  Layers are quantized in order and each layer's inputs ``X`` come from the model quantized so
  far (the previous layers' quantized weights, and for integer schemes the fake-quantized
  activations), as the GPTQ authors' code runs it (the paper, section 4, "sequentially, block by
  block"), so a layer also compensates for the error of the layers before it.
* ``accumulator=P`` (integer schemes): the codes of every output channel are bounded so that
  no input code the serving path can produce makes a P-bit accumulator overflow
  (:mod:`mixprec.quant.a2q`). The integer path quantizes the image to ``[lo, hi]`` (int8:
  ``[-128, 127]``; int4: ``[-8, 7]``) and requantizes a hidden layer's output to
  ``[max(z, lo), hi]`` (the ReLU clamp at the zero point ``z``): those are the input ranges of
  the bound. The int32 biases are added after the
  MAC's sum in mixprec's integer path, so they are outside the bound.

The biases are requantized to the new weight scales (``round(b / (s_x s_w))``).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from mixprec.formats import INT8, Format, IntFormat
from mixprec.nn.model import MLP
from mixprec.quant.model import Learned, QuantizedMLP
from mixprec.quant.packing import pack_codes
from mixprec.quant.serving import code_range, quantize_input
from mixprec.quant.weights import METHODS, quantize_weights

__all__ = ["refine"]


def _input_range(q: QuantizedMLP, i: int) -> tuple[int, int]:
    lo, hi = code_range(q)
    if i == 0:
        return lo, hi
    return max(int(q.input_zero_points_[i]), lo), hi


def _layer_input(q: QuantizedMLP, i: int, h: np.ndarray) -> np.ndarray:
    """The float values layer ``i`` multiplies: fake-quantized for integer schemes."""
    if not q.scheme.is_integer:
        return h
    s, z = q.input_scales_[i], q.input_zero_points_[i]
    codes = quantize_input(h, s, z, *code_range(q)).astype(np.float32)
    return ((codes - np.float32(z)) * s).astype(np.float32)


def refine(
    q: QuantizedMLP,
    model: MLP,
    calibration: Any,
    method: str = "rtn",
    accumulator: int | None = None,
    bound: str = "a2q+",
    damp: float = 0.01,
    act_order: bool = False,
) -> QuantizedMLP:
    """Recompute the weights of a calibrated ``QuantizedMLP`` (in place; returns it).

    Args:
        q: calibrated on ``model`` (int8 per-channel schemes, or ``int4-weight-only``).
        model: the float model it was calibrated from.
        calibration: the calibration images ``(n, features)`` (or a ``Split``).
        method: ``"rtn"`` or ``"gptq"``.
        accumulator: bound the codes for a P-bit accumulator (integer schemes).
        bound: ``"a2q+"`` (default) or ``"a2q"``.
        damp, act_order: GPTQ's (see :func:`mixprec.quant.gptq.gptq`).

    Raises:
        ValueError: an unknown method, a per-tensor or float scheme, an accumulator bound on a
            weight-only scheme.
    """
    scheme = q.scheme
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(map(repr, METHODS))}")
    if not scheme.per_channel or not isinstance(scheme.weights, IntFormat):
        raise ValueError(
            f"GPTQ and accumulator bounds take integer per-channel (or group-wise) schemes, not "
            f"{scheme}; use int8-per-channel, int4-per-channel, int4-weight-only, "
            "int4-weight-only:group=128, ..."
        )
    if accumulator is not None and not scheme.is_integer:
        raise ValueError(
            f"an accumulator bound needs an integer-only scheme (int8-per-channel), not {scheme}"
        )
    images = np.asarray(getattr(calibration, "images", calibration), np.float32)
    fmt = cast(Format, scheme.weights)  # int8 or int4 (checked above)
    h = images
    weights, scales, biases = [], [], []
    for i in range(model.n_layers):
        x = _layer_input(q, i, h)
        result = quantize_weights(
            model.weights[i], fmt, method=method, inputs=x, accumulator=accumulator,
            input_range=_input_range(q, i) if scheme.is_integer else (-128, 127),
            bound=bound, damp=damp, act_order=act_order,
            scales=None if accumulator is not None else q.weight_scales_[i],
            group_size=scheme.group_size,
        )  # fmt: skip
        codes = result.codes
        weights.append(codes if fmt == INT8 else pack_codes(codes, fmt.bits))
        scales.append(result.scales)
        b = model.biases[i]
        if b is not None and scheme.is_integer:
            product = np.float64(q.input_scales_[i]) * result.scales.astype(np.float64)
            b = np.clip(np.rint(np.asarray(b, np.float64) / product), -(2**31), 2**31 - 1)
            b = b.astype(np.int32)
        elif b is not None:
            b = np.asarray(b, np.float32).copy()
        biases.append(b)
        h = x @ result.dequantize() + (0 if model.biases[i] is None else model.biases[i])
        if i < model.n_layers - 1:
            h = np.maximum(h, 0).astype(np.float32)
    q._install(Learned(
        q.sizes, q.output_bias, tuple(weights), tuple(scales), tuple(q.input_scales_),
        tuple(q.input_zero_points_), tuple(biases),
    ))  # fmt: skip
    q.metadata.update(method=method)
    if accumulator is not None:
        q.metadata.update(accumulator=f"int{accumulator}", bound=bound)
    return q
