"""Post-training quantization of a trained MLP: ``quantize`` and the ``QuantizedMLP`` it returns.

A scheme names the formats and the granularity (see :data:`SCHEMES`):

==========================  =====================================================================
``int8-per-tensor``         int8 weights, one symmetric scale per weight matrix; int8 activations,
                            symmetric (zero point 0); int32 biases
``int8-per-channel``        as above with one weight scale per output channel
``int8-per-tensor-asym``    int8 activations asymmetric: a scale and a zero point per tensor
``int8-per-channel-asym``   per-channel weights, asymmetric activations
``fp8_e4m3``, ``fp8_e5m2``  OCP FP8 weights and activations, per-tensor float32 scales that map
                            the calibrated largest magnitude to the format's max; fp32 biases
``fp8_e4m3-per-channel``,   the same with one weight scale per output channel
``fp8_e5m2-per-channel``
``int4-weight-only``        int4 weights (-7..7), one scale per output channel, packed two per
                            byte; float32 activations and biases
==========================  =====================================================================

Weights are always symmetric (zero point 0, int8 on -127..127). Activation scales are learned
from calibration images run through the float model: each layer's input is observed by a
calibration observer (:mod:`mixprec.nn.observers`: ``minmax``, ``percentile`` or ``mse``).
A value ``q`` stands for ``scale * (q - zero_point)``; a layer's int32 bias is
``round(b / (s_x * s_w))`` (Jacob et al. 2018, section 2.4).

The quantized model holds its learned state in attributes ending in ``_`` (``weights_``,
``weight_scales_``, ``input_scales_``, ``input_zero_points_``, ``biases_``) and its size in bytes
(``nbytes``), measured from those compact arrays. Serving is in :mod:`mixprec.nn.qserve`:
integer-only (int8 schemes) or float-simulated ("fake quant").

>>> from mixprec.nn.model import MLP
>>> model = MLP((6, 4, 3), seed=0)
>>> x = np.random.default_rng(0).standard_normal((32, 6)).astype(np.float32)
>>> q = quantize(model, x, scheme="int8-per-channel")
>>> q.weights_[0].dtype, q.weight_scales_[0].shape, q.predict(x[:2]).shape
(dtype('int8'), (4,), (2, 3))
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixprec._util.names import canonical
from mixprec.formats import FP8_E4M3, FP8_E5M2, INT4, INT8, Format, IntFormat, to_storage
from mixprec.nn.model import MLP
from mixprec.nn.observers import OBSERVERS, NotCalibratedError, make_observer

__all__ = ["SCHEMES", "NotCalibratedError", "QuantizedMLP", "Scheme", "quantize"]


@dataclass(frozen=True, kw_only=True)
class Scheme:
    """A quantization scheme: formats and granularity of weights and activations.

    Args:
        name: the short name (``int8-per-channel``, ...).
        weights: format of the weights (int8, int4, fp8_e4m3, fp8_e5m2).
        per_channel: one weight scale per output channel (else one per matrix).
        activations: format of every layer's input, or ``None`` (weight-only: float32).
        symmetric_activations: activation zero point 0; else a zero point per tensor.
    """

    name: str
    weights: Format
    per_channel: bool
    activations: Format | None
    symmetric_activations: bool = True

    @property
    def is_integer(self) -> bool:
        """int8 weights and activations: the integer-only serving path exists."""
        return isinstance(self.weights, IntFormat) and isinstance(self.activations, IntFormat)

    @property
    def is_weight_only(self) -> bool:
        return self.activations is None

    @classmethod
    def parse(cls, name: Scheme | str) -> Scheme:
        """The scheme of a name (case, ``_`` and ``-`` ignored).

        Raises:
            ValueError: an unknown name; the message lists the schemes and the closest one.
        """
        if isinstance(name, Scheme):
            return name
        key = _key(str(name))
        for known, scheme in SCHEMES.items():
            if _key(known) == key:
                return scheme
        close = difflib.get_close_matches(str(name), list(SCHEMES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown quantization scheme {name!r}; known schemes: {', '.join(SCHEMES)}.{hint}"
        )

    def __str__(self) -> str:
        return self.name


def _key(name: str) -> str:
    return canonical(name)


def _schemes() -> dict[str, Scheme]:
    out: dict[str, Scheme] = {}
    for granularity in ("per-tensor", "per-channel"):
        for suffix, symmetric in (("", True), ("-asym", False)):
            name = f"int8-{granularity}{suffix}"
            out[name] = Scheme(
                name=name, weights=INT8, per_channel=granularity == "per-channel",
                activations=INT8, symmetric_activations=symmetric,
            )  # fmt: skip
    for fmt in (FP8_E4M3, FP8_E5M2):
        for suffix, per_channel in (("", False), ("-per-channel", True)):
            name = f"{fmt.name}{suffix}"
            out[name] = Scheme(name=name, weights=fmt, per_channel=per_channel, activations=fmt)
    out["int4-weight-only"] = Scheme(
        name="int4-weight-only", weights=INT4, per_channel=True, activations=None
    )
    return out


SCHEMES: dict[str, Scheme] = _schemes()


# -- int4 packing: two codes per byte, along the input axis ---------------------------------------
def pack_int4(codes: np.ndarray) -> np.ndarray:
    """``(in, out)`` int codes in -8..7 -> uint8 ``(ceil(in / 2), out)``: row ``2i`` in the low
    nibble, row ``2i + 1`` in the high one (a zero row pads an odd count)."""
    codes = np.asarray(codes, np.int64)
    if codes.size and (codes.min() < -8 or codes.max() > 7):
        raise ValueError("int4 codes must lie in -8..7")
    if codes.shape[0] % 2:
        codes = np.concatenate([codes, np.zeros((1,) + codes.shape[1:], np.int64)])
    nibbles = (codes & 0xF).astype(np.uint8)
    return nibbles[0::2] | (nibbles[1::2] << 4)


def unpack_int4(packed: np.ndarray, rows: int) -> np.ndarray:
    """The int8 codes ``(rows, out)`` of :func:`pack_int4`."""
    packed = np.asarray(packed, np.uint8)
    out = np.empty((2 * packed.shape[0],) + packed.shape[1:], np.int8)
    out[0::2] = (packed & 0xF).astype(np.int8)
    out[1::2] = (packed >> 4).astype(np.int8)
    out = (out ^ 8) - 8  # sign-extend the nibble
    return out[:rows]


class QuantizedMLP:
    """A post-training quantized MLP: calibrate on images, then serve.

    Configure in the constructor, learn with :meth:`calibrate` (or use :func:`quantize`, which
    does both). Using an uncalibrated model raises :class:`NotCalibratedError` saying what to
    call.

    Args:
        scheme: a name of :data:`SCHEMES` or a :class:`Scheme`.
        observer: ``"minmax"`` (default), ``"percentile"`` or ``"mse"``: how activation ranges
            are chosen from the calibration images.
        weight_observer: how weight ranges are chosen; default: the same as ``observer``.
        observer_options: options of the observers (``percentile=99.99``, ``n_grid=100``, ...).

    Attributes (after calibration):
        sizes, output_bias: the structure of the model it was made from.
        weights_: per layer, the compact weights: int8 ``(in, out)``; for fp8 the ml_dtypes
            float8 array ``(in, out)``; for int4 the packed uint8 ``(ceil(in / 2), out)``.
        weight_scales_: per layer, float32 ``()`` (per tensor) or ``(out,)`` (per channel).
        input_scales_: per layer, the float32 ``()`` scale of its input (empty: weight-only).
        input_zero_points_: per layer, the int8 ``()`` zero point of its input (int8 schemes).
        biases_: per layer, int32 ``(out,)`` (int8 schemes) or float32, or ``None``.
        metadata: facts about the model (the source model's metadata, scheme, observer, ...).
    """

    _learned = ("weights_", "weight_scales_", "input_scales_", "input_zero_points_", "biases_")

    def __init__(
        self,
        scheme: Scheme | str = "int8-per-channel",
        observer: str = "minmax",
        weight_observer: str | None = None,
        **observer_options: Any,
    ) -> None:
        self.scheme = Scheme.parse(scheme)
        for name in (observer, weight_observer):
            if name is not None and _key(name).replace("-", "") not in OBSERVERS:
                raise ValueError(
                    f"unknown observer {name!r}; use one of {', '.join(map(repr, OBSERVERS))}"
                )
        self.observer = observer
        self.weight_observer = weight_observer if weight_observer is not None else observer
        self.observer_options = dict(observer_options)
        self.metadata: dict[str, Any] = {}
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        # learned attributes, and properties whose AttributeError Python routes here
        if name in type(self)._learned or name in ("sizes", "output_bias", "nbytes", "n_layers"):
            raise NotCalibratedError(
                f"this QuantizedMLP ({self.scheme}) is not calibrated yet: call "
                "calibrate(model, images) first, or build it with mixprec.nn.quantize(model, "
                "calibration=images, scheme=...)"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        if "weights_" not in self.__dict__:
            return f"QuantizedMLP({self.scheme}, observer={self.observer}, not calibrated)"
        shape = "-".join(map(str, self.sizes))
        return f"QuantizedMLP({shape}, {self.scheme}, observer={self.observer}, {self.nbytes:,} B)"

    # -- calibration -----------------------------------------------------------------------------
    def calibrate(self, model: MLP, calibration: Any) -> QuantizedMLP:
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
        scheme, options = self.scheme, self.observer_options
        weights, weight_scales, input_scales, zero_points, biases = [], [], [], [], []
        h = images
        for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
            axis = 1 if scheme.per_channel else None
            w_obs = make_observer(self.weight_observer, scheme.weights, True, axis, **options)
            w_scale = w_obs.fit(w).scale_
            weights.append(_weight_codes(w, w_scale, scheme.weights))
            weight_scales.append(np.asarray(w_scale, np.float32))
            if scheme.activations is not None:
                a_obs = make_observer(
                    self.observer, scheme.activations, scheme.symmetric_activations, None,
                    **options,
                ).fit(h)  # fmt: skip
                input_scales.append(np.asarray(a_obs.scale_, np.float32))
                if scheme.is_integer:
                    zero_points.append(np.asarray(a_obs.zero_point_, np.int8))
            biases.append(None if b is None else self._bias(b, input_scales, w_scale))
            h = h @ w + (0 if b is None else b)
            if i < model.n_layers - 1:
                h = np.maximum(h, 0)
        self._set_state(
            sizes=model.sizes, output_bias=model.output_bias, weights=weights,
            weight_scales=weight_scales, input_scales=input_scales, input_zero_points=zero_points,
            biases=biases,
        )  # fmt: skip
        self.metadata = {k: v for k, v in model.metadata.items() if k not in ("history",)}
        self.metadata.update(
            scheme=scheme.name, observer=self.observer, weight_observer=self.weight_observer,
            calibration_images=len(images),
        )  # fmt: skip
        return self

    def _bias(self, b: np.ndarray, input_scales: list[np.ndarray], w_scale: np.ndarray) -> Any:
        if not self.scheme.is_integer:
            return np.asarray(b, np.float32).copy()
        product = np.float64(input_scales[-1]) * np.asarray(w_scale, np.float64)
        codes = np.rint(np.asarray(b, np.float64) / product)
        return np.clip(codes, -(2**31), 2**31 - 1).astype(np.int32)

    def _set_state(self, **state: Any) -> None:
        """Install learned state (from :meth:`calibrate` or a file); derived arrays are rebuilt."""
        self.sizes = tuple(int(s) for s in state["sizes"])
        self.output_bias = bool(state["output_bias"])
        self.weights_ = list(state["weights"])
        self.weight_scales_ = list(state["weight_scales"])
        self.input_scales_ = list(state["input_scales"])
        self.input_zero_points_ = list(state["input_zero_points"])
        self.biases_ = list(state["biases"])
        self._cache = {}

    # -- structure -------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
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
            if self.biases_[i] is not None:
                out[f"qbias_{i}"] = self.biases_[i]
        return out

    @property
    def nbytes(self) -> int:
        """Bytes of the learned arrays: weights, scales, zero points and biases."""
        return sum(a.nbytes for a in self.arrays().values())

    def dequantized_weights(self) -> list[np.ndarray]:
        """float32 ``(in, out)`` weights ``scale * code`` (cached)."""
        if "weights" not in self._cache:
            out = []
            for i, (w, s) in enumerate(zip(self.weights_, self.weight_scales_, strict=True)):
                if self.scheme.weights == INT4:
                    w = unpack_int4(w, self.sizes[i])
                out.append(w.astype(np.float32) * s)
            self._cache["weights"] = out
        return self._cache["weights"]

    # -- serving ---------------------------------------------------------------------------------
    def predict(
        self,
        images: np.ndarray,
        path: str | None = None,
        mac: Any = None,
        requantization: str = "gemmlowp",
        batch_size: int = 1000,
        stats: bool = False,
    ) -> Any:
        """Logits of ``images``; see :func:`mixprec.nn.qserve.predict` for the arguments."""
        from mixprec.nn.qserve import predict

        return predict(self, images, path, mac, requantization, batch_size, stats)

    def evaluate(self, split: Any, **options: Any) -> Any:
        """Accuracy and loss on a ``Split``: an ``Evaluation`` (see :mod:`mixprec.nn.qserve`)."""
        from mixprec.nn.qserve import evaluate

        return evaluate(self, split, **options)


def _weight_codes(w: np.ndarray, scale: np.ndarray, fmt: Format) -> np.ndarray:
    """The compact weights of ``w / scale`` in ``fmt`` (symmetric: int codes on -qmax..qmax)."""
    scaled = np.asarray(w, np.float32) / np.asarray(scale, np.float32)
    if isinstance(fmt, IntFormat):
        codes = np.clip(np.rint(scaled), -fmt.max, fmt.max)
        return pack_int4(codes) if fmt == INT4 else codes.astype(np.int8)
    return to_storage(scaled, fmt, overflow="saturate")


def quantize(
    model: MLP,
    calibration: Any,
    scheme: Scheme | str = "int8-per-channel",
    observer: str = "minmax",
    weight_observer: str | None = None,
    **observer_options: Any,
) -> QuantizedMLP:
    """Post-training quantization of a trained model.

    Args:
        model: a trained float ``MLP`` (not modified).
        calibration: images ``(n, features)`` or a ``Split`` such as ``data.train[:1000]``.
        scheme: a name of :data:`SCHEMES` (``"int8-per-channel"``, ``"fp8_e4m3"``,
            ``"int4-weight-only"``, ...) or a :class:`Scheme`.
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


def _register() -> None:
    """Teach ``mixprec.nn.io.save``/``load`` the kind ``quantized-mlp``."""
    from mixprec.nn import qmodel_io
    from mixprec.nn.io import register_kind

    register_kind(qmodel_io.KIND, QuantizedMLP, qmodel_io.to_arrays, qmodel_io.from_arrays)


_register()
