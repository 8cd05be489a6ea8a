"""ONNX export of the float MLP and of integer-only quantized models, and a helper to run them.

Needs the optional extra ``onnx`` (``pip install mixprec[onnx]``: onnx and onnxruntime).

* A float ``MLP`` exports as ``MatMul -> Add -> Relu`` per layer (float32).
* An int8 ``QuantizedMLP`` exports with standard operators only (opset 17), one integer pipeline
  per layer, the same as :mod:`mixprec.quant.serving`'s integer path:

  ``QuantizeLinear`` (input: float32 division, ties to even) -> ``MatMulInteger`` (int8 x int8
  -> int32, the input zero point as its ``a_zero_point``) -> ``Add`` (int32 bias), then either

  - ``requantization="gemmlowp"`` (default): the fixed-point multiplier of
    :mod:`mixprec.quant.requant` written in int64 ``Mul``/``Add``/``Abs``/``Sign``/``Div``/``Where``
    (divisions only of non-negative values, so no operator's rounding of negative quotients
    matters), the ReLU clamp as ``Max``/``Min``, ``Cast`` to int8. The outputs are bit-identical
    to mixprec's default integer path.
  - ``requantization="float"``: ``Cast`` to float32, ``Mul`` by the float32 multiplier
    ``s_x * s_w / s_y``, ``Relu``, ``QuantizeLinear`` (scale 1, the next zero point): ONNX
    Runtime's float arithmetic with ties to even; bit-identical to
    ``predict(..., requantization="float")``, and differs from gemmlowp where ``M * acc`` lies
    within float32 rounding of a half-integer (gemmlowp rounds ties away from zero, with two
    roundings; see :mod:`mixprec.quant.requant`).

  The last layer's int32 accumulator is dequantized: ``Cast`` to float32, ``Mul`` by the
  float32 ``s_x * s_w``.

  ``activations="uint8"`` exports the activation codes plus 128 (zero points too): the same
  integers reach every product, and ONNX Runtime's x86 uint8 x int8 kernels run 2.5-4.5x faster
  than its int8 x int8 ones (measured on AVX2). But on x86 CPUs without VNNI (AVX2, AVX-512F)
  those kernels add pairs of products in int16 with saturation (``vpmaddubsw``): once
  ``|a1 w1 + a2 w2| > 32767`` (uint8 activations near 255 with weights beyond +-64) the result
  is no longer exact, and ONNX Runtime stops matching mixprec. ``int8`` (default) is exact on
  every CPU; ``uint8`` is exact where the weights lie in -64..64 or the CPU has VNNI.

**int4** schemes served integer-only (``int4-per-channel``, W4A4, and ``int4-per-channel-a8``,
W4A8) export the same graph with the int4 codes carried in int8 tensors (opset 17 has no int4
type; onnxruntime's int4 kernels would dequantize to float): the weights unpacked to int8, and
each int4 activation clamped to ``-8..7`` after its ``QuantizeLinear`` (``Cast`` to int32,
``Max``/``Min``, ``Cast`` back) and in the requantization's clamp. The integers that reach
``MatMulInteger`` are those of mixprec's integer path, so the outputs are bit-identical.

fp8 and weight-only schemes are not exported (ONNX Runtime's fp8 kernels dequantize to float
and would not reproduce mixprec's MAC; weight-only schemes have no integer path), nor are the
block-scaled (MX, NVFP4) schemes (ONNX has no block-scaled types or MAC);
:func:`export_onnx` says so.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from mixprec._util.files import atomic_write
from mixprec.nn import MLP
from mixprec.quant.integer import IntegerLayer
from mixprec.quant.model import QuantizedMLP
from mixprec.quant.requant import Requantization, as_requantization
from mixprec.quant.serving import code_range

if TYPE_CHECKING:
    import onnx
    import onnxruntime

__all__ = ["OPSET", "export_onnx", "onnx_predict", "require_onnx", "to_onnx"]

OPSET = 17
INPUT, OUTPUT = "images", "logits"


def require_onnx() -> tuple[ModuleType, ModuleType]:
    """``(onnx, onnxruntime)``, or an ImportError that names the extra to install."""
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise ImportError(
            f"ONNX export needs onnx and onnxruntime ({error.name} is missing): "
            "pip install mixprec[onnx]"
        ) from error
    return onnx, onnxruntime


class _Graph:
    """Nodes and initializers of a graph being built, with unique names."""

    def __init__(self, module: ModuleType) -> None:
        self.onnx = module
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, *inputs: str, name: str = "", **attrs: int) -> str:
        self.count += 1
        out = name or f"{op_type.lower()}_{self.count}"
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out


def _float_graph(g: _Graph, model: MLP) -> str:
    h = INPUT
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        h = g.op("MatMul", h, g.const(f"weight_{i}", np.asarray(w, np.float32)))
        if b is not None:
            h = g.op("Add", h, g.const(f"bias_{i}", np.asarray(b, np.float32)))
        if i < model.n_layers - 1:
            h = g.op("Relu", h)
    return g.op("Identity", h, name=OUTPUT)


def _gemmlowp(g: _Graph, acc: str, i: int, layer: IntegerLayer, offset: int) -> str:
    """int64 ops computing ``clamp(z + MultiplyByQuantizedMultiplier(acc), max(z, -128), 127)``."""
    x = g.op("Cast", acc, to=g.onnx.TensorProto.INT64)
    left = np.maximum(layer.shift, 0)
    right = np.maximum(-layer.shift, 0)
    if left.any():
        x = g.op("Mul", x, g.const(f"left_{i}", (np.int64(1) << left).astype(np.int64)))
        x = g.op("Max", x, g.const(f"int32_min_{i}", np.int64(-(2**31))))
        x = g.op("Min", x, g.const(f"int32_max_{i}", np.int64(2**31 - 1)))
    # SaturatingRoundingDoublingHighMul(x, M0) = trunc((x * M0 + nudge) / 2**31)
    ab = g.op("Mul", x, g.const(f"m0_{i}", layer.m0.astype(np.int64)))
    negative = g.op("Less", ab, g.const(f"zero_{i}", np.int64(0)))
    nudge = g.op(
        "Where", negative, g.const(f"nudge_neg_{i}", np.int64(1 - (1 << 30))),
        g.const(f"nudge_pos_{i}", np.int64(1 << 30)),
    )  # fmt: skip
    t = g.op("Add", ab, nudge)
    high = g.op(
        "Mul", g.op("Sign", t),
        g.op("Div", g.op("Abs", t), g.const(f"two31_{i}", np.int64(1 << 31))),
    )  # fmt: skip
    # RoundingDivideByPOT(high, right): ties away from zero = sign * ((|x| + 2**(e-1)) // 2**e)
    if right.any():
        half = np.where(right > 0, np.int64(1) << np.maximum(right - 1, 0), 0).astype(np.int64)
        magnitude = g.op(
            "Div", g.op("Add", g.op("Abs", high), g.const(f"half_{i}", half)),
            g.const(f"pot_{i}", (np.int64(1) << right).astype(np.int64)),
        )  # fmt: skip
        high = g.op("Mul", g.op("Sign", high), magnitude)
    z = layer.out_zero_point + offset
    y = g.op("Add", high, g.const(f"zy_{i}", np.int64(z)))
    y = g.op("Max", y, g.const(f"lo_{i}", np.int64(layer.lo + offset)))
    y = g.op("Min", y, g.const(f"hi_{i}", np.int64(layer.hi + offset)))
    tp = g.onnx.TensorProto
    return g.op("Cast", y, to=tp.UINT8 if offset else tp.INT8)


def _clamp(g: _Graph, h: str, name: str, lo: int, hi: int, offset: int) -> str:
    """Clamp int8 (uint8) codes to ``lo .. hi`` (plus ``offset``): int4 codes in int8 tensors."""
    if (lo, hi) == (-128, 127):
        return h
    tp = g.onnx.TensorProto
    x = g.op("Cast", h, to=tp.INT32)
    x = g.op("Max", x, g.const(f"{name}_lo", np.int32(lo + offset)))
    x = g.op("Min", x, g.const(f"{name}_hi", np.int32(hi + offset)))
    return g.op("Cast", x, to=tp.UINT8 if offset else tp.INT8)


def _integer_graph(
    g: _Graph, q: QuantizedMLP, requantization: Requantization, activations: str
) -> str:
    tp = g.onnx.TensorProto
    offset = 128 if activations == "uint8" else 0  # uint8 codes: the int8 codes + 128
    lo, hi = code_range(q)

    def zero_point(name: str, z: int) -> str:
        return g.const(name, np.asarray(z + offset, np.uint8 if offset else np.int8))

    h = g.op(
        "QuantizeLinear", INPUT, g.const("input_scale_0", np.asarray(q.input_scales_[0])),
        zero_point("input_zero_point_0", int(q.input_zero_points_[0])),
    )  # fmt: skip
    h = _clamp(g, h, "input_codes", lo, hi, offset)
    layers = q.integer_layers()
    for i, layer in enumerate(layers):
        z_x = zero_point(f"input_zero_point_mm_{i}", int(q.input_zero_points_[i]))
        acc = g.op("MatMulInteger", h, g.const(f"qweight_{i}", layer.weights), z_x)
        bias = q.biases_[i]
        if bias is not None:
            acc = g.op("Add", acc, g.const(f"qbias_{i}", bias.astype(np.int32)))
        if i == len(layers) - 1:
            logits = g.op("Cast", acc, to=tp.FLOAT)
            logits = g.op("Mul", logits, g.const(f"output_scale_{i}", layer.out_scale))
            return g.op("Identity", logits, name=OUTPUT)
        if requantization is Requantization.GEMMLOWP:
            h = _gemmlowp(g, acc, i, layer, offset)
        else:
            f = g.op("Cast", acc, to=tp.FLOAT)
            f = g.op("Relu", g.op("Mul", f, g.const(f"multiplier_{i}", layer.multiplier)))
            h = g.op(
                "QuantizeLinear", f, g.const(f"unit_scale_{i}", np.float32(1.0)),
                zero_point(f"requant_zero_point_{i}", layer.out_zero_point),
            )  # fmt: skip
            h = _clamp(g, h, f"requant_codes_{i}", lo, hi, offset)
    raise ValueError("a model needs at least one layer")


def to_onnx(
    model: MLP | QuantizedMLP,
    requantization: Requantization | str = "gemmlowp",
    activations: str = "int8",
) -> onnx.ModelProto:
    """An ``onnx.ModelProto`` of a float ``MLP`` or an int8 ``QuantizedMLP`` (checked).

    Args:
        model: an ``MLP`` or a calibrated ``QuantizedMLP`` of an integer-only scheme.
        requantization: integer models: ``"gemmlowp"`` (default) or ``"float"`` (module
            docstring).
        activations: int8 models: ``"int8"`` (default: the model's own codes) or ``"uint8"``
            (the codes plus 128, zero points too: the same integers in every product, so the
            same outputs bit for bit; ONNX Runtime's x86 kernels are faster for uint8 x int8).

    Raises:
        ImportError: onnx is not installed (``pip install mixprec[onnx]``).
        ValueError: a quantized scheme that is not int8, or ``activations`` not int8/uint8.
        TypeError: another kind of model.
    """
    if isinstance(model, QuantizedMLP) and model.scheme.is_block:
        raise ValueError(
            f"ONNX export does not support the block-scaled scheme {model.scheme} (ONNX has no "
            "MX/NVFP4 block MAC); serve it with mixprec ('mixprec evaluate'), or export the "
            "float model or an int8-per-channel quantization of it"
        )
    onnx, _ = require_onnx()
    g = _Graph(onnx)
    if isinstance(model, MLP):
        model.check()
        _float_graph(g, model)
        name = "mixprec-mlp-fp32"
    elif isinstance(model, QuantizedMLP):
        if not model.scheme.is_integer:
            raise ValueError(
                f"ONNX export supports the float MLP and the integer-only schemes (int8 schemes, "
                f"int4-per-channel, int4-per-channel-a8); {model.scheme} is not exported (ONNX "
                "Runtime would dequantize it to float32, not run its MAC). Export the float "
                "model instead, or quantize with an integer-only scheme"
            )
        if activations not in ("int8", "uint8"):
            raise ValueError(f"activations must be 'int8' or 'uint8', got {activations!r}")
        _integer_graph(g, model, as_requantization(requantization), activations)
        name = f"mixprec-mlp-{model.scheme}"
    else:
        raise TypeError(f"cannot export a {type(model).__name__}; pass an MLP or a QuantizedMLP")
    helper, tp = onnx.helper, onnx.TensorProto
    graph = helper.make_graph(
        g.nodes, name, [helper.make_tensor_value_info(INPUT, tp.FLOAT, ["batch", model.sizes[0]])],
        [helper.make_tensor_value_info(OUTPUT, tp.FLOAT, ["batch", model.sizes[-1]])],
        initializer=g.initializers,
    )  # fmt: skip
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mixprec"
    )
    proto.ir_version = min(proto.ir_version, 8)  # readable by onnxruntime >= 1.14
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(
    model: MLP | QuantizedMLP,
    path: str | os.PathLike[str],
    requantization: Requantization | str = "gemmlowp",
    activations: str = "int8",
) -> Path:
    """Write ``model`` as an ONNX file (see :func:`to_onnx`), atomically; returns the path."""
    proto = to_onnx(model, requantization, activations)
    return atomic_write(path, lambda stream: stream.write(proto.SerializeToString()))


def onnx_predict(
    model: MLP | QuantizedMLP | onnx.ModelProto | str | os.PathLike[str],
    images: np.ndarray,
    optimize: bool = True,
    threads: int | None = None,
    requantization: Requantization | str = "gemmlowp",
) -> np.ndarray:
    """Logits of ``images`` from ONNX Runtime (CPU) for an ONNX file, a ``ModelProto`` or a
    mixprec model (exported first).

    Args:
        optimize: ONNX Runtime's graph optimizations on (default) or off.
        threads: intra-op threads (``None``: ONNX Runtime's default).
        requantization: for a mixprec model, how it is exported (see :func:`to_onnx`).
    """
    logits = onnx_session(model, optimize, threads, requantization).run(
        [OUTPUT], {INPUT: np.asarray(images, np.float32)}
    )[0]
    return np.asarray(logits)


def onnx_session(
    model: MLP | QuantizedMLP | onnx.ModelProto | str | os.PathLike[str],
    optimize: bool = True,
    threads: int | None = None,
    requantization: Requantization | str = "gemmlowp",
) -> onnxruntime.InferenceSession:
    """An ``onnxruntime.InferenceSession`` (CPU) of an ONNX file, a proto or a mixprec model."""
    onnx, ort = require_onnx()
    if isinstance(model, (str, os.PathLike)):
        source: str | bytes = str(model)
    elif isinstance(model, onnx.ModelProto):
        source = model.SerializeToString()
    elif isinstance(model, (MLP, QuantizedMLP)):
        source = to_onnx(model, requantization).SerializeToString()
    else:
        raise TypeError(
            f"cannot run a {type(model).__name__}; pass an ONNX file, a ModelProto, an MLP or a "
            "QuantizedMLP"
        )
    options = ort.SessionOptions()
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
