"""Quantization-aware training: the MLP's forward and backward passes through fake quantization.

:class:`FakeQuantMLP` wraps a float ``MLP`` (its float32 weights are the master copy that the
optimizer updates) and runs every step on fake-quantized tensors:

* **weights**, re-quantized at every step: per output channel (or per tensor) with the min-max
  scale ``max |w_j| / q_max`` (as post-training quantization's weight observer; fp8 formats:
  :mod:`mixprec.quant.fakequant`, products on the serving MAC), per group of
  ``group_size`` inputs (:mod:`mixprec.quant.groupwise`), or, with an ``accumulator`` of P
  bits, on the accumulator-aware scales of :func:`mixprec.quant.a2q.a2q_scales` with the codes
  rounded within the budget (:func:`mixprec.quant.a2q.round_within_budget`: to nearest, then the
  codes that rounded up the most step toward zero until the bound holds), so the constraint
  holds at every step, by construction. (A2Q rounds toward zero, Colbert et al. 2023, section
  3.2; with a budget far below the fan-in, e.g. 8 units for 784 inputs at P = 12, that zeroes
  every weight.) With ``learn_scales``, LSQ's learned steps (Esser et al. 2020);
* **activations** (every layer's input, the image included), when the scheme has an activation
  format: ``s * (clip(rint(x / s) + z, fmt.min, fmt.max) - z)``, ``s`` and ``z`` from a moving
  min/max observer: the batch's min and max averaged with weight ``averaging`` (the first batch
  sets them), for ``warmup_steps`` training steps, then frozen;
* **biases** as the integer schemes store them: ``round(b / (s_x s_w))`` in int32, times
  ``s_x s_w``.

The backward pass is the clipped straight-through estimator (:mod:`mixprec.quant.ste`): the
gradient of a fake-quantized tensor passes to its float value where that value lay inside the
representable range, and is 0 where it saturated. Matmuls are float32 ``numpy.matmul`` (the
float values on the grids multiply as the quantized model's ``fake_quant`` path does), so after
:meth:`FakeQuantMLP.export` the quantized model's fake-quant forward gives the same logits bit
for bit (``tests/quant/test_qat.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixprec.formats import Format, IntFormat
from mixprec.nn.layers import relu_backward, softmax_cross_entropy
from mixprec.nn.model import MLP
from mixprec.quant import a2q, groupwise
from mixprec.quant.fakequant import (
    element_format,
    fake_input,
    float_mac,
    float_product,
    minmax_weights,
)
from mixprec.quant.observers import MovingMinMax, make_observer
from mixprec.quant.ste import lsq_gradient

__all__ = ["FakeQuantMLP", "MovingMinMax", "QATStep", "check_options"]


@dataclass
class _Layer:
    """What one layer's forward pass keeps for its backward pass."""

    x: np.ndarray  # the float input (LSQ's step gradient needs it)
    x_q: np.ndarray  # fake-quantized input
    x_inside: np.ndarray | None  # the input's STE mask (None: not quantized)
    w_q: np.ndarray  # fake-quantized weights
    w_inside: np.ndarray  # the weights' STE mask
    z: np.ndarray  # pre-activation


@dataclass(frozen=True)
class QATStep:
    """One training step's loss, correct predictions and parameter gradients."""

    loss: float
    correct: int
    grads: list[np.ndarray] = field(repr=False)


class FakeQuantMLP:
    """A float ``MLP`` trained through fake quantization (see the module docstring).

    Args:
        model: the float model (its arrays are the master weights, updated in place).
        weights: the weight format (``"int8"``, ``"int4"``, ``"int3"``, ``"int2"``, or a float
            element format: ``"fp8_e4m3"``, ``"fp8_e5m2"``).
        activations: the activation format, or ``None`` (weight-only: float32 activations).
        symmetric_activations: zero point 0; else a zero point per tensor (integers only).
        group_size: weight scales per group of inputs (weight-only schemes).
        per_channel: one weight scale per output channel; else one per tensor.
        accumulator: P, to keep every layer's codes inside the A2Q bound of a P-bit
            accumulator; inputs range over the activation format (``fmt.min .. fmt.max``),
            hidden layers' over ``max(z, fmt.min) .. fmt.max`` (after the ReLU's clamp).
        bound: ``"a2q+"`` or ``"a2q"``.
        learn_scales: LSQ: learn the weight scales (per channel) and, after the warm-up, the
            activation scales (symmetric only).
        warmup_steps, averaging: the activation observers' (see :class:`MovingMinMax`).
        scale_refresh: with ``accumulator``, the steps between searches of the accumulator-aware
            scales (:func:`mixprec.quant.a2q.a2q_quantize`); in between, the codes of the
            current weights are rounded within the budget on the last scales.

    Raises:
        ValueError: a format it cannot train (block-scaled, wider than int8), or options that
            do not go together.
    """

    def __init__(
        self,
        model: MLP,
        weights: Format | str = "int4",
        activations: Format | str | None = "int4",
        symmetric_activations: bool = True,
        group_size: int | None = None,
        per_channel: bool = True,
        accumulator: int | None = None,
        bound: str = "a2q+",
        learn_scales: bool = False,
        warmup_steps: int = 100,
        averaging: float = 0.1,
        scale_refresh: int = 50,
    ) -> None:
        self.model = model
        self.weight_format = element_format(weights)
        self.activation_format = None if activations is None else element_format(activations)
        integer = isinstance(self.weight_format, IntFormat) and (
            self.activation_format is None or isinstance(self.activation_format, IntFormat)
        )
        check_options(
            self.activation_format is not None, symmetric_activations, group_size, accumulator,
            learn_scales, integer, per_channel,
        )  # fmt: skip
        self.per_channel = per_channel
        act = self.activation_format
        self._mac = None if act is None or isinstance(act, IntFormat) else float_mac(act)
        self.symmetric_activations = symmetric_activations
        self.group_size, self.accumulator, self.bound = group_size, accumulator, bound
        self.learn_scales = learn_scales
        fmt = self.activation_format
        self.observers = (
            []
            if fmt is None
            else [
                MovingMinMax(fmt, symmetric_activations, averaging, warmup_steps)
                for _ in model.weights
            ]
        )
        q_max = float(self.weight_format.max)
        self.weight_steps = [
            np.maximum(np.abs(w).max(axis=0) / np.float32(q_max), np.float32(1e-8))
            for w in model.weights
        ]  # LSQ's learned weight steps (initialised at the min-max scales)
        self.input_steps = [np.ones((), np.float32) for _ in model.weights]  # set at the freeze
        self._started = [False for _ in model.weights]
        self.scale_refresh = scale_refresh
        self._acc_scales: list[np.ndarray | None] = [None for _ in model.weights]
        self.steps_ = 0

    def describe(self) -> str:
        """A short name of what is fake-quantized: ``w4a4``, ``w8a8-asym:acc16``, ``w4:g32``,
        ``w[fp8_e4m3]a[fp8_e4m3]``, ``w8a8:per-tensor``."""

        def short(f: Format) -> str:
            return str(f.bits) if isinstance(f, IntFormat) else f"[{f.name}]"

        text = f"w{short(self.weight_format)}"
        if self.activation_format is not None:
            text += f"a{short(self.activation_format)}"
            text += "" if self.symmetric_activations else "-asym"
        if not self.per_channel:
            text += ":per-tensor"
        if self.group_size is not None:
            text += f":g{self.group_size}"
        if self.accumulator is not None:
            text += f":acc{self.accumulator}-{self.bound}"
        return text + (":lsq" if self.learn_scales else "")

    def calibrate(self, images: np.ndarray, observer: str = "minmax", **options: Any) -> None:
        """Set and freeze every activation range from calibration images (post-training
        quantization's observers on the float model's activations, as ``mixprec.nn.quantize``
        calibrates): the fake-quantized forward pass is then that PTQ model's.

        Args:
            images: ``(n, features)`` float32 images.
            observer: ``"minmax"``, ``"percentile"`` or ``"mse"``; ``options`` are its own.
        """
        h = np.asarray(images, np.float32)
        for i, (w, b) in enumerate(zip(self.model.weights, self.model.biases, strict=True)):
            if self.observers:
                obs = self.observers[i]
                fitted = make_observer(observer, obs.fmt, obs.symmetric, None, **options).fit(h)
                obs.min_, obs.max_ = float(fitted.min_), float(fitted.max_)
                obs.steps_ = max(obs.warmup_steps, 1)
            h = h @ w + (0 if b is None else b)
            h = np.maximum(h, 0) if i < self.model.n_layers - 1 else h

    def snapshot(self) -> dict[str, Any]:
        """A copy of the state a training step changes besides the parameters (observers,
        step counter, cached accumulator scales, LSQ's started flags and input steps)."""
        return copy.deepcopy(
            {name: getattr(self, name) for name in (
                "observers", "steps_", "_acc_scales", "_started", "input_steps",
            )}
        )  # fmt: skip

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Put back a :meth:`snapshot` (the input steps in place: the optimizer holds them)."""
        for name, value in snapshot.items():
            if name == "input_steps":
                for mine, saved in zip(self.input_steps, value, strict=True):
                    mine[...] = saved
            else:
                setattr(self, name, value)

    def n_learned(self) -> int:
        """The number of extra learned arrays (LSQ steps), after the model's parameters."""
        return 2 * self.model.n_layers if self.learn_scales else 0

    # -- quantization of one layer's tensors -------------------------------------------------
    def input_range(self, i: int) -> tuple[int, int]:
        """The integer range of layer ``i``'s input codes (see ``accumulator``)."""
        fmt = self.activation_format
        if fmt is None:
            raise ValueError("weight-only schemes have no integer inputs")
        lo = int(fmt.min)
        if i > 0:
            lo = max(self.input_qparams(i)[1], lo)
        return lo, int(fmt.max)

    def input_qparams(self, i: int) -> tuple[np.float32, int]:
        """Layer ``i``'s input ``(scale, zero_point)``: observed, or learned after warm-up."""
        scale, zero = self.observers[i].qparams()
        if self.learn_scales and self.observers[i].frozen:
            return np.float32(self.input_steps[i]), 0
        return scale, zero

    def weight_qparams(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Layer ``i``'s ``(codes, scales)``: float32 codes ``(in, out)`` and float32 scales."""
        w, f = self.model.weights[i], self.weight_format
        q_max = float(f.max)
        if self.accumulator is not None:
            lo, hi = self.input_range(i)
            cached = self._acc_scales[i]
            if cached is None:  # chosen afresh every `scale_refresh` steps
                cached = a2q.a2q_quantize(w, f, self.accumulator, lo, hi, self.bound)[1]
                self._acc_scales[i] = cached
            floor = np.nextafter(np.abs(w).max(axis=0) / np.float32(q_max), np.float32(np.inf))
            s = np.maximum(cached, floor).astype(np.float32)
            limit = a2q.budget(self.accumulator, lo, hi, self.bound)
            v = w.astype(np.float64) / s.astype(np.float64)
            codes = a2q.round_within_budget(v, limit, self.bound, int(q_max))
            return codes.astype(np.float32), s
        if self.group_size is not None:
            s = groupwise.group_scales(w, f, self.group_size)
            full = groupwise.expand_groups(s, w.shape[0], self.group_size)
            return np.clip(np.rint(w / full), -q_max, q_max).astype(np.float32), s
        if not (self.per_channel and isinstance(f, IntFormat)):  # float formats, per tensor
            return minmax_weights(w, f, self.per_channel)
        if self.learn_scales:
            s = np.maximum(self.weight_steps[i], np.float32(1e-8)).astype(np.float32)
        else:
            s = (np.abs(w).max(axis=0) / np.float32(q_max)).astype(np.float32)
            s = np.where(s > 0, s, np.float32(1)).astype(np.float32)
        return np.clip(np.rint(w / s), -q_max, q_max).astype(np.float32), s

    def _weights(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        codes, s = self.weight_qparams(i)
        if self.group_size is not None:
            values = groupwise.dequantize_groupwise(codes, s, self.group_size)
            return values, np.ones(codes.shape, bool), s
        w, q_max = self.model.weights[i], float(self.weight_format.max)
        inside = np.abs(w / s) <= q_max if self.accumulator is None else np.ones(w.shape, bool)
        return (codes * s).astype(np.float32), inside, s

    def _input(self, i: int, h: np.ndarray, training: bool) -> tuple[np.ndarray, np.ndarray]:
        fmt = self.activation_format
        assert fmt is not None
        if training:
            self.observers[i].update(h)
            if self.learn_scales and self.observers[i].frozen and not self._started[i]:
                self.input_steps[i][...] = self.observers[i].qparams()[0]
                self._started[i] = True
        s, z = self.input_qparams(i)
        return fake_input(h, s, z, fmt)

    def _bias(self, i: int, s_x: np.float32, s_w: np.ndarray) -> np.ndarray | None:
        b = self.model.biases[i]
        if b is None or not isinstance(self.activation_format, IntFormat):
            return b  # weight-only and float schemes keep float32 biases
        product = np.float64(s_x) * np.asarray(s_w, np.float64)
        codes = np.clip(np.rint(np.asarray(b, np.float64) / product), -(2**31), 2**31 - 1)
        return (codes.astype(np.int32).astype(np.float32) * (s_x * s_w)).astype(np.float32)

    # -- passes ------------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> tuple[np.ndarray, list[_Layer]]:
        """Logits (float32) of a batch, and what the backward pass needs.

        ``training`` updates the activation observers (until they freeze).
        """
        h = np.asarray(x, np.float32)
        kept: list[_Layer] = []
        last = self.model.n_layers - 1
        for i in range(self.model.n_layers):
            x_inside = None
            raw = h
            if self.activation_format is not None:
                h, x_inside = self._input(i, h, training)  # observe first: weights may need it
            w_q, w_inside, s_w = self._weights(i)
            b = self.model.biases[i]
            if self.activation_format is not None:
                b = self._bias(i, self.input_qparams(i)[0], s_w)
            if self._mac is not None:  # float activations: the product as their path serves it
                codes = self.weight_qparams(i)[0]
                fmts = (self.activation_format, self.weight_format)
                z = float_product(raw, self.input_qparams(i)[0], codes, s_w, fmts, self._mac)
            else:
                z = h @ w_q
            if b is not None:
                z = z + b
            kept.append(_Layer(raw, h, x_inside, w_q, w_inside, z))
            h = np.maximum(z, 0) if i < last else z.astype(np.float32)
        return h, kept

    def step(self, x: np.ndarray, labels: np.ndarray) -> QATStep:
        """Forward (training: observers update), loss, and STE gradients of one batch.

        Returns:
            The gradients in the order of ``model.parameters()``, then (LSQ) the weight steps
            and the input steps of every layer.
        """
        if self.accumulator is not None and self.steps_ % self.scale_refresh == 0:
            self._acc_scales = [None for _ in self.model.weights]
        self.steps_ += 1
        logits, kept = self.forward(x, training=True)
        correct = int(np.count_nonzero(logits.argmax(axis=1) == labels))
        loss, g = softmax_cross_entropy(logits, labels)
        grads: list[np.ndarray] = []
        w_steps: list[np.ndarray] = []
        x_steps: list[np.ndarray] = []
        for i in reversed(range(self.model.n_layers)):
            layer = kept[i]
            if i < self.model.n_layers - 1:
                g = relu_backward(g, np.maximum(layer.z, 0))
            dw = layer.x_q.T @ g
            db = None if self.model.biases[i] is None else g.sum(axis=0)
            dx = g @ layer.w_q.T if (i > 0 or self.learn_scales) else None
            if self.learn_scales:
                w_steps.insert(0, self._weight_step_grad(i, dw))
                x_steps.insert(0, self._input_step_grad(i, layer, dx))
            dw = np.where(layer.w_inside, dw, 0).astype(np.float32)
            grads[:0] = [dw] if db is None else [dw, db.astype(np.float32)]
            if i > 0 and dx is not None:
                g = dx if layer.x_inside is None else np.where(layer.x_inside, dx, 0)
                g = g.astype(np.float32)
        return QATStep(float(loss), correct, grads + w_steps + x_steps)

    def _weight_step_grad(self, i: int, dw: np.ndarray) -> np.ndarray:
        w, s = self.model.weights[i], self.weight_steps[i]
        _, grad_s = lsq_gradient(w, s, self.weight_format, dw, axis=0)
        return grad_s.astype(np.float32)

    def _input_step_grad(self, i: int, layer: _Layer, dx: np.ndarray | None) -> np.ndarray:
        if dx is None or self.activation_format is None or not self.observers[i].frozen:
            return np.zeros((), np.float32)
        _, grad_s = lsq_gradient(layer.x, self.input_steps[i], self.activation_format, dx)
        return np.asarray(grad_s, np.float32)

    def loss(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Mean cross-entropy of a batch through the (frozen) fake-quantized forward pass."""
        logits, _ = self.forward(x)
        return float(softmax_cross_entropy(logits, labels)[0])


def check_options(
    has_activations: bool,
    symmetric_activations: bool,
    group_size: int | None,
    accumulator: int | None,
    learn_scales: bool,
    integer: bool = True,
    per_channel: bool = True,
) -> None:
    """Refuse options of :class:`FakeQuantMLP` that do not go together (one line each).

    Raises:
        ValueError: group-wise scales with an accumulator bound or LSQ; an accumulator bound
            without integer activations, with LSQ or with per-tensor weights; LSQ with
            asymmetric activations, float formats or per-tensor weights; asymmetric float
            activations.
    """
    if group_size is not None and (accumulator is not None or learn_scales):
        raise ValueError("group-wise scales go with neither an accumulator bound nor LSQ")
    if accumulator is not None and (not has_activations or learn_scales or not integer):
        raise ValueError("an accumulator bound needs integer activations and no LSQ")
    if (accumulator is not None or learn_scales) and not per_channel:
        raise ValueError(
            "an accumulator bound and LSQ take per-channel weights (a -per-channel scheme)"
        )
    if learn_scales and not integer:
        raise ValueError("learned scales (LSQ) take integer formats, not float ones")
    if learn_scales and has_activations and not symmetric_activations:
        raise ValueError("learned scales (LSQ) need symmetric activations (a scheme without -asym)")
    if not integer and not symmetric_activations:
        raise ValueError("float activations are symmetric (zero point 0)")
