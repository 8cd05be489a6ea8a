"""What calibration learns, or a model file holds: the compact arrays of a quantized MLP."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Learned"]


@dataclass(frozen=True)
class Learned:
    """What calibration learns (or a model file holds): the compact arrays, layer by layer.

    Attributes:
        sizes, output_bias: the structure of the float model.
        weights: int8 ``(in, out)``; fp8: the ml_dtypes float8 array; int4, int3, int2: packed
            uint8 (:func:`mixprec.quant.packing.pack_codes`); block schemes: uint8 element codes
            packed as ``BlockStorage`` packs them (:mod:`mixprec.quant.blockptq`).
        weight_scales: float32 ``()`` (per tensor), ``(out,)`` (per channel) or ``(groups,
            out)`` (group-wise); block schemes: uint8 scale codes ``(blocks, out)``.
        input_scales: float32 ``()`` per layer (empty: weight-only; MX: dynamic; NVFP4:
            the calibrated input tensor scale).
        input_zero_points: int8 ``()`` per layer (integer-only schemes; else empty).
        biases: int32 ``(out,)`` (integer-only schemes) or float32, or ``None``.
    """

    sizes: tuple[int, ...]
    output_bias: bool
    weights: tuple[np.ndarray, ...]
    weight_scales: tuple[np.ndarray, ...]
    input_scales: tuple[np.ndarray, ...]
    input_zero_points: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray | None, ...]
    weight_tensor_scales: tuple[np.ndarray, ...] = ()  # NVFP4: float32 () per layer
