"""Post-training quantization of a trained MLP: ``quantize`` and the ``QuantizedMLP`` it returns.

Weights are always symmetric (zero point 0, int8 on -127..127). Activation scales are learned
from calibration images run through the float model: each layer's input is observed by a
calibration observer (:mod:`mixprec.quant.observers`: ``minmax``, ``percentile`` or ``mse``).
A value ``q`` stands for ``scale * (q - zero_point)``; a layer's int32 bias is
``round(b / (s_x * s_w))`` (Jacob et al. 2018, section 2.4). The schemes are in
:mod:`mixprec.quant.schemes`.

The quantized model holds its learned state in attributes ending in ``_`` (``weights_``,
``weight_scales_``, ``input_scales_``, ``input_zero_points_``, ``biases_``, one
:class:`Learned` together) and its size in bytes (``nbytes``), measured from those compact
arrays. Serving is in :mod:`mixprec.quant.serving`: integer-only (int8 schemes) or
float-simulated ("fake quant").

>>> from mixprec.nn import MLP
>>> model = MLP((6, 4, 3), seed=0)
>>> x = np.random.default_rng(0).standard_normal((32, 6)).astype(np.float32)
>>> q = quantize(model, x, scheme="int8-per-channel")
>>> q.weights_[0].dtype, q.weight_scales_[0].shape, q.predict(x[:2]).shape
(dtype('int8'), (4,), (2, 3))
"""

from __future__ import annotations

from typing import Any, Literal, cast, overload

import numpy as np

from mixprec._util.names import canonical
from mixprec.data import Split
from mixprec.formats import Format, IntFormat
from mixprec.mac import MAC
from mixprec.nn import MLP, Evaluation, Events, Served, evaluate
from mixprec.quant import groupwise
from mixprec.quant.blockptq import block_learned, decoded_weights, weight_operands
from mixprec.quant.integer import IntegerLayer, integer_layers
from mixprec.quant.learned import Learned
from mixprec.quant.observers import OBSERVERS, NotCalibratedError, make_observer
from mixprec.quant.packing import unpack_codes
from mixprec.quant.requant import Requantization
from mixprec.quant.schemes import Scheme
from mixprec.quant.serving import QuantizedServing
from mixprec.quant.weights import compact_codes

__all__ = ["Learned", "QuantizedMLP", "quantize"]


class QuantizedMLP:
    """A post-training quantized MLP: calibrate on images, then serve.

    Configure in the constructor, learn with :meth:`calibrate` (or use :func:`quantize`, which
    does both; a model file gives :meth:`from_learned`). Using an uncalibrated model raises
    :class:`NotCalibratedError` saying what to call.

    Args:
        scheme: a name of :data:`~mixprec.quant.SCHEMES` or a :class:`Scheme`.
        observer: ``"minmax"`` (default), ``"percentile"`` or ``"mse"``: how activation ranges
            are chosen from the calibration images.
        weight_observer: how weight ranges are chosen; default: the same as ``observer``.
        observer_options: options of the observers (``percentile=99.99``, ``n_grid=100``, ...).

    Attributes (after calibration):
        learned_: the :class:`Learned` arrays; ``sizes``, ``output_bias``, ``weights_``,
            ``weight_scales_``, ``input_scales_``, ``input_zero_points_`` and ``biases_`` are
            its fields (as lists).
        metadata: facts about the model (the source model's metadata, scheme, observer, ...).
    """

    _learned = ("weights_", "weight_scales_", "input_scales_", "input_zero_points_", "biases_",
                "weight_tensor_scales_")  # fmt: skip

    def __init__(
        self,
        scheme: Scheme | str = "int8-per-channel",
        observer: str = "minmax",
        weight_observer: str | None = None,
        **observer_options: float | int,
    ) -> None:
        self.scheme = Scheme.parse(scheme)
        for name in (observer, weight_observer):
            if name is not None and canonical(name, "") not in OBSERVERS:
                raise ValueError(
                    f"unknown observer {name!r}; use one of {', '.join(map(repr, OBSERVERS))}"
                )
        self.observer = observer
        self.weight_observer = weight_observer if weight_observer is not None else observer
        self.observer_options = dict(observer_options)
        self.metadata: dict[str, Any] = {}
        self._dequantized: list[np.ndarray] | None = None
        self._integer: list[IntegerLayer] | None = None
        self._block: list[tuple[Any, ...]] | None = None

    @classmethod
    def from_learned(
        cls,
        learned: Learned,
        scheme: Scheme | str,
        observer: str = "minmax",
        weight_observer: str | None = None,
    ) -> QuantizedMLP:
        """A calibrated model from its learned arrays (a model file's).

        Raises:
            ValueError: an unknown scheme or observer.
        """
        q = cls(scheme, observer, weight_observer)
        q._install(learned)
        return q

    def __getattr__(self, name: str) -> Any:
        # learned attributes, and properties whose AttributeError Python routes here
        if name in type(self)._learned or name in (
            "learned_", "sizes", "output_bias", "nbytes", "n_layers",
        ):  # fmt: skip
            raise NotCalibratedError(
                f"this QuantizedMLP ({self.scheme}) is not calibrated yet: call "
                "calibrate(model, images) first, or build it with mixprec.quant.quantize(model, "
                "calibration=images, scheme=...)"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        if "weights_" not in self.__dict__:
            return f"QuantizedMLP({self.scheme}, observer={self.observer}, not calibrated)"
        shape = "-".join(map(str, self.sizes))
        return f"QuantizedMLP({shape}, {self.scheme}, observer={self.observer}, {self.nbytes:,} B)"

    # -- calibration -----------------------------------------------------------------------------
    def calibrate(self, model: MLP, calibration: np.ndarray | Split) -> QuantizedMLP:
        """Learn weight codes and scales from ``model`` and activation scales from images.

        Args:
            model: a trained float ``MLP``.
            calibration: images ``(n, features)`` or a ``Split`` (its images are used): run
                through the float model to observe each layer's input.

        Returns:
            ``self``.

        Raises:
            ValueError: images of the wrong shape, none at all, or NaN/inf in them.
        """
        images = np.asarray(getattr(calibration, "images", calibration), np.float32)
        if images.ndim != 2 or images.shape[1] != model.sizes[0] or len(images) == 0:
            raise ValueError(
                f"calibration images must have shape (n >= 1, {model.sizes[0]}), got "
                f"{images.shape}; pass a Split such as data.train[:1000] or its images"
            )
        model.check()
        observers = (self.observer, self.weight_observer)
        block = self.scheme.is_block
        self._install(block_learned(self.scheme, *observers, model, images) if block
                      else self._calibrated(model, images))  # fmt: skip
        self.metadata = {k: v for k, v in model.metadata.items() if k not in ("history",)}
        self.metadata.update(
            scheme=self.scheme.name, observer=self.observer,
            weight_observer=self.weight_observer, calibration_images=len(images),
        )  # fmt: skip
        return self

    def _calibrated(self, model: MLP, images: np.ndarray) -> Learned:
        scheme, options = self.scheme, self.observer_options
        w_fmt = cast(Format, scheme.weights)  # an element scheme: block ones are in blockptq
        a_fmt = cast("Format | None", scheme.activations)
        weights, weight_scales, input_scales, zero_points, biases = [], [], [], [], []
        h = images
        for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
            if scheme.group_size is not None:  # max |w| per group (mixprec.quant.groupwise)
                w_scale = groupwise.group_scales(w, w_fmt, scheme.group_size)
            else:
                axis = 1 if scheme.per_channel else None
                w_obs = make_observer(self.weight_observer, w_fmt, True, axis, **options)
                w_scale = w_obs.fit(w).scale_
            weights.append(compact_codes(w, w_scale, w_fmt, scheme.group_size))
            weight_scales.append(np.asarray(w_scale, np.float32))
            if a_fmt is not None:
                a_obs = make_observer(
                    self.observer, a_fmt, scheme.symmetric_activations, None,
                    **options,
                ).fit(h)  # fmt: skip
                input_scales.append(np.asarray(a_obs.scale_, np.float32))
                if scheme.is_integer:
                    zero_points.append(np.asarray(a_obs.zero_point_, np.int8))
            biases.append(None if b is None else self._bias(b, input_scales, w_scale))
            h = h @ w + (0 if b is None else b)
            if i < model.n_layers - 1:
                h = np.maximum(h, 0)
        return Learned(
            model.sizes, model.output_bias, tuple(weights), tuple(weight_scales),
            tuple(input_scales), tuple(zero_points), tuple(biases),
        )  # fmt: skip

    def _bias(
        self, b: np.ndarray, input_scales: list[np.ndarray], w_scale: np.ndarray
    ) -> np.ndarray:
        if not self.scheme.is_integer:
            return np.asarray(b, np.float32).copy()
        product = np.float64(input_scales[-1]) * np.asarray(w_scale, np.float64)
        codes = np.rint(np.asarray(b, np.float64) / product)
        return np.clip(codes, -(2**31), 2**31 - 1).astype(np.int32)

    def _install(self, learned: Learned) -> None:
        """Install learned state; derived arrays are rebuilt when next used."""
        self.learned_ = learned
        self.sizes = tuple(int(s) for s in learned.sizes)
        self.output_bias = bool(learned.output_bias)
        self.weights_ = list(learned.weights)
        self.weight_scales_ = list(learned.weight_scales)
        self.input_scales_ = list(learned.input_scales)
        self.input_zero_points_ = list(learned.input_zero_points)
        self.biases_ = list(learned.biases)
        self.weight_tensor_scales_ = list(learned.weight_tensor_scales)
        self._dequantized = self._integer = self._block = None

    # -- structure -------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """Layers (weight matrices)."""
        return len(self.sizes) - 1

    def arrays(self) -> dict[str, np.ndarray]:
        """The compact learned arrays by name (what a model file stores, besides its header)."""
        out: dict[str, np.ndarray] = {}
        for i in range(self.n_layers):
            w = self.weights_[i]
            out[f"qweight_{i}"] = w if w.dtype.kind in "iu" else w.view(np.uint8)
            out[f"weight_scale_{i}"] = self.weight_scales_[i]
            if self.input_scales_:
                out[f"input_scale_{i}"] = self.input_scales_[i]
            if self.input_zero_points_:
                out[f"input_zero_point_{i}"] = self.input_zero_points_[i]
            if self.weight_tensor_scales_:
                out[f"weight_tensor_scale_{i}"] = self.weight_tensor_scales_[i]
            bias = self.biases_[i]
            if bias is not None:
                out[f"qbias_{i}"] = bias
        return out

    @property
    def nbytes(self) -> int:
        """Bytes of the learned arrays: weights, scales, zero points and biases."""
        return sum(a.nbytes for a in self.arrays().values())

    def weight_codes(self, i: int) -> np.ndarray:
        """Layer ``i``'s weights as stored, unpacked: int8 codes ``(in, out)`` (integer
        schemes), or the fp8 array."""
        w, fmt = self.weights_[i], self.scheme.weights
        if isinstance(fmt, IntFormat) and fmt.bits < 8:
            return unpack_codes(w, self.sizes[i], fmt.bits)
        return np.asarray(w)

    def dequantized_weights(self) -> list[np.ndarray]:
        """float32 ``(in, out)`` weights ``scale * code`` (computed once; NVFP4: float64)."""
        if self._dequantized is None and self.scheme.is_block:
            self._dequantized = decoded_weights(self.scheme.block, self.block_weights())
        if self._dequantized is None:
            out = []
            group = self.scheme.group_size
            for i, s in enumerate(self.weight_scales_):
                w = self.weight_codes(i)
                if group is not None:
                    out.append(groupwise.dequantize_groupwise(w, s, group))
                else:
                    out.append(w.astype(np.float32) * s)
            self._dequantized = out
        return self._dequantized

    def block_weights(self) -> list[tuple[Any, ...]]:
        """Block schemes: ``(codes, scales[, tensor_scale])`` per layer for the block MAC."""
        if self._block is None:
            arrays = (self.weights_, self.weight_scales_, self.weight_tensor_scales_)
            self._block = weight_operands(self.scheme.block, self.sizes, *arrays)
        return self._block

    def integer_layers(self) -> list[IntegerLayer]:
        """The integer-only constants of every layer (integer schemes; computed once).

        Raises:
            ValueError: a scheme without the integer path.
        """
        if not self.scheme.is_integer:
            raise ValueError(f"scheme {self.scheme} has no integer-only path")
        if self._integer is None:
            activations = self.scheme.activations
            if not isinstance(activations, IntFormat):  # pragma: no cover - is_integer
                raise ValueError(f"scheme {self.scheme} has no integer activations")
            self._integer = integer_layers(
                [self.weight_codes(i) for i in range(self.n_layers)], self.weight_scales_,
                self.input_scales_, self.input_zero_points_, self.biases_,
                (int(activations.min), int(activations.max)),
            )  # fmt: skip
        return self._integer

    # -- serving ---------------------------------------------------------------------------------
    def serving(
        self,
        path: str | None = None,
        mac: MAC | str | None = None,
        requantization: Requantization | str = "gemmlowp",
    ) -> QuantizedServing:
        """How to serve: the path, MAC and requantization (a ``Servable`` for
        :func:`mixprec.nn.evaluate`; see :class:`~mixprec.quant.serving.QuantizedServing`).

        Raises:
            NotCalibratedError: the model is not calibrated.
            ValueError: an unknown path, a path or MAC the scheme lacks.
        """
        return QuantizedServing(self, path, mac, requantization)

    def serve(self, images: np.ndarray, batch_size: int = 1000, stats: bool = True) -> Served:
        """The ``mixprec.nn.Servable`` method: :meth:`serving` with its defaults."""
        return self.serving().serve(images, batch_size, stats)

    @overload
    def predict(
        self,
        images: np.ndarray,
        path: str | None = ...,
        mac: MAC | str | None = ...,
        requantization: Requantization | str = ...,
        batch_size: int = ...,
        stats: Literal[False] = ...,
    ) -> np.ndarray: ...

    @overload
    def predict(
        self,
        images: np.ndarray,
        path: str | None = ...,
        mac: MAC | str | None = ...,
        requantization: Requantization | str = ...,
        batch_size: int = ...,
        *,
        stats: Literal[True],
    ) -> tuple[np.ndarray, Events]: ...

    def predict(
        self,
        images: np.ndarray,
        path: str | None = None,
        mac: MAC | str | None = None,
        requantization: Requantization | str = "gemmlowp",
        batch_size: int = 1000,
        stats: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, Events]:
        """Logits of ``images`` (see :class:`~mixprec.quant.serving.QuantizedServing`); with
        ``stats``, ``(logits, events)``: the MAC events per layer, as ``MAC.matmul`` returns
        its ``MacStats``."""
        served = self.serving(path, mac, requantization).serve(images, batch_size, stats)
        return (served.logits, served.events) if stats else served.logits

    def evaluate(
        self,
        split: Split,
        path: str | None = None,
        mac: MAC | str | None = None,
        requantization: Requantization | str = "gemmlowp",
        batch_size: int = 1000,
    ) -> Evaluation:
        """Accuracy, loss and MAC events on a ``Split``: ``mixprec.nn.evaluate`` of
        :meth:`serving`; the ``Evaluation``'s ``policy`` names the scheme, path, MAC and
        requantization."""
        return evaluate(self.serving(path, mac, requantization), split, batch_size=batch_size)


def quantize(
    model: MLP,
    calibration: np.ndarray | Split,
    scheme: Scheme | str = "int8-per-channel",
    observer: str = "minmax",
    weight_observer: str | None = None,
    **observer_options: float | int,
) -> QuantizedMLP:
    """Post-training quantization of a trained model.

    Args:
        model: a trained float ``MLP`` (not modified).
        calibration: images ``(n, features)`` or a ``Split`` such as ``data.train[:1000]``.
        scheme: a name of :data:`~mixprec.quant.SCHEMES` (``"int8-per-channel"``,
            ``"fp8_e4m3"``, ``"int4-weight-only"``, ...) or a :class:`Scheme`.
        observer: ``"minmax"``, ``"percentile"`` or ``"mse"`` (activation ranges).
        weight_observer: the weights' observer (default: ``observer``).
        observer_options: ``percentile=99.99`` (percentile), ``n_grid=100`` (mse), ...

    Returns:
        A calibrated :class:`QuantizedMLP`.

    Raises:
        ValueError: an unknown scheme or observer (the message lists them), or bad images.
    """
    return QuantizedMLP(scheme, observer, weight_observer, **observer_options).calibrate(
        model, calibration
    )
