"""Model files of a :class:`~mixprec.quant.layered.LayeredQuantizedMLP` (kind
``layered-quantized-mlp``, registered in :mod:`mixprec.quant.modelfile`).

The layout of a uniform quantized model's file (:mod:`mixprec.quant.modelfile`) with the
per-layer ``scheme`` string (``BASE@LAYER=SCHEME``); each layer holds the arrays its own scheme
stores, under the layer's index (``qweight_<i>``, ``weight_scale_<i>``, ``input_scale_<i>``,
``input_zero_point_<i>``, ``qbias_<i>``). On load each layer is read as a one-layer uniform
model's file, so every array's dtype and shape is checked against that layer's scheme.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixprec.quant.layered import LayeredQuantizedMLP, LayerScheme

__all__ = ["from_arrays", "to_arrays"]


_FIELDS = (
    "qweight", "weight_scale", "input_scale", "input_zero_point", "qbias", "weight_tensor_scale",
)  # fmt: skip


def to_arrays(q: LayeredQuantizedMLP, version: int) -> dict[str, np.ndarray]:
    """The arrays of a model file (kind ``layered-quantized-mlp``): a uniform model's layout
    (:mod:`mixprec.quant.modelfile`) with the per-layer ``scheme`` string; each layer has the
    arrays its own scheme stores."""
    arrays = q.arrays()
    arrays.update(
        quantized_version=np.array(version, np.int64), scheme=np.array(str(q.scheme)),
        observer=np.array(str(q.observer)), weight_observer=np.array(str(q.weight_observer)),
        sizes=np.array(q.sizes, np.int64), output_bias=np.array(q.output_bias),
    )  # fmt: skip
    return arrays


def from_arrays(arrays: dict[str, np.ndarray], path: str, read_layer: Any) -> LayeredQuantizedMLP:
    """A model from a file's arrays: each layer read as a one-layer uniform model's file by
    ``read_layer(arrays, path)`` (:func:`mixprec.quant.modelfile.from_arrays`, which checks
    every array's dtype and shape against the layer's scheme).

    Raises:
        ValueError: a missing header field, an unknown scheme, a mismatched array.
    """
    for name in ("scheme", "sizes", "output_bias", "quantized_version"):
        if name not in arrays:
            raise ValueError(f"{path}: not a complete quantized model file: {name!r} is missing")
    sizes, output_bias = arrays["sizes"], arrays["output_bias"]
    if sizes.ndim != 1 or sizes.dtype.kind not in "iu" or len(sizes) < 2 or sizes.min() < 1:
        raise ValueError(f"{path}: 'sizes' must be >= 2 positive integers, got {sizes!r}")
    try:
        scheme = LayerScheme.parse(str(arrays["scheme"]))
        schemes = scheme.schemes(len(sizes) - 1)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    layers = []
    for i, s in enumerate(schemes):
        header = ("quantized_version", "observer", "weight_observer")
        own: dict[str, np.ndarray] = {k: arrays[k] for k in header if k in arrays}
        own.update(
            scheme=np.array(s.name), sizes=np.array(sizes[i : i + 2], np.int64),
            output_bias=np.array(i < len(schemes) - 1 or bool(output_bias)),
        )  # fmt: skip
        own.update({f"{f}_0": arrays[f"{f}_{i}"] for f in _FIELDS if f"{f}_{i}" in arrays})
        layers.append(read_layer(own, f"{path} (layer {i + 1})").learned_)
    observer, weight_observer = str(arrays["observer"]), str(arrays["weight_observer"])
    try:
        return LayeredQuantizedMLP.from_layers(layers, scheme, observer, weight_observer)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
