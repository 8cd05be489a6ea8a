"""Quantized model files: the kind ``quantized-mlp`` beside the float ``mlp`` of
:mod:`mixprec.nn.modelfile`.

``save(qmodel, path)`` and ``load(path)`` of this module read and write both kinds (:data:`KINDS`,
plain data: the float kinds plus this one): an ``.npz`` of plain arrays (no pickle), written
atomically (temporary file, fsync, ``os.replace``), with ``format_version``, ``kind`` and
``metadata`` as for every kind, and:

==========================  =======================================================================
``quantized_version``       int64 scalar, :data:`QUANTIZED_VERSION` (this layout)
``scheme``                  str scalar: a name of ``mixprec.quant.SCHEMES``; kind
                            ``layered-quantized-mlp``: a scheme per layer (``BASE@L=SCHEME``,
                            :mod:`mixprec.quant.layered`), each layer's arrays as its scheme's
``observer``                str scalar; ``weight_observer`` likewise
``sizes``                   int64 ``(layers + 1,)``; ``output_bias`` bool scalar
``qweight_<i>``             int8 ``(in, out)``; fp8: uint8 codes ``(in, out)`` (the ml_dtypes bits);
                            int4/int3/int2: uint8 ``(ceil(in * bits / 8), out)``, packed
                            (:mod:`mixprec.quant.packing`; int4: two codes per byte)
``weight_scale_<i>``        float32 ``()`` per tensor, ``(out,)`` per channel, or
                            ``(ceil(in / group), out)`` for a scheme ``...:group=N``
``input_scale_<i>``         float32 ``()`` (not for weight-only schemes)
``input_zero_point_<i>``    int8 ``()`` (integer-only schemes: int8 or int4 activations)
``qbias_<i>``               int32 ``(out,)`` (integer-only schemes) or float32, for layers with a
                            bias
==========================  =======================================================================

Block schemes (``mxfp8``, ``mxfp4``, ``nvfp4``, ``*-weight-only``; :mod:`mixprec.quant.blockptq`):

==============================  ===================================================================
``qweight_<i>``                 uint8 ``(ceil(in * out * bits / 8),)``: the element codes of the
                                ``(in, out)`` weights in C order, packed LSB first (two fp4 codes
                                per byte, the first in the low nibble), as ``BlockStorage``
``weight_scale_<i>``            uint8 ``(ceil(in / block_size), out)``: the block scale codes
                                (E8M0; NVFP4: E4M3), blocks along K
``weight_tensor_scale_<i>``     float32 ``()``: NVFP4's weight tensor scale
``input_scale_<i>``             float32 ``()``: NVFP4's calibrated input tensor scale (not for
                                MX, whose activation scales are per block of each batch, nor for
                                weight-only schemes)
``qbias_<i>``                   float32 ``(out,)``, for layers with a bias
==============================  ===================================================================

Every array of the file is the model's (``QuantizedMLP.arrays()``), so the arrays' bytes are
``QuantizedMLP.nbytes``, which :func:`mixprec.nn.cost.cost` counts for the scheme.

Every array's dtype and shape is checked against ``scheme`` and ``sizes`` on load; scales must
be finite and positive. A mismatch is a ``ValueError`` naming the field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from mixprec.formats import BlockFormat, IntFormat, storage_dtype
from mixprec.formats.block import TensorScale
from mixprec.nn import MLP, Policy
from mixprec.nn import modelfile as float_files
from mixprec.nn.modelfile import FileKind
from mixprec.quant import layered_file
from mixprec.quant.groupwise import n_groups
from mixprec.quant.layered import LayeredQuantizedMLP
from mixprec.quant.model import Learned, QuantizedMLP
from mixprec.quant.packing import packed_rows
from mixprec.quant.schemes import Scheme
from mixprec.train import History

__all__ = ["KIND", "KINDS", "QUANTIZED_VERSION", "from_arrays", "load", "save", "to_arrays"]

KIND = "quantized-mlp"
QUANTIZED_VERSION = 1


def to_arrays(q: QuantizedMLP) -> dict[str, np.ndarray]:
    """The arrays of a calibrated ``QuantizedMLP`` (header fields are added by ``save``)."""
    arrays = q.arrays()  # raises NotCalibratedError before calibration
    arrays.update(
        quantized_version=np.array(QUANTIZED_VERSION, np.int64),
        scheme=np.array(q.scheme.name),
        observer=np.array(str(q.observer)),
        weight_observer=np.array(str(q.weight_observer)),
        sizes=np.array(q.sizes, np.int64),
        output_bias=np.array(q.output_bias),
    )
    return arrays


def _get(arrays: dict[str, np.ndarray], name: str, path: str) -> np.ndarray:
    if name not in arrays:
        raise ValueError(f"{path}: not a complete quantized model file: {name!r} is missing")
    return arrays[name]


def _typed(
    arrays: dict[str, np.ndarray], name: str, dtype: DTypeLike, shape: tuple[int, ...], path: str
) -> np.ndarray:
    value = _get(arrays, name, path)
    if value.dtype != np.dtype(dtype) or value.shape != shape:
        raise ValueError(
            f"{path}: {name!r} is {value.dtype} {value.shape}, expected {np.dtype(dtype)} "
            f"{shape}; the file does not match its scheme and sizes (damaged or written by "
            "other software)"
        )
    return value


def _string(arrays: dict[str, np.ndarray], name: str, path: str) -> str:
    value = _get(arrays, name, path)
    if value.shape != () or value.dtype.kind != "U":
        raise ValueError(f"{path}: {name!r} must be a string, got {value.dtype} {value.shape}")
    return str(value)


def _scale(
    arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...], path: str
) -> np.ndarray:
    value = _typed(arrays, name, np.float32, shape, path)
    if not (np.isfinite(value).all() and (value > 0).all()):
        raise ValueError(f"{path}: {name!r} must hold finite scales > 0")
    return value


def _weights(
    arrays: dict[str, np.ndarray], scheme: Scheme, i: int, shape: tuple[int, int], path: str
) -> np.ndarray:
    """Layer ``i``'s stored weights: int8, packed sub-byte codes, or fp8 (checked)."""
    fmt, (n_in, n_out) = scheme.weights, shape
    if isinstance(fmt, BlockFormat):  # packed as BlockStorage packs them
        width = -(-n_in * n_out * fmt.bits // 8)
        return _typed(arrays, f"qweight_{i}", np.uint8, (width,), path)
    if isinstance(fmt, IntFormat) and fmt.bits < 8:
        rows = packed_rows(n_in, fmt.bits)
        return _typed(arrays, f"qweight_{i}", np.uint8, (rows, n_out), path)
    if isinstance(fmt, IntFormat):
        return _typed(arrays, f"qweight_{i}", np.int8, (n_in, n_out), path)
    codes = _typed(arrays, f"qweight_{i}", np.uint8, (n_in, n_out), path)
    fp8 = storage_dtype(fmt)
    if fp8 is None:  # pragma: no cover - every scheme's float format has a dtype
        raise ValueError(f"{path}: {fmt.name} has no numpy dtype")
    return codes.view(fp8)


def _block_scales(
    arrays: dict[str, np.ndarray], scheme: Scheme, i: int, shape: tuple[int, int],
    state: dict[str, list[Any]], path: str,
) -> None:  # fmt: skip
    """Layer ``i``'s block scale codes and NVFP4's tensor scales (weights', inputs')."""
    block, (n_in, n_out) = scheme.block, shape
    blocks = -(-n_in // block.block_size)
    scales = _typed(arrays, f"weight_scale_{i}", np.uint8, (blocks, n_out), path)
    state["weight_scales"].append(scales)
    if block.tensor_scale is TensorScale.AMAX:
        tensor_scale = _scale(arrays, f"weight_tensor_scale_{i}", (), path)
        state["weight_tensor_scales"].append(tensor_scale)
        if not scheme.is_weight_only:
            state["input_scales"].append(_scale(arrays, f"input_scale_{i}", (), path))


def from_arrays(arrays: dict[str, np.ndarray], path: str) -> QuantizedMLP:
    """A calibrated ``QuantizedMLP`` from a file's arrays.

    Raises:
        ValueError: a newer layout, an unknown scheme, or any missing or mismatched array.
    """
    version = _get(arrays, "quantized_version", path)
    if version.shape != () or version.dtype.kind not in "iu" or not 1 <= int(version):
        raise ValueError(f"{path}: 'quantized_version' must be a positive integer")
    if int(version) > QUANTIZED_VERSION:
        raise ValueError(
            f"{path}: quantized layout version {int(version)}; this mixprec reads up to "
            f"{QUANTIZED_VERSION}. Upgrade mixprec to read it."
        )
    try:
        scheme = Scheme.parse(_string(arrays, "scheme", path))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    sizes = _get(arrays, "sizes", path)
    if sizes.ndim != 1 or sizes.dtype.kind not in "iu" or len(sizes) < 2 or sizes.min() < 1:
        raise ValueError(f"{path}: 'sizes' must be >= 2 positive integers, got {sizes!r}")
    output_bias = _get(arrays, "output_bias", path)
    if output_bias.shape != () or output_bias.dtype != np.bool_:
        raise ValueError(f"{path}: 'output_bias' must be a boolean scalar")
    n_layers = len(sizes) - 1
    state: dict[str, list[Any]] = dict(
        weights=[],
        weight_scales=[],
        input_scales=[],
        input_zero_points=[],
        biases=[],
        weight_tensor_scales=[],
    )
    for i in range(n_layers):
        n_in, n_out = int(sizes[i]), int(sizes[i + 1])
        state["weights"].append(_weights(arrays, scheme, i, (n_in, n_out), path))
        if scheme.is_block:
            _block_scales(arrays, scheme, i, (n_in, n_out), state, path)
        shape: tuple[int, ...] = (n_out,) if scheme.per_channel else ()
        if scheme.group_size is not None:
            shape = (n_groups(n_in, scheme.group_size), n_out)
        if not scheme.is_block:
            state["weight_scales"].append(_scale(arrays, f"weight_scale_{i}", shape, path))
        if not (scheme.is_weight_only or scheme.is_block):
            state["input_scales"].append(_scale(arrays, f"input_scale_{i}", (), path))
        if scheme.is_integer:
            zero_point = _typed(arrays, f"input_zero_point_{i}", np.int8, (), path)
            state["input_zero_points"].append(zero_point)
        has_bias = i < n_layers - 1 or bool(output_bias)
        if has_bias:
            dtype = np.int32 if scheme.is_integer else np.float32
            state["biases"].append(_typed(arrays, f"qbias_{i}", dtype, (n_out,), path))
        elif f"qbias_{i}" in arrays:
            raise ValueError(f"{path}: unexpected 'qbias_{i}' (output_bias is false)")
        else:
            state["biases"].append(None)
    observer = _string(arrays, "observer", path)
    weight_observer = _string(arrays, "weight_observer", path)
    learned = Learned(
        tuple(int(s) for s in sizes), bool(output_bias),
        *(tuple(state[name]) for name in (
            "weights", "weight_scales", "input_scales", "input_zero_points", "biases",
            "weight_tensor_scales",
        )),
    )  # fmt: skip
    try:
        return QuantizedMLP.from_learned(learned, scheme, observer, weight_observer)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


#: The kinds of model file this module reads and writes: the float ones and ``quantized-mlp``.
KINDS: dict[str, FileKind] = {
    **float_files.KINDS, KIND: FileKind(QuantizedMLP, to_arrays, from_arrays),
    # a scheme per layer (mixprec.quant.layered): this layout, each layer read as above
    "layered-quantized-mlp": FileKind(
        LayeredQuantizedMLP, lambda q: layered_file.to_arrays(q, QUANTIZED_VERSION),
        lambda arrays, path: layered_file.from_arrays(arrays, path, from_arrays),
    ),
}  # fmt: skip


def save(
    model: MLP | QuantizedMLP | LayeredQuantizedMLP,
    path: str | os.PathLike[str],
    policy: Policy | str | None = None,
    history: History | dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """``mixprec.nn.save`` for float and quantized models (see :mod:`mixprec.nn.modelfile`)."""
    return float_files.save(model, path, policy, history, metadata, kinds=KINDS)


def load(path: str | os.PathLike[str]) -> MLP | QuantizedMLP | LayeredQuantizedMLP:
    """Read a float or quantized model file (see :func:`mixprec.nn.load`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a damaged file, a newer version, an unknown kind, mismatched arrays.
    """
    model = float_files.load_any(path, KINDS)
    known = (MLP, QuantizedMLP, LayeredQuantizedMLP)
    if not isinstance(model, known):  # pragma: no cover - KINDS has no other
        raise TypeError(f"{path}: a {type(model).__name__}")
    return model
