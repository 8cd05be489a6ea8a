"""A quantization scheme per layer: a base scheme with overrides, and the model it quantizes.

**String form** (``mixprec quantize --scheme``, sweep serve entries ``ptq:...``), the syntax of
:class:`mixprec.nn.layered.LayerPolicy`::

    BASE[@LAYER=SCHEME]...     e.g.  int4-weight-only@1=int8-per-channel@3=int8-per-channel

``BASE`` and each override are names of :data:`mixprec.quant.SCHEMES`; layers count from 1.
An override gives its layer every part of that scheme: the weight format and granularity, the
input format, symmetry, the bias format. ``str`` is canonical (overrides by layer, scheme names
canonical, overrides equal to the base dropped) and ``LayerScheme.parse(str(s)) == s``.

**Calibration** (:class:`LayeredQuantizedMLP`): a scheme's calibration observes each layer's
input in the *float* model, so layer ``l`` of a per-layer model is exactly layer ``l`` of the
model quantized uniformly with ``l``'s scheme; each distinct scheme is calibrated once and each
layer takes its own layer's arrays.

**Serving** (:class:`LayeredServing`): the layers are cut into *segments*, the longest runs of
consecutive layers that one ``QuantizedMLP`` serves as declared: the same scheme, or int8
schemes that differ only in granularity and symmetry (the integer path takes a per-tensor or
per-channel weight scale and a zero point per layer, so such a run stays integer-only, each
layer requantized into the next layer's int8 grid). Each segment is served by its own path;
between segments the float32 output passes through ReLU into the next. A model whose every
layer is integer is one segment: integer-only end to end, bit for bit as a uniform int8 model
with those arrays.

>>> str(LayerScheme.parse("int4-weight-only@3=INT8_per_channel@1=int8-per-channel"))
'int4-weight-only@1=int8-per-channel@3=int8-per-channel'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixprec.data import Split
from mixprec.nn import MLP, Evaluation, evaluate
from mixprec.nn.cost import LayerPrecision
from mixprec.nn.layered import join_layers, split_layers
from mixprec.quant.learned import Learned
from mixprec.quant.model import QuantizedMLP
from mixprec.quant.model import quantize as quantize_uniform
from mixprec.quant.observers import NotCalibratedError
from mixprec.quant.schemes import Scheme, scheme_precision

__all__ = ["LayerScheme", "LayeredQuantizedMLP", "parse_scheme", "quantize", "segments"]


@dataclass(frozen=True)
class LayerScheme:
    """A base scheme and per-layer override schemes (see the module docstring).

    Args:
        base: the scheme of every layer without an override.
        overrides: ``{layer: scheme}``, layers from 1.

    Raises:
        ValueError: a layer below 1, an unknown scheme (the message lists them).
    """

    base: str
    overrides: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        base = Scheme.parse(str(self.base).strip()).name
        clean: dict[int, str] = {}
        for layer, name in sorted(self.overrides.items()):
            if isinstance(layer, bool) or not isinstance(layer, int) or layer < 1:
                raise ValueError(f"layer {layer!r}: layers count from 1 (the input layer is 1)")
            scheme = Scheme.parse(str(name).strip()).name
            if scheme != base:
                clean[layer] = scheme
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "overrides", clean)

    @classmethod
    def parse(cls, text: str | Scheme | LayerScheme) -> LayerScheme:
        """The per-layer scheme of a string such as ``"int4-weight-only@1=int8-per-channel"``.

        Raises:
            ValueError: a malformed override, a repeated layer, an unknown scheme.
        """
        if isinstance(text, LayerScheme):
            return text
        if isinstance(text, Scheme):
            return cls(text.name)
        return cls(*split_layers(str(text), "scheme", "1=int8-per-channel"))

    def scheme(self, layer: int) -> Scheme:
        """The :class:`Scheme` of a layer (from 1)."""
        return Scheme.parse(self.overrides.get(layer, self.base))

    def schemes(self, n_layers: int) -> list[Scheme]:
        """The scheme of each of ``n_layers`` layers.

        Raises:
            ValueError: an override names a layer beyond ``n_layers``.
        """
        beyond = [layer for layer in self.overrides if layer > n_layers]
        if beyond:
            raise ValueError(
                f"scheme {self}: layer {beyond[0]} is overridden but the model has {n_layers} "
                f"layers (1..{n_layers})"
            )
        return [self.scheme(layer) for layer in range(1, n_layers + 1)]

    def precisions(self, n_layers: int) -> list[LayerPrecision]:
        """Each layer's ``LayerPrecision`` for :func:`mixprec.nn.cost.cost` (stored bytes)."""
        return [scheme_precision(s) for s in self.schemes(n_layers)]

    @property
    def is_uniform(self) -> bool:
        """True without overrides."""
        return not self.overrides

    def __str__(self) -> str:
        return join_layers(self.base, self.overrides)


def parse_scheme(text: str | Scheme | LayerScheme) -> Scheme | LayerScheme:
    """A :class:`Scheme` for a uniform name, else a :class:`LayerScheme`.

    Raises:
        ValueError: not a scheme.
    """
    if isinstance(text, Scheme):
        return text
    layered = LayerScheme.parse(text)
    return Scheme.parse(layered.base) if layered.is_uniform else layered


def _joinable(a: Scheme, b: Scheme) -> bool:
    """Whether one ``QuantizedMLP`` of scheme ``a`` serves a layer of ``b`` as declared."""
    return a == b or (
        a.is_integer and b.is_integer and a.weights == b.weights and a.activations == b.activations
        and a.group_size == b.group_size
    )  # fmt: skip


def segments(schemes: list[Scheme]) -> list[tuple[int, int]]:
    """The serving segments ``[start, stop)`` of layers (from 0; see the module docstring).

    >>> names = ["int8-per-channel", "int8-per-tensor-asym", "int4-weight-only", "fp8_e4m3"]
    >>> segments([Scheme.parse(n) for n in names])
    [(0, 2), (2, 3), (3, 4)]
    """
    out, start = [], 0
    for i in range(1, len(schemes) + 1):
        if i == len(schemes) or not _joinable(schemes[start], schemes[i]):
            out.append((start, i))
            start = i
    return out


def layer_of(learned: Learned, i: int) -> Learned:
    """Layer ``i`` (from 0) of a model's learned arrays, as a one-layer model's."""

    def one(values: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        return (values[i],) if values else ()

    bias = learned.biases[i]
    return Learned(
        (learned.sizes[i], learned.sizes[i + 1]), bias is not None, (learned.weights[i],),
        (learned.weight_scales[i],), one(learned.input_scales), one(learned.input_zero_points),
        (bias,), one(learned.weight_tensor_scales),
    )  # fmt: skip


def stitch(layers: list[Learned]) -> Learned:
    """One model's learned arrays from consecutive one-layer ones (``layer_of``'s inverse)."""
    return Learned(
        (layers[0].sizes[0], *(layer.sizes[-1] for layer in layers)), layers[-1].output_bias,
        *(
            tuple(a for layer in layers for a in getattr(layer, name))
            for name in (
                "weights", "weight_scales", "input_scales", "input_zero_points", "biases",
                "weight_tensor_scales",
            )
        ),
    )  # fmt: skip


class LayeredQuantizedMLP:
    """A post-training quantized MLP with a scheme per layer: calibrate, then serve.

    Configure in the constructor, learn with :meth:`calibrate` (or use :func:`quantize`); a
    model file gives :meth:`from_layers`.

    Args:
        scheme: a :class:`LayerScheme` or its string.
        observer, weight_observer, observer_options: as :class:`~mixprec.quant.QuantizedMLP`'s,
            for every layer.

    Attributes (after calibration):
        layers_: one calibrated one-layer :class:`~mixprec.quant.QuantizedMLP` per layer, of
            that layer's scheme (their ``weights_``, ``weight_scales_``, ... are the layer's).
        metadata: facts about the model (the source model's metadata, scheme, observer, ...).
    """

    def __init__(
        self,
        scheme: LayerScheme | str,
        observer: str = "minmax",
        weight_observer: str | None = None,
        **observer_options: float | int,
    ) -> None:
        self.scheme = LayerScheme.parse(scheme)
        QuantizedMLP(self.scheme.base, observer, weight_observer)  # checks the observers
        self.observer = observer
        self.weight_observer = weight_observer if weight_observer is not None else observer
        self.observer_options = dict(observer_options)
        self.metadata: dict[str, Any] = {}
        self.layers_: list[QuantizedMLP] = []

    def calibrate(self, model: MLP, calibration: np.ndarray | Split) -> LayeredQuantizedMLP:
        """Calibrate each distinct scheme on the float model; each layer takes its own arrays.

        Raises:
            ValueError: an override beyond the model's layers, bad images.
        """
        schemes = self.scheme.schemes(model.n_layers)
        uniform: dict[str, QuantizedMLP] = {}
        for s in dict.fromkeys(schemes):
            uniform[s.name] = QuantizedMLP(
                s, self.observer, self.weight_observer, **self.observer_options
            ).calibrate(model, calibration)
        layers = [layer_of(uniform[s.name].learned_, i) for i, s in enumerate(schemes)]
        self._install(layers)
        first = uniform[schemes[0].name].metadata
        self.metadata = dict(first) | {"scheme": str(self.scheme)}
        return self

    @classmethod
    def from_layers(
        cls, layers: list[Learned], scheme: LayerScheme | str, observer: str = "minmax",
        weight_observer: str | None = None,
    ) -> LayeredQuantizedMLP:  # fmt: skip
        """A calibrated model from one-layer learned arrays (a model file's), one per layer.

        Raises:
            ValueError: an unknown scheme or observer, layers that do not chain.
        """
        q = cls(scheme, observer, weight_observer)
        q.scheme.schemes(len(layers))
        for a, b in zip(layers, layers[1:], strict=False):
            if a.sizes[-1] != b.sizes[0]:
                raise ValueError(f"layers of {a.sizes} and {b.sizes} do not chain")
        q._install(layers)
        return q

    def _install(self, layers: list[Learned]) -> None:
        schemes = self.scheme.schemes(len(layers))
        self.layers_ = [
            QuantizedMLP.from_learned(learned, s, self.observer, self.weight_observer)
            for learned, s in zip(layers, schemes, strict=True)
        ]

    def _calibrated(self) -> list[QuantizedMLP]:
        if not self.layers_:
            raise NotCalibratedError(
                f"this LayeredQuantizedMLP ({self.scheme}) is not calibrated yet: call "
                "calibrate(model, images) first, or mixprec.quant.quantize(model, "
                "calibration=images, scheme=...)"
            )
        return self.layers_

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer sizes, input first."""
        layers = self._calibrated()
        return (layers[0].sizes[0], *(q.sizes[-1] for q in layers))

    @property
    def n_layers(self) -> int:
        """Layers (weight matrices)."""
        return len(self._calibrated())

    @property
    def output_bias(self) -> bool:
        """Whether the last layer has a bias."""
        return self._calibrated()[-1].output_bias

    def arrays(self) -> dict[str, np.ndarray]:
        """The compact arrays of every layer, named as a uniform model's (``qweight_<i>``...)."""
        out: dict[str, np.ndarray] = {}
        for i, q in enumerate(self._calibrated()):
            out.update({name[:-1] + str(i): a for name, a in q.arrays().items()})
        return out

    @property
    def nbytes(self) -> int:
        """Bytes of the learned arrays: weights, scales, zero points and biases."""
        return sum(a.nbytes for a in self.arrays().values())

    def segment_models(self) -> list[tuple[int, int, QuantizedMLP]]:
        """``(start, stop, model)`` of each serving segment (see the module docstring)."""
        layers = self._calibrated()
        out = []
        for start, stop in segments([q.scheme for q in layers]):
            learned = stitch([q.learned_ for q in layers[start:stop]])
            model = QuantizedMLP.from_learned(
                learned, layers[start].scheme, self.observer, self.weight_observer
            )
            out.append((start, stop, model))
        return out

    def __repr__(self) -> str:
        if not self.layers_:
            return f"LayeredQuantizedMLP({self.scheme}, observer={self.observer}, not calibrated)"
        shape = "-".join(map(str, self.sizes))
        return (
            f"LayeredQuantizedMLP({shape}, {self.scheme}, observer={self.observer}, "
            f"{self.nbytes:,} B)"
        )

    def serving(self, path: str | None = None, mac: Any = None,
                requantization: Any = "gemmlowp") -> Any:  # fmt: skip
        """How to serve (a ``mixprec.nn.Servable``; see
        :class:`mixprec.quant.layered_serving.LayeredServing`)."""
        from mixprec.quant.layered_serving import LayeredServing

        return LayeredServing(self, path, mac, requantization)

    def serve(self, images: np.ndarray, batch_size: int = 1000, stats: bool = True) -> Any:
        """The ``mixprec.nn.Servable`` method: :meth:`serving` with its defaults."""
        return self.serving().serve(images, batch_size, stats)

    def predict(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """float32 logits ``(n, classes)`` of ``images`` (default serving)."""
        return np.asarray(self.serving().serve(images, batch_size, stats=False).logits)

    def evaluate(
        self, split: Split, path: str | None = None, mac: Any = None,
        requantization: Any = "gemmlowp", batch_size: int = 1000,
    ) -> Evaluation:  # fmt: skip
        """Accuracy, loss and MAC events on a ``Split`` (``mixprec.nn.evaluate``)."""
        return evaluate(self.serving(path, mac, requantization), split, batch_size=batch_size)


def quantize(
    model: MLP,
    calibration: np.ndarray | Split,
    scheme: Scheme | LayerScheme | str = "int8-per-channel",
    observer: str = "minmax",
    weight_observer: str | None = None,
    **observer_options: float | int,
) -> QuantizedMLP | LayeredQuantizedMLP:
    """Post-training quantization, one scheme or a scheme per layer.

    :func:`mixprec.quant.model.quantize` for a scheme name, a :class:`LayeredQuantizedMLP`
    for a per-layer scheme (``"int4-weight-only@1=int8-per-channel@3=int8-per-channel"``).
    This is ``mixprec.quant.quantize``.

    Raises:
        ValueError: an unknown scheme or observer, an override beyond the model, bad images.
    """
    parsed = parse_scheme(scheme)
    if isinstance(parsed, Scheme):
        return quantize_uniform(
            model, calibration, parsed, observer, weight_observer, **observer_options
        )
    return LayeredQuantizedMLP(parsed, observer, weight_observer, **observer_options).calibrate(
        model, calibration
    )
