"""The grids of quantization-aware training's element formats: integer and floating point.

:class:`~mixprec.quant.qat.FakeQuantMLP` rounds each layer's weights and input onto the grid its
scheme stores, with these functions:

* :func:`element_format`: the formats it trains: int2..int8, or a float element format
  (``fp8_e4m3``, ``fp8_e5m2``, ...; not a block format);
* :func:`minmax_weights`: a weight matrix on its min-max scales, per output channel or per
  tensor, as post-training quantization's min-max weight observer chooses them
  (:func:`mixprec.quant.observers.qparams`): integers ``clip(rint(w / s), -q_max, q_max)``,
  floats ``quantize(w / s, fmt)`` (nearest even, saturating; what ``mixprec quantize`` stores);
* :func:`float_product`: a layer's product with float (fp8) activations as the quantized
  model's fp8 path serves it (:mod:`mixprec.quant.serving`): the input's and the weights' fp8
  codes multiplied on the MAC ``FMT->fp32`` (:func:`float_mac`: exact products, float32 sums),
  then times ``s_x * s_w``; so the fake-quantized forward pass and the exported model's agree
  bit for bit;
* :func:`fake_input`: an input on its grid, ``s * (clip(rint(x / s) + z, min, max) - z)`` for
  integers (``rint`` before ``z`` is added, as serving quantizes) and ``s * quantize(x / s,
  fmt)`` for floats, with the clipped straight-through
  estimator's mask: where ``x / s`` (plus ``z``) lay inside the format's range.
"""

from __future__ import annotations

import numpy as np

from mixprec.formats import BlockFormat, Format, IntFormat, get_format, quantize, to_storage
from mixprec.mac import MAC
from mixprec.quant.observers import fake_quantize, qparams

__all__ = ["element_format", "fake_input", "float_mac", "float_product", "minmax_weights"]


def element_format(fmt: Format | str) -> Format:
    """``fmt`` as a format, if quantization-aware training can train it.

    Raises:
        ValueError: an integer format wider than int8 or with fraction bits, or a block format.
    """
    if isinstance(fmt, BlockFormat):
        raise ValueError(
            f"{fmt.name} is block-scaled: train with its policy (mixprec train --policy mxfp8 "
            "rounds weights and activations to the blocks in every step), then mixprec quantize"
        )
    f = get_format(fmt)
    if isinstance(f, IntFormat) and (f.frac_bits != 0 or f.max > 127):
        raise ValueError(f"quantization-aware training takes int2..int8 formats, got {f.name}")
    return f


def minmax_weights(
    w: np.ndarray, fmt: Format, per_channel: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``(values, scales)``: ``w`` (``(in, out)``) on its min-max grid, as float32 codes (integer
    formats) or float32 values of ``fmt`` (float formats), and the float32 scales (``(out,)``, or
    ``()`` per tensor)."""
    w = np.asarray(w, np.float32)
    amax = np.abs(w).max(axis=0) if per_channel else np.abs(w).max()
    scale = qparams(-amax, amax, fmt, True)[0]
    scaled = w / scale
    if isinstance(fmt, IntFormat):
        return np.clip(np.rint(scaled), -fmt.max, fmt.max).astype(np.float32), scale
    return quantize(scaled, fmt, overflow="saturate").astype(np.float32), scale


def fake_input(
    x: np.ndarray, scale: np.float32, zero_point: int, fmt: Format
) -> tuple[np.ndarray, np.ndarray]:
    """``(x_q, inside)``: ``x`` on its grid (float32) and the STE mask (see the module doc)."""
    if isinstance(fmt, IntFormat):  # rint before the zero point is added, as serving does
        z = np.float32(zero_point)
        codes = np.clip(np.rint(x / scale) + z, fmt.min, fmt.max).astype(np.float32)
        inside = (x / scale + z >= fmt.min) & (x / scale + z <= fmt.max)
        return ((codes - z) * scale).astype(np.float32), inside
    zero = np.zeros((), np.int64)  # floats: the observers' grid (nearest even, saturating)
    return fake_quantize(x, np.asarray(scale), zero, fmt), np.abs(x / scale) <= np.float32(fmt.max)


def float_mac(fmt: Format) -> MAC:
    """The MAC the fp8 schemes serve on by default: ``FMT->fp32``."""
    return MAC.parse(f"{fmt.name}->fp32")


def float_product(
    x: np.ndarray,
    s_x: np.float32,
    w_values: np.ndarray,
    s_w: np.ndarray,
    formats: tuple[Format | None, Format],
    mac: MAC,
) -> np.ndarray:
    """``(x / s_x)`` and ``w_values`` in their formats' codes, multiplied on ``mac`` and scaled by
    ``s_x * s_w`` (float32): the fp8 serving path's product (see the module doc).

    ``formats`` is ``(activation format, weight format)``.
    """
    x_fmt, w_fmt = formats
    assert x_fmt is not None
    x8 = to_storage(np.asarray(x, np.float32) / s_x, x_fmt, overflow="saturate")
    w8 = to_storage(w_values, w_fmt, overflow="saturate")
    acc = np.asarray(mac.matmul(x8, w8))
    return (acc.astype(np.float32) * (np.float32(s_x) * s_w)).astype(np.float32)
