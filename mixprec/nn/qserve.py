"""Serving a :class:`~mixprec.nn.ptq.QuantizedMLP`: integer-only, or float-simulated.

**Integer-only** (``path="integer"``, int8 schemes; the default for them), per layer, as
gemmlowp/TFLite run it (Jacob et al. 2018, section 2.3):

1. the float32 input is quantized once: ``q = clip(rint(x / s_x) + z_x, -128, 127)`` (float32
   division, ties to even: ONNX ``QuantizeLinear``);
2. ``q @ q_w`` runs on the MAC unit (``int8->int32`` by default; any integer-accumulator MAC,
   e.g. ``int8->int16:saturate``, with its wrap/saturation events counted);
3. the bias is added in int32, with the zero-point term folded into it:
   ``acc = q @ q_w + (q_b - z_x * sum_k q_w[k, :])`` (= ``(q - z_x) @ q_w + q_b`` exactly);
4. hidden layers requantize ``acc`` to the next layer's int8 grid with the fixed-point multiplier
   of :mod:`mixprec.nn.requant` (``requantization="gemmlowp"``, default) or float32 arithmetic
   (``"float"``, ONNX Runtime's); ReLU is the clamp's lower bound, the zero point;
5. the last layer's accumulator is dequantized: ``logits = float32(acc) * float32(s_x * s_w)``.

**Fake quant** (``path="fake_quant"``): float32 arithmetic on values that lie on the quantized
grids: each layer's input is rounded to its grid and dequantized, the weights are dequantized
(``s_w * q_w``), the product is a float32 matmul, the bias the dequantized int32 bias. It
differs from the integer path in the float32 rounding of the products' sum and of the
requantization (see ``tests/nn/test_ptq_serving.py``). The fp8 schemes' path: inputs rounded to
fp8 after dividing by their scale, the product on an fp8 MAC (``fp8_e4m3->fp32`` by default:
exact products, float32 sums), then multiplied by the two scales. int4 weight-only: float32
activations times the dequantized weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mixprec.formats import IntFormat, to_storage
from mixprec.mac import MAC, MacStats
from mixprec.nn.evaluate import Evaluation, image_batch
from mixprec.nn.layers import log_softmax
from mixprec.nn.requant import (
    Requantization,
    as_requantization,
    quantize_multiplier,
    requantize,
    requantize_float,
)

if TYPE_CHECKING:
    from mixprec.nn.ptq import QuantizedMLP

__all__ = ["PATHS", "Events", "Trace", "evaluate", "predict", "quantize_input", "trace"]

PATHS = ("integer", "fake_quant")
_INT8_MAC = MAC.parse("int8->int32")


def quantize_input(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """int8 ``clip(rint(x / scale) + zero_point, -128, 127)`` in float32 (ONNX QuantizeLinear)."""
    x = np.asarray(x, np.float32)
    codes = np.rint(x / np.float32(scale)) + np.float32(zero_point)
    return np.clip(codes, -128, 127).astype(np.int8)


@dataclass(frozen=True)
class _IntegerLayer:
    """The integer-only constants of one layer, derived from the learned scales."""

    weights: np.ndarray  # int8 (in, out)
    bias: np.ndarray  # int64 (out,): q_b - z_x * colsum(q_w)
    m0: np.ndarray  # int64 (out,) fixed-point multipliers (hidden layers)
    shift: np.ndarray  # int64 (out,)
    multiplier: np.ndarray  # float32 (out,): M for requantization="float"
    out_zero_point: int  # the next layer's input zero point
    out_scale: np.ndarray  # float32 (out,): s_x * s_w, dequantizes the last layer


def integer_layers(q: QuantizedMLP) -> list[_IntegerLayer]:
    """The integer-path constants of every layer (cached on the model)."""
    if "integer" in q._cache:
        return q._cache["integer"]
    layers = []
    for i in range(q.n_layers):
        w = q.weights_[i]
        out = w.shape[1]
        s_x, z_x = q.input_scales_[i], int(q.input_zero_points_[i])
        s_w = np.broadcast_to(q.weight_scales_[i], (out,))
        bias = np.zeros(out, np.int64) if q.biases_[i] is None else q.biases_[i].astype(np.int64)
        bias = bias - z_x * w.astype(np.int64).sum(axis=0)
        m0 = np.zeros(out, np.int64)
        shift = np.zeros(out, np.int64)
        multiplier = np.zeros(out, np.float32)
        z_y = 0
        if i < q.n_layers - 1:
            s_y, z_y = np.float64(q.input_scales_[i + 1]), int(q.input_zero_points_[i + 1])
            real = np.float64(s_x) * s_w.astype(np.float64) / s_y
            for j, m in enumerate(real):
                m0[j], shift[j] = quantize_multiplier(float(m))
            multiplier = real.astype(np.float32)
        out_scale = (np.float32(s_x) * s_w.astype(np.float32)).astype(np.float32)
        layers.append(_IntegerLayer(w, bias, m0, shift, multiplier, z_y, out_scale))
    q._cache["integer"] = layers
    return layers


class Events:
    """MAC event counts per layer (layers count from 1), summed over batches."""

    def __init__(self) -> None:
        self.by_layer: dict[int, MacStats] = {}

    def add(self, layer: int, stats: MacStats) -> None:
        previous = self.by_layer.get(layer)
        self.by_layer[layer] = stats if previous is None else previous + stats

    def merge(self, other: Events) -> None:
        for layer, stats in other.by_layer.items():
            self.add(layer, stats)

    def as_dict(self) -> dict[str, dict[str, int]]:
        """``{"layer1.forward": {...}, ..., "forward": {...}}`` (the total), as ``evaluate``'s."""
        out = {f"layer{k}.forward": v.as_dict() for k, v in sorted(self.by_layer.items())}
        if self.by_layer:
            out["forward"] = sum(self.by_layer.values(), MacStats()).as_dict()
        return out


def _wrap_int32(x: np.ndarray) -> np.ndarray:
    return ((x + 2**31) & (2**32 - 1)) - 2**31


@dataclass
class Trace:
    """What one forward pass computed, layer by layer.

    Attributes:
        inputs: each layer's quantized input: int8 codes (int8 schemes), fp8 arrays (fp8),
            float32 (weight-only).
        accumulator: the last layer's int32 accumulator (int64 array; integer path only).
        logits: float32 ``(n, classes)``.
        events: MAC event counters per layer (``Events``).
    """

    inputs: list[np.ndarray]
    accumulator: np.ndarray | None
    logits: np.ndarray
    events: Events


def _check_mac(q: QuantizedMLP, path: str, mac: Any) -> MAC | None:
    scheme = q.scheme
    if path == "integer":
        mac = MAC.parse(mac) if mac is not None else _INT8_MAC
        acc = mac.accumulator
        if not (isinstance(acc, IntFormat) and acc.frac_bits == 0):
            raise ValueError(
                f"the integer path needs a MAC with an integer accumulator, e.g. 'int8->int32' "
                f"or 'int8->int16:saturate'; got {mac}"
            )
        return mac
    if scheme.is_weight_only or scheme.is_integer:
        if mac is not None:
            raise ValueError(
                f"path 'fake_quant' of {scheme} multiplies in float32 BLAS and takes no MAC; "
                "use path='integer' to choose the MAC"
            )
        return None
    if mac is not None:
        return MAC.parse(mac)
    assert scheme.activations is not None  # not weight-only: checked above
    return MAC.parse(f"{scheme.activations.name}->fp32")


def _matmul(mac: MAC, a: np.ndarray, b: np.ndarray, events: Events | None, layer: int) -> Any:
    """``a @ b`` on the MAC, its events added to ``events`` (when counting)."""
    if events is None:
        return mac.matmul(a, b)
    y, stats = mac.matmul(a, b, stats=True)
    events.add(layer, stats)
    return y


def _forward(
    q: QuantizedMLP,
    x: np.ndarray,
    path: str,
    mac: MAC | None,
    requant: Requantization,
    count_events: bool = True,
) -> Trace:
    events = Events()
    counter = events if count_events else None
    inputs: list[np.ndarray] = []
    scheme, last = q.scheme, q.n_layers - 1
    if path == "integer":
        assert mac is not None
        layers = integer_layers(q)
        h = quantize_input(x, q.input_scales_[0], q.input_zero_points_[0])
        for i, layer in enumerate(layers):
            inputs.append(h)
            y = _matmul(mac, h, layer.weights, counter, i + 1)
            acc = _wrap_int32(np.asarray(y).astype(np.int64) + layer.bias)
            if i == last:
                logits = acc.astype(np.float32) * layer.out_scale
                return Trace(inputs, acc, logits, events)
            z = layer.out_zero_point
            if requant is Requantization.GEMMLOWP:
                h = requantize(acc, layer.m0, layer.shift, z, lo=max(z, -128))
            else:
                h = requantize_float(acc, layer.multiplier, z, lo=max(z, -128))
    weights = q.dequantized_weights()
    h = np.asarray(x, np.float32)
    for i in range(q.n_layers):
        b = q.biases_[i]
        if scheme.is_weight_only:
            inputs.append(h)
            y = h @ weights[i]
        elif scheme.is_integer:
            s_x, z_x = q.input_scales_[i], q.input_zero_points_[i]
            codes = quantize_input(h, s_x, z_x)
            inputs.append(codes)
            y = ((codes.astype(np.float32) - np.float32(z_x)) * s_x) @ weights[i]
            if b is not None:
                b = (b.astype(np.float32) * (np.float32(s_x) * q.weight_scales_[i])).astype(
                    np.float32
                )
        else:
            assert mac is not None and scheme.activations is not None
            s_x = q.input_scales_[i]
            h8 = to_storage(h / s_x, scheme.activations, overflow="saturate")
            inputs.append(h8)
            acc = _matmul(mac, h8, q.weights_[i], counter, i + 1)
            y = np.asarray(acc).astype(np.float32) * (np.float32(s_x) * q.weight_scales_[i])
        if b is not None:
            y = y + b
        h = np.maximum(y, 0) if i < last else y.astype(np.float32)
    return Trace(inputs, None, h, events)


def _prepare(q: QuantizedMLP, images: Any, path: str | None) -> tuple[np.ndarray, str]:
    q.weights_  # noqa: B018 (raises NotCalibratedError before calibration)
    scheme = q.scheme
    if path is None:
        path = "integer" if scheme.is_integer else "fake_quant"
    if path not in PATHS:
        raise ValueError(f"unknown path {path!r}; use one of {', '.join(map(repr, PATHS))}")
    if path == "integer" and not scheme.is_integer:
        raise ValueError(
            f"scheme {scheme} has no integer-only path (it needs int8 weights and activations); "
            "use path='fake_quant'"
        )
    return image_batch(images, q.sizes[0]), path


def trace(
    q: QuantizedMLP,
    images: Any,
    path: str | None = None,
    mac: Any = None,
    requantization: Requantization | str = "gemmlowp",
) -> Trace:
    """One forward pass over all ``images``, keeping each layer's quantized input."""
    x, path = _prepare(q, images, path)
    return _forward(q, x, path, _check_mac(q, path, mac), as_requantization(requantization))


def predict(
    q: QuantizedMLP,
    images: Any,
    path: str | None = None,
    mac: Any = None,
    requantization: Requantization | str = "gemmlowp",
    batch_size: int = 1000,
    stats: bool = False,
) -> Any:
    """Logits of ``images`` served by the quantized model.

    Args:
        q: a calibrated ``QuantizedMLP``.
        images: float32 ``(n, features)`` (one image ``(features,)`` is a batch of one).
        path: ``"integer"`` (int8 schemes; their default) or ``"fake_quant"`` (every scheme;
            the default of fp8 and weight-only schemes). See the module docstring.
        mac: the MAC of the quantized matmuls: integer path, any integer-accumulator MAC
            (default ``int8->int32``); fp8 schemes, a MAC with fp8 inputs (default
            ``<fmt>->fp32``). Other paths multiply in float32 BLAS and take none.
        requantization: ``"gemmlowp"`` (fixed-point multiplier; default) or ``"float"``
            (ONNX Runtime's float32 arithmetic); integer path only.
        batch_size: images per forward pass. Scales are static, so the integer path gives the
            same bits at any batch size; the float paths differ only by float32 BLAS rounding.
        stats: also return the MAC event counts, ``{"layer1.forward": {...}, "forward": {...}}``.

    Returns:
        float32 logits ``(n, classes)``, or ``(logits, events)`` with ``stats``.

    Raises:
        NotCalibratedError: the model is not calibrated.
        ValueError: images of the wrong shape, an unknown path, a path or MAC the scheme lacks.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    x, path = _prepare(q, images, path)
    mac_unit = _check_mac(q, path, mac)
    requant = as_requantization(requantization)
    out = np.empty((len(x), q.sizes[-1]), np.float32)
    events = Events()
    for lo in range(0, len(x), batch_size):
        result = _forward(q, x[lo : lo + batch_size], path, mac_unit, requant, stats)
        out[lo : lo + batch_size] = result.logits
        events.merge(result.events)
    return (out, events.as_dict()) if stats else out


def evaluate(
    q: QuantizedMLP,
    split: Any,
    path: str | None = None,
    mac: Any = None,
    requantization: Requantization | str = "gemmlowp",
    batch_size: int = 1000,
) -> Evaluation:
    """Accuracy, loss and MAC events of the quantized model on a ``Split`` (see :func:`predict`).

    Returns:
        An ``Evaluation``; its ``policy`` names the scheme, path, MAC and requantization.
    """
    logits, events = predict(q, split.images, path, mac, requantization, batch_size, stats=True)
    labels = np.asarray(split.labels)
    n = len(labels)
    predictions = logits.argmax(axis=1).astype(np.int64)
    if n:
        with np.errstate(over="ignore", invalid="ignore"):
            logp = log_softmax(logits.astype(np.float64))
        loss = float(-logp[np.arange(n), labels].mean())
        accuracy = float(np.count_nonzero(predictions == labels) / n)
    else:
        loss = accuracy = float("nan")
    path = path or ("integer" if q.scheme.is_integer else "fake_quant")
    parts = [path]
    mac_unit = _check_mac(q, path, mac)
    if mac_unit is not None:
        parts.append(str(mac_unit))
    if path == "integer":
        parts.append(as_requantization(requantization).value)
    return Evaluation(
        accuracy=accuracy, loss=loss, n=n, predictions=predictions, logits=logits,
        events=events, policy=f"{q.scheme}[{', '.join(parts)}]",
    )  # fmt: skip
