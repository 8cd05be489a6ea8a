"""Block-scaled post-training quantization (OCP MX v1.0, NVIDIA NVFP4): calibrate, store, serve.

The schemes ``mxfp8``, ``mxfp4``, ``nvfp4`` and their ``-weight-only`` variants
(:mod:`mixprec.quant.schemes`). Each block runs along K, the reduction axis of its matmul:

* **weights** ``(in, out)``: ``mp.to_storage(w, fmt, axis=0)``, once, at calibration (static):
  the :class:`~mixprec.formats.BlockStorage` of ``mp.encode(w, fmt, axis=0)``: the element codes
  packed in C order, LSB first (two fp4 codes per byte), one scale code (a byte) per block of
  each output channel, and for NVFP4 the weight's fp32 tensor scale: the bytes
  :func:`mixprec.nn.cost.cost` counts;
* **activations** ``(n, in)``: ``mp.encode(h, fmt, axis=1)`` at every forward pass. The MX
  block scales are dynamic by nature: each comes from its own block of one sample's features, so
  a sample's logits do not depend on the other samples of its batch. NVFP4's tensor scale is
  **calibrated** (static): ``tensor_scale_of`` of the layer's input over the calibration images
  (run through the float model, as for every scheme), stored, and given to ``mp.encode(...,
  tensor_scale=)``; a per-batch tensor scale would make each sample's logits depend on its batch.
  Inputs beyond the calibrated amax saturate (the E4M3 block scale at 448, the element at 6).

Serving (``path="fake_quant"``, the only path of block schemes): with block activations, each
layer's encoded input and encoded weights go to the exact block MAC
(:class:`mixprec.mac.blockscaled.BlockMAC`, ``<fmt>->fp32`` by default: each block dot exact, one
rounding per block into fp32), whose float32 result gets the fp32 bias and ReLU. For the MX
schemes this is bit for bit what the policy preset of the same format serves (the preset's MAC
quantizes the same operands the same way; tested). Weight-only: the float32 input times the
decoded weights: MX values are float32 numbers (exact), so float32 BLAS, as a policy with block
weights and float32 activations serves; NVFP4 values need up to 30 significant bits (an E4M3
scale times an fp32 tensor scale times an E2M1 element) and stay float64: float64 BLAS, the
bias added in float64, the result rounded to float32 (as such a policy serves NVFP4 weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mixprec._util.names import canonical
from mixprec.formats import BlockFormat, decode_blocks, encode_blocks, tensor_scale_of
from mixprec.formats.block import TensorScale
from mixprec.formats.blockpack import to_storage_blocks, unpack_codes
from mixprec.mac import MAC
from mixprec.nn import MLP, Events
from mixprec.quant.learned import Learned
from mixprec.quant.schemes import Scheme

__all__ = [
    "BlockLayers", "block_forward", "block_learned", "calibrate_blocks", "decoded_weights",
    "weight_operands",
]  # fmt: skip

#: Per layer: packed codes, scale codes, weight tensor scales (NVFP4), input tensor scales.
BlockLayers = tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[np.ndarray]]


def _has_tensor_scale(block: BlockFormat) -> bool:
    return block.tensor_scale is TensorScale.AMAX


def calibrate_blocks(
    block: BlockFormat,
    quantize_activations: bool,
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray | None],
    images: np.ndarray,
) -> BlockLayers:
    """The learned arrays of a block scheme (module docstring).

    Args:
        block: the weights' (and activations') block format.
        quantize_activations: the scheme has block activations (else weight-only).
        weights, biases: the float model's ``(in, out)`` weights and biases.
        images: float32 calibration images ``(n, in)``, run through the float model.

    Returns:
        Per layer: packed weight codes ``(ceil(in * out * bits / 8),)`` uint8, scale codes
        ``(ceil(in / block_size), out)`` uint8, the weight tensor scale (NVFP4: float32 ``()``)
        and the input tensor scale (NVFP4 with activations: float32 ``()``).
    """
    packed, scales, tensor_scales, input_scales = [], [], [], []
    nvfp4 = _has_tensor_scale(block)
    h = images
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        storage = to_storage_blocks(np.asarray(w, np.float32), block, axis=0)
        packed.append(storage.codes)
        scales.append(np.ascontiguousarray(storage.scales, np.uint8))
        if nvfp4:
            tensor_scales.append(np.asarray(storage.tensor_scale, np.float32))
            if quantize_activations:
                input_scales.append(np.asarray(tensor_scale_of(h, block), np.float32))
        h = h @ w + (0 if b is None else b)
        if i < len(weights) - 1:
            h = np.maximum(h, 0)
    return packed, scales, tensor_scales, input_scales


def block_learned(
    scheme: Scheme, observer: str, weight_observer: str, model: MLP, images: np.ndarray
) -> Learned:
    """The :class:`Learned` arrays of a block scheme calibrated on ``images``.

    Raises:
        ValueError: an observer other than ``minmax`` (block scales come from each block's amax).
    """
    if canonical(observer, "") != "minmax" or canonical(weight_observer, "") != "minmax":
        raise ValueError(
            f"scheme {scheme} takes each block's scale from its own amax (OCP MX v1.0 6.3; "
            f"NVFP4's tensor scale from the calibration amax), so observer {observer!r} / "
            f"{weight_observer!r} does not apply: use observer='minmax' (the default)"
        )
    packed, scales, tensor_scales, input_scales = calibrate_blocks(
        scheme.block, scheme.activations is not None, model.weights, model.biases, images
    )
    biases = tuple(None if b is None else np.asarray(b, np.float32).copy() for b in model.biases)
    return Learned(
        model.sizes, model.output_bias, tuple(packed), tuple(scales), tuple(input_scales), (),
        biases, tuple(tensor_scales),
    )  # fmt: skip


def weight_operands(
    block: BlockFormat,
    sizes: Sequence[int],
    packed: Sequence[np.ndarray],
    scales: Sequence[np.ndarray],
    tensor_scales: Sequence[np.ndarray],
) -> list[tuple[Any, ...]]:
    """Each layer's encoded weights as the block MAC takes them: ``(codes (in, out), scales)``,
    NVFP4 ``(codes, scales, tensor_scale)``."""
    out: list[tuple[Any, ...]] = []
    for i, (p, s) in enumerate(zip(packed, scales, strict=True)):
        shape = (int(sizes[i]), int(sizes[i + 1]))
        codes = unpack_codes(p, block.bits, shape[0] * shape[1]).reshape(shape)
        extra = (np.float32(tensor_scales[i]),) if _has_tensor_scale(block) else ()
        out.append((codes, s, *extra))
    return out


def decoded_weights(block: BlockFormat, operands: Sequence[tuple[Any, ...]]) -> list[np.ndarray]:
    """The weight values: float32 for MX (exact), float64 for NVFP4 (module docstring)."""
    dtype = np.float64 if _has_tensor_scale(block) else np.float32
    return [decode_blocks(encoded, block, axis=0).astype(dtype) for encoded in operands]


def block_forward(
    block: BlockFormat,
    operands: Sequence[tuple[Any, ...]],
    decoded: Sequence[np.ndarray],
    biases: Sequence[np.ndarray | None],
    input_scales: Sequence[np.ndarray] | None,
    x: np.ndarray,
    mac: MAC | None,
    events: Events | None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """One forward pass of a block scheme (module docstring).

    Args:
        block: the scheme's block format.
        operands, decoded: :func:`weight_operands` and :func:`decoded_weights` of the model.
        biases: float32 biases or ``None`` per layer.
        input_scales: NVFP4's calibrated input tensor scales (empty for MX); ``None``:
            weight-only (float32 inputs).
        x: float32 images ``(n, in)``.
        mac: the block MAC (``None`` for weight-only).
        events: MAC events are added here (layers from 1), or ``None``.

    Returns:
        Each layer's input as multiplied (block element codes, or float32 for weight-only) and
        the float32 logits.
    """
    inputs: list[np.ndarray] = []
    h = np.asarray(x, np.float32)
    last = len(operands) - 1
    for i, b in enumerate(biases):
        if input_scales is None or mac is None:
            inputs.append(h)
            y = h @ decoded[i]  # NVFP4: float64, rounded to float32 after the bias
        else:
            s_t = float(input_scales[i]) if len(input_scales) else None
            encoded = encode_blocks(h, block, axis=1, tensor_scale=s_t)
            inputs.append(encoded[0])
            if events is None:
                y = np.asarray(mac.matmul(encoded, operands[i]))
            else:
                y, stats = mac.matmul(encoded, operands[i], stats=True)
                events.add(i + 1, "forward", stats)
            y = np.asarray(y).astype(np.float32, copy=False)
        if b is not None:
            y = y + b
        h = (np.maximum(y, 0) if i < last else y).astype(np.float32, copy=False)
    return inputs, h
