"""The policy presets: what each sets, and why (``mixprec.nn.Policy.presets()``).

* ``fp32``: float32 everywhere, ``fp32->fp32`` MACs in ``fast`` order: plain float32 BLAS, the
  reference (it reproduces a plain-numpy MLP bit for bit).
* ``bf16``: bf16 weights, activations and gradients, ``bf16->fp32`` MACs, fp32 master weights
  (bf16 has fp32's range, so no loss scaling; updates of ~lr * g are far below a bf16 ulp of the
  weights, hence the master copy). ``bf16-sr`` drops the master copy and rounds each update into
  the bf16 weights stochastically, which keeps small updates in expectation.
* ``fp16``: fp16 only, updates rounded to nearest into fp16 weights, no loss scaling: the
  baseline whose gradient underflow and lost updates ``fp16-amp`` fixes.
* ``fp16-amp``: fp16 compute with fp32 master weights and dynamic loss scaling from 2**16,
  growth interval 2000 (Micikevicius et al. 2018; the defaults of common AMP scalers).
* ``fp8``: E4M3 weights and activations (more precision), E5M2 gradients (more range), MACs
  accumulating in fp32 (the backward MACs take ``fp16`` inputs, a format that holds both E4M3 and
  E5M2 exactly, since a MAC has one input format), fp32 master weights, and per-tensor
  power-of-two scaling. Scaling is needed here: E4M3's normal range starts at 2**-6 = 0.016,
  below the median magnitude of this MLP's first-layer weights (0.034 at He initialization, a
  quarter of them subnormal in E4M3, with 0 to 2 significant bits), and the gradient of the
  logits (a batch mean) has a median of 5e-4 at initialization and shrinks as the loss falls,
  toward E5M2's subnormals (from 2**-14 = 6e-5 down). A scale per tensor puts each tensor's
  largest magnitude at the top of its format, as FP8 recipes do, so every tensor uses the
  format's full precision, and loss scaling is unnecessary.
* ``mxfp8``: OCP MX v1.0 MXFP8 training, as microxcaling's recipes: E4M3 weights and
  activations, E5M2 gradients, each in blocks of 32 with an E8M0 scale, fp32 master weights. A
  block role is quantized by the matmul that consumes it, along that matmul's reduction axis,
  so the backward matmuls re-block the transposed operand along its other axis
  (:mod:`mixprec.nn.rounder`; pytorch/ao issue 1501); the MACs are fp32 BLAS over the quantized
  values (exact products, fp32 accumulation, as microxcaling and torchao emulate MX). Block
  scales take the place of per-tensor scaling and loss scaling.
* ``mxfp4``, ``nvfp4``: serving only: weights and activations in MXFP4 (E2M1 elements, an E8M0
  scale per 32) or NVFP4 (E2M1, an E4M3 scale per 16 and an fp32 scale per tensor, computed
  from each batch), multiplied by the exact block MAC (``mxfp4->fp32``: each block's dot
  exact, one rounding per block into fp32; :mod:`mixprec.mac.blockscaled`).
* ``int8``: serving only: int8 weights and activations with per-tensor symmetric scales (the
  weights' from the weights, each activation's from its batch: dynamic quantization), exact
  ``int8->int32`` MACs, the int32 result scaled back to float32, plus bias, ReLU, then
  requantized to int8 for the next layer. Calibrated static scales and per-channel schemes are
  :func:`mixprec.quant.quantize` (``mixprec.quant.model``).
"""

from __future__ import annotations

from typing import Any

from mixprec.mac import MAC

__all__ = ["PRESETS"]


def _fp(fmt: str, **extra: Any) -> dict[str, Any]:
    mac = MAC(input=fmt, accumulator="fp32", order="fast")
    return dict(
        weights=fmt, activations=fmt, gradients=fmt, forward_mac=mac, input_grad_mac=mac,
        weight_grad_mac=mac, **extra,
    )  # fmt: skip


PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "fp32": (
        "float32 everywhere, plain float32 BLAS",
        dict(forward_mac=MAC(input="fp32", accumulator="fp32", order="fast")),
    ),
    "bf16": (
        "bf16 weights, activations and gradients, fp32 accumulation, fp32 master weights",
        _fp("bf16", master_weights="fp32"),
    ),
    "bf16-sr": (
        "bf16 only: no master copy, updates rounded stochastically into bf16 weights",
        _fp("bf16", updates="bf16", update_rounding="stochastic"),
    ),
    "fp16": (
        "fp16 only: no master copy, updates rounded to nearest, no loss scaling",
        _fp("fp16", updates="fp16"),
    ),
    "fp16-amp": (
        "fp16 with fp32 accumulation, fp32 master weights, dynamic loss scaling from 2**16",
        _fp("fp16", master_weights="fp32", loss_scaling="dynamic", loss_scale=2.0**16),
    ),
    "fp8": (
        "E4M3 weights and activations, E5M2 gradients, per-tensor power-of-two scales, fp32 "
        "accumulation and master weights",
        dict(
            weights="fp8_e4m3",
            activations="fp8_e4m3",
            gradients="fp8_e5m2",
            forward_mac=MAC(input="fp8_e4m3", accumulator="fp32", order="fast"),
            input_grad_mac=MAC(input="fp16", accumulator="fp32", order="fast"),
            weight_grad_mac=MAC(input="fp16", accumulator="fp32", order="fast"),
            master_weights="fp32",
            scaling="per_tensor",
        ),  # fmt: skip
    ),
    "mxfp8": (
        "MXFP8 (OCP MX): E4M3 weights and activations, E5M2 gradients, blocks of 32 along each "
        "matmul's K axis, fp32 accumulation and master weights",
        dict(
            weights="mxfp8_e4m3",
            activations="mxfp8_e4m3",
            gradients="mxfp8_e5m2",
            master_weights="fp32",
        ),  # fmt: skip
    ),
    "mxfp4": (
        "serving only: MXFP4 weights and activations (E2M1, blocks of 32), the exact MX MAC "
        "mxfp4->fp32",
        dict(
            weights="mxfp4", activations="mxfp4", forward_mac="mxfp4->fp32", trainable=False
        ),  # fmt: skip
    ),
    "nvfp4": (
        "serving only: NVFP4 weights and activations (E2M1, E4M3 scales per 16, an fp32 tensor "
        "scale), the exact MAC nvfp4->fp32",
        dict(
            weights="nvfp4", activations="nvfp4", forward_mac="nvfp4->fp32", trainable=False
        ),  # fmt: skip
    ),
    "int8": (
        "serving only: int8 weights and activations with per-tensor symmetric scales, int32 "
        "accumulation, requantized between layers",
        dict(
            weights="int8",
            activations="int8",
            forward_mac="int8->int32",
            scaling="per_tensor",
            trainable=False,
        ),  # fmt: skip
    ),
}
