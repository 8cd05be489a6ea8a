"""The integer-only constants of a quantized layer, derived once from the learned scales.

Per layer (Jacob et al. 2018, sections 2.2-2.4): the int8 weights, the int32 bias with the input
zero point folded in (``q_b - z_x * sum_k q_w[k, :]``), the fixed-point multiplier ``(M0,
shift)`` of ``M = s_x * s_w / s_y`` (:func:`mixprec.quant.requant.quantize_multiplier`) and its
float32 value (for ``requantization="float"``), the next layer's zero point, and for the last
layer the float32 ``s_x * s_w`` that dequantizes its accumulator, and the clamp of the
requantized codes: ``max(z_y, lo) .. hi`` of the activation format (ReLU fused; int8
``-128..127``, int4 ``-8..7``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mixprec.quant.requant import quantize_multiplier

__all__ = ["IntegerLayer", "integer_layers"]


@dataclass(frozen=True)
class IntegerLayer:
    """The integer-only constants of one layer, derived from the learned scales."""

    weights: np.ndarray  # int8 (in, out)
    bias: np.ndarray  # int64 (out,): q_b - z_x * colsum(q_w)
    m0: np.ndarray  # int64 (out,) fixed-point multipliers (hidden layers)
    shift: np.ndarray  # int64 (out,)
    multiplier: np.ndarray  # float32 (out,): M for requantization="float"
    out_zero_point: int  # the next layer's input zero point
    out_scale: np.ndarray  # float32 (out,): s_x * s_w, dequantizes the last layer
    lo: int = -128  # the requantized codes' clamp: max(out_zero_point, format min) ..
    hi: int = 127  # .. the activation format's max


def integer_layers(
    weights: Sequence[np.ndarray],
    weight_scales: Sequence[np.ndarray],
    input_scales: Sequence[np.ndarray],
    input_zero_points: Sequence[np.ndarray],
    biases: Sequence[np.ndarray | None],
    code_range: tuple[int, int] = (-128, 127),
) -> list[IntegerLayer]:
    """The integer-path constants of every layer of an integer model's learned arrays
    (``weights`` unpacked int8 codes; ``code_range`` the activation format's codes)."""
    layers = []
    n_layers = len(weights)
    for i in range(n_layers):
        w = weights[i]
        out = w.shape[1]
        s_x, z_x = input_scales[i], int(input_zero_points[i])
        s_w = np.broadcast_to(weight_scales[i], (out,))
        b = biases[i]
        bias = np.zeros(out, np.int64) if b is None else b.astype(np.int64)
        bias = bias - z_x * w.astype(np.int64).sum(axis=0)
        m0 = np.zeros(out, np.int64)
        shift = np.zeros(out, np.int64)
        multiplier = np.zeros(out, np.float32)
        z_y = 0
        if i < n_layers - 1:
            s_y, z_y = np.float64(input_scales[i + 1]), int(input_zero_points[i + 1])
            real = np.float64(s_x) * s_w.astype(np.float64) / s_y
            for j, m in enumerate(real):
                m0[j], shift[j] = quantize_multiplier(float(m))
            multiplier = real.astype(np.float32)
        out_scale = (np.float32(s_x) * s_w.astype(np.float32)).astype(np.float32)
        lo, hi = max(z_y, code_range[0]), code_range[1]
        layers.append(IntegerLayer(w, bias, m0, shift, multiplier, z_y, out_scale, lo, hi))
    return layers
