"""Serving a :class:`~mixprec.quant.QuantizedMLP`: integer-only, or float-simulated.

**Integer-only** (``path="integer"``, int8 schemes; the default for them), per layer, as
gemmlowp/TFLite run it (Jacob et al. 2018, section 2.3):

1. the float32 input is quantized once: ``q = clip(rint(x / s_x) + z_x, -128, 127)`` (float32
   division, ties to even: ONNX ``QuantizeLinear``; int4 activations clip to ``-8..7``, the
   codes carried in int8);
2. ``q @ q_w`` runs on the MAC unit (``int8->int32`` by default; any integer-accumulator MAC,
   e.g. ``int8->int16:saturate``, with its wrap/saturation events counted);
3. the bias is added in int32, with the zero-point term folded into it:
   ``acc = q @ q_w + (q_b - z_x * sum_k q_w[k, :])`` (= ``(q - z_x) @ q_w + q_b`` exactly);
4. hidden layers requantize ``acc`` to the next layer's int8 grid with the fixed-point multiplier
   of :mod:`mixprec.quant.requant` (``requantization="gemmlowp"``, default) or float32
   arithmetic (``"float"``, ONNX Runtime's); ReLU is the clamp's lower bound, the zero point;
5. the last layer's accumulator is dequantized: ``logits = float32(acc) * float32(s_x * s_w)``.

**Fake quant** (``path="fake_quant"``): float32 arithmetic on values that lie on the quantized
grids: each layer's input is rounded to its grid and dequantized, the weights are dequantized
(``s_w * q_w``), the product is a float32 matmul, the bias the dequantized int32 bias. It
differs from the integer path in the float32 rounding of the products' sum and of the
requantization (see ``tests/quant/test_serving.py``). The fp8 schemes' path: inputs rounded to
fp8 after dividing by their scale, the product on an fp8 MAC (``fp8_e4m3->fp32`` by default:
exact products, float32 sums), then multiplied by the two scales. int4 weight-only: float32
activations times the dequantized weights. Block schemes (``mxfp4``, ``nvfp4``, ...): inputs
encoded in blocks along K, the product on the exact block MAC (``<fmt>->fp32`` by default), see
:mod:`mixprec.quant.blockptq`.

:class:`QuantizedServing` (a model with a path, a MAC and a requantization) is a
``mixprec.nn.Servable``: ``mixprec.nn.evaluate`` and ``predict`` serve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np

from mixprec.formats import Format, IntFormat, to_storage
from mixprec.mac import MAC
from mixprec.mac.blockscaled import BlockMAC
from mixprec.nn import Events, Served, image_batch
from mixprec.quant.blockptq import block_forward
from mixprec.quant.requant import (
    Requantization,
    as_requantization,
    requantize,
    requantize_float,
)

if TYPE_CHECKING:
    from mixprec.quant.model import QuantizedMLP

__all__ = ["PATHS", "QuantizedServing", "Trace", "code_range", "quantize_input", "trace"]

PATHS = ("integer", "fake_quant")
_INT8_MAC = MAC.parse("int8->int32")


def quantize_input(
    x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, lo: int = -128, hi: int = 127
) -> np.ndarray:
    """int8 ``clip(rint(x / scale) + zero_point, lo, hi)`` in float32 (ONNX QuantizeLinear,
    then a clamp to the activation format's codes: int4 ``-8..7``)."""
    x = np.asarray(x, np.float32)
    codes = np.rint(x / np.float32(scale)) + np.float32(zero_point)
    return np.clip(codes, lo, hi).astype(np.int8)


def code_range(q: QuantizedMLP) -> tuple[int, int]:
    """The codes of an integer scheme's activations (int8 ``-128..127``, int4 ``-8..7``)."""
    fmt = q.scheme.activations
    if not isinstance(fmt, IntFormat):
        raise ValueError(f"scheme {q.scheme} has no integer activations")
    return int(fmt.min), int(fmt.max)


def _wrap_int32(x: np.ndarray) -> np.ndarray:
    return ((x + 2**31) & (2**32 - 1)) - 2**31


@dataclass
class Trace:
    """What one forward pass computed, layer by layer.

    Attributes:
        inputs: each layer's quantized input: int8 codes (int8 schemes), fp8 arrays (fp8),
            block element codes (block schemes), float32 (weight-only).
        accumulator: the last layer's int32 accumulator (int64 array; integer path only).
        logits: float32 ``(n, classes)``.
        events: MAC event counters per layer (role ``forward``).
    """

    inputs: list[np.ndarray]
    accumulator: np.ndarray | None
    logits: np.ndarray
    events: Events


def _as_mac(mac: MAC | str) -> MAC:
    return mac if isinstance(mac, MAC) else MAC.parse(mac)


def _check_mac(q: QuantizedMLP, path: str, mac: MAC | str | None) -> MAC | None:
    scheme = q.scheme
    if scheme.is_block and scheme.activations is not None:
        unit = _as_mac(mac) if mac is not None else BlockMAC(scheme.block)
        if not (isinstance(unit, BlockMAC) and unit.input == scheme.block):
            raise ValueError(
                f"scheme {scheme} multiplies on a block MAC of its own format, e.g. "
                f"'{scheme.block}->fp32' or '{scheme.block}->fp32:pairwise'; got {unit}"
            )
        return unit
    if path == "integer":
        unit = _as_mac(mac) if mac is not None else _INT8_MAC
        acc = unit.accumulator
        if not (isinstance(acc, IntFormat) and acc.frac_bits == 0):
            raise ValueError(
                f"the integer path needs a MAC with an integer accumulator, e.g. 'int8->int32' "
                f"or 'int8->int16:saturate'; got {unit}"
            )
        return unit
    if scheme.is_weight_only or scheme.is_integer:
        if mac is not None:
            raise ValueError(
                f"path 'fake_quant' of {scheme} multiplies in float32 BLAS and takes no MAC; "
                "use path='integer' to choose the MAC"
            )
        return None
    if mac is not None:
        return _as_mac(mac)
    if scheme.activations is None:  # pragma: no cover - weight-only returned above
        raise ValueError(f"scheme {scheme} has no activation format")
    return MAC.parse(f"{scheme.activations.name}->fp32")


def _matmul(
    mac: MAC, a: np.ndarray, b: np.ndarray, events: Events | None, layer: int
) -> np.ndarray:
    """``a @ b`` on the MAC, its events added to ``events`` (when counting)."""
    if events is None:
        return np.asarray(mac.matmul(a, b))
    y, stats = mac.matmul(a, b, stats=True)
    events.add(layer, "forward", stats)
    return np.asarray(y)


def _integer_forward(
    q: QuantizedMLP, x: np.ndarray, mac: MAC, requant: Requantization, events: Events | None
) -> Trace:
    inputs: list[np.ndarray] = []
    last = q.n_layers - 1
    h = quantize_input(x, q.input_scales_[0], q.input_zero_points_[0], *code_range(q))
    for i, layer in enumerate(q.integer_layers()):
        inputs.append(h)
        y = _matmul(mac, h, layer.weights, events, i + 1)
        acc = _wrap_int32(y.astype(np.int64) + layer.bias)
        if i == last:
            logits = acc.astype(np.float32) * layer.out_scale
            return Trace(inputs, acc, logits, events if events is not None else Events())
        z = layer.out_zero_point
        if requant is Requantization.GEMMLOWP:
            h = requantize(acc, layer.m0, layer.shift, z, lo=layer.lo, hi=layer.hi)
        else:
            h = requantize_float(acc, layer.multiplier, z, lo=layer.lo, hi=layer.hi)
    raise ValueError("a quantized model has at least one layer")  # pragma: no cover


def _float_forward(q: QuantizedMLP, x: np.ndarray, mac: MAC | None, events: Events | None) -> Trace:
    scheme, last = q.scheme, q.n_layers - 1
    if scheme.is_block:
        input_scales = None if scheme.activations is None else q.input_scales_
        decoded = q.dequantized_weights() if input_scales is None else []
        block_inputs, logits = block_forward(
            scheme.block, q.block_weights(), decoded, q.biases_, input_scales, x, mac, events
        )
        return Trace(block_inputs, None, logits, events if events is not None else Events())
    inputs: list[np.ndarray] = []
    weights = q.dequantized_weights()
    h = np.asarray(x, np.float32)
    for i in range(q.n_layers):
        b = q.biases_[i]
        if scheme.is_weight_only:
            inputs.append(h)
            y = h @ weights[i]
        elif scheme.is_integer:
            s_x, z_x = q.input_scales_[i], q.input_zero_points_[i]
            codes = quantize_input(h, s_x, z_x, *code_range(q))
            inputs.append(codes)
            y = ((codes.astype(np.float32) - np.float32(z_x)) * s_x) @ weights[i]
            if b is not None:
                b = (b.astype(np.float32) * (np.float32(s_x) * q.weight_scales_[i])).astype(
                    np.float32
                )
        else:
            if mac is None or scheme.activations is None:  # pragma: no cover - _check_mac
                raise ValueError(f"scheme {scheme} needs a MAC on this path")
            s_x = q.input_scales_[i]
            h8 = to_storage(h / s_x, cast(Format, scheme.activations), overflow="saturate")
            inputs.append(h8)
            acc = _matmul(mac, h8, q.weights_[i], events, i + 1)
            y = acc.astype(np.float32) * (np.float32(s_x) * q.weight_scales_[i])
        if b is not None:
            y = y + b
        h = np.maximum(y, 0) if i < last else y.astype(np.float32)
    return Trace(inputs, None, h, events if events is not None else Events())


@dataclass(frozen=True, init=False)
class QuantizedServing:
    """A calibrated ``QuantizedMLP`` with how to serve it: a ``mixprec.nn.Servable``.

    Args:
        model: a calibrated ``QuantizedMLP``.
        path: ``"integer"`` (int8 schemes; their default) or ``"fake_quant"`` (every scheme;
            the default of fp8 and weight-only schemes). See the module docstring.
        mac: the MAC of the quantized matmuls: integer path, any integer-accumulator MAC
            (default ``int8->int32``); fp8 schemes, a MAC with fp8 inputs (default
            ``<fmt>->fp32``); block schemes, a block MAC of their format (default
            ``<fmt>->fp32``). Other paths multiply in float32 BLAS and take none.
        requantization: ``"gemmlowp"`` (fixed-point multiplier; default) or ``"float"``
            (ONNX Runtime's float32 arithmetic); integer path only.

    Raises:
        NotCalibratedError: the model is not calibrated.
        ValueError: an unknown path, a path or MAC the scheme lacks.
    """

    model: QuantizedMLP
    path: str
    mac: MAC | None
    requantization: Requantization

    def __init__(
        self,
        model: QuantizedMLP,
        path: str | None = None,
        mac: MAC | str | None = None,
        requantization: Requantization | str = "gemmlowp",
    ) -> None:
        scheme = model.scheme
        model.weights_  # noqa: B018 (raises NotCalibratedError before calibration)
        if path is None:
            path = "integer" if scheme.is_integer else "fake_quant"
        if path not in PATHS:
            raise ValueError(f"unknown path {path!r}; use one of {', '.join(map(repr, PATHS))}")
        if path == "integer" and not scheme.is_integer:
            raise ValueError(
                f"scheme {scheme} has no integer-only path (it needs int8 weights and "
                "activations); use path='fake_quant'"
            )
        put = object.__setattr__
        put(self, "model", model)
        put(self, "path", path)
        put(self, "mac", _check_mac(model, path, mac))
        put(self, "requantization", as_requantization(requantization))

    @property
    def sizes(self) -> tuple[int, ...]:
        """The model's layer sizes."""
        return self.model.sizes

    def __str__(self) -> str:
        parts = [self.path] + ([str(self.mac)] if self.mac is not None else [])
        if self.path == "integer":
            parts.append(self.requantization.value)
        return f"{self.model.scheme}[{', '.join(parts)}]"

    def forward(self, x: np.ndarray, count_events: bool = True) -> Trace:
        """One forward pass of a float32 batch ``x``, keeping each layer's quantized input."""
        events = Events() if count_events else None
        if self.path == "integer":
            if self.mac is None:  # pragma: no cover - the integer path always has a MAC
                raise ValueError("the integer path needs a MAC")
            return _integer_forward(self.model, x, self.mac, self.requantization, events)
        return _float_forward(self.model, x, self.mac, events)

    def serve(self, images: np.ndarray, batch_size: int = 1000, stats: bool = True) -> Served:
        """Logits of ``images`` batch by batch, and (with ``stats``) the MAC events per layer.

        Scales are static, so the integer path gives the same bits at any batch size; the
        float paths differ only by float32 BLAS rounding.

        Raises:
            ValueError: images of the wrong shape, a batch size below 1.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        x = image_batch(images, self.sizes[0])
        out = np.empty((len(x), self.sizes[-1]), np.float32)
        events = Events()
        for lo in range(0, len(x), batch_size):
            result = self.forward(x[lo : lo + batch_size], stats)
            out[lo : lo + batch_size] = result.logits
            events.merge(result.events)
        return Served(out, events, str(self))

    def predict(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """float32 logits ``(n, classes)`` of ``images``."""
        return self.serve(images, batch_size, stats=False).logits


def trace(
    q: QuantizedMLP,
    images: np.ndarray,
    path: str | None = None,
    mac: MAC | str | None = None,
    requantization: Requantization | str = "gemmlowp",
) -> Trace:
    """One forward pass over all ``images``, keeping each layer's quantized input."""
    serving = QuantizedServing(q, path, mac, requantization)
    return serving.forward(image_batch(images, q.sizes[0]))
