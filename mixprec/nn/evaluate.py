"""Serving: ``predict`` (logits) and ``evaluate`` (accuracy and loss) under any policy.

Serving is the forward pass alone: the weights are rounded once per call to the policy's weight
format (from whatever the model holds: float32 master weights, or weights already in a format),
each batch's activations are rounded to the activation format, and each layer's product goes
through the policy's forward MAC. So one trained model can be served at any precision, at any
batch size from 1.

With ``scaling="per_tensor"`` (the ``fp8`` and ``int8`` presets) an activation's scale is
computed from the batch it belongs to (dynamic quantization), so results can differ slightly
between batch sizes; weights' scales do not depend on the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from mixprec._util.errors import reject_masked
from mixprec.data import Split
from mixprec.nn.compiled import Numerics
from mixprec.nn.events import Events
from mixprec.nn.layered import LayerPolicy, entry_policy, layer_output, parse_policy
from mixprec.nn.layers import log_softmax
from mixprec.nn.model import MLP
from mixprec.nn.passes import forward
from mixprec.nn.policy import Policy

__all__ = [
    "Evaluation", "PolicyServing", "Servable", "Served", "evaluate", "image_batch", "predict",
]  # fmt: skip


@dataclass(frozen=True)
class Evaluation:
    """The result of :func:`evaluate`.

    Attributes:
        accuracy: fraction of correct predictions.
        loss: mean cross-entropy (natural log).
        n: number of examples.
        predictions: predicted classes, int64 ``(n,)``.
        logits: float32 ``(n, classes)``.
        events: the forward MAC's event counters, per layer and in total.
        policy: ``str`` of the policy.
    """

    accuracy: float
    loss: float
    n: int
    predictions: np.ndarray = field(repr=False)
    logits: np.ndarray = field(repr=False)
    events: dict[str, dict[str, Any]] = field(repr=False)
    policy: str

    def as_dict(self, arrays: bool = False) -> dict[str, Any]:
        """JSON-ready; ``arrays`` adds ``predictions`` (a list)."""
        out: dict[str, Any] = dict(
            accuracy=self.accuracy, loss=self.loss, n=self.n, policy=self.policy,
            events=self.events,
        )  # fmt: skip
        if arrays:
            out["predictions"] = self.predictions.tolist()
        return out


def image_batch(images: Any, width: int) -> np.ndarray:
    """``images`` as a float32 ``(n, width)`` array (one flat image becomes a batch of one).

    Raises:
        ValueError: another shape; the message says how to flatten, or that the size differs.
        TypeError: a masked array (its mask cannot be honoured: fill it first).
    """
    reject_masked(images, "images")
    x = np.asarray(images)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim == 2 and x.shape[1] != width:
        raise ValueError(
            f"images must have shape (n, {width}), got {x.shape}: they are flat, with "
            f"{x.shape[1]} values per image where the model takes {width}. Give images of the "
            "size the model was trained on (28x28 = 784 for MNIST and Fashion-MNIST)."
        )
    if x.ndim != 2:
        per_image = int(np.prod(x.shape[1:]))
        fix = (
            "flatten them with images.reshape(len(images), -1)"
            if per_image == width
            else f"their {per_image} values per image do not make the model's {width} either"
        )
        raise ValueError(f"images must have shape (n, {width}), got {x.shape}; {fix}")
    return x.astype(np.float32, copy=False)


class Served(NamedTuple):
    """What a :class:`Servable` computed for a batch of images."""

    logits: np.ndarray  # float32 (n, classes)
    events: Events  # the MACs' and roundings' event counters, per layer and role
    description: str  # names the numerics (the policy, or scheme and path); "" without stats


@runtime_checkable
class Servable(Protocol):
    """A model that serves itself: ``mixprec.nn.evaluate`` and ``predict`` take it.

    An ``MLP`` under a policy is one (:class:`PolicyServing`); so is a quantized model
    (``mixprec.quant.QuantizedMLP`` and its ``serving(...)``).
    """

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer sizes, input first."""
        ...

    def serve(self, images: np.ndarray, batch_size: int = 1000, stats: bool = True) -> Served:
        """Logits of ``images`` (float32 ``(n, sizes[0])``), ``batch_size`` at a time."""
        ...


@dataclass(frozen=True)
class PolicyServing:
    """A float ``MLP`` served under a precision policy: the :class:`Servable` of an ``MLP``.

    Args:
        model: the model.
        policy: a ``Policy``, a preset name, or a per-layer policy (a ``LayerPolicy`` or its
            string, e.g. ``"fp8@1=bf16@3=bf16"``; default ``"fp32"``).
    """

    model: MLP
    policy: Policy | LayerPolicy

    def __init__(self, model: MLP, policy: Policy | LayerPolicy | str | None = None) -> None:
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "policy", parse_policy(policy if policy is not None else "fp32"))

    @property
    def sizes(self) -> tuple[int, ...]:
        """The model's layer sizes."""
        return self.model.sizes

    def serve(self, images: np.ndarray, batch_size: int = 1000, stats: bool = True) -> Served:
        """Logits of ``images`` under the policy, and the events they took.

        Raises:
            ValueError: images of the wrong shape, a batch size below 1.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        model, policy = self.model, self.policy
        x = image_batch(images, model.sizes[0])
        if isinstance(policy, LayerPolicy):
            logits, layered = _layered_logits(model, x, policy, batch_size)
            return Served(logits, layered.events, str(policy) if stats else "")
        numerics = Numerics(policy)
        out = np.empty((len(x), model.sizes[-1]), np.float32)
        with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN are counted in events
            weights = numerics.weight_copies(model.weights)
            for lo in range(0, len(x), batch_size):
                out[lo : lo + batch_size], _ = forward(
                    numerics, weights, model.biases, x[lo : lo + batch_size]
                )
        # str(policy) rebuilds the preset to list the changes: only when the caller counts
        return Served(out, numerics.events, str(numerics.policy) if stats else "")


def _layered_logits(
    model: MLP, images: np.ndarray, policy: LayerPolicy, batch_size: int
) -> tuple[np.ndarray, Numerics]:
    """Logits under a per-layer policy: each layer served by its own ``Numerics``.

    Returns the logits and a ``Numerics`` of the base entry holding every layer's events.
    """
    policy.check(model.n_layers)
    numerics = Numerics(entry_policy(policy.base))
    h = images
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        own = Numerics(policy.layer(i + 1))
        h = layer_output(own, i + 1, w, b, h, i == model.n_layers - 1, batch_size)
        numerics.events.by_layer.update(own.events.by_layer)
    return h, numerics


def _servable(model: MLP | Servable, policy: Policy | LayerPolicy | str | None) -> Servable:
    """The servable of ``model``: an ``MLP`` under ``policy``, or ``model`` itself.

    Raises:
        ValueError: a servable with a policy (its numerics are fixed).
        TypeError: neither an ``MLP`` nor a ``Servable``.
    """
    if isinstance(model, MLP):
        return PolicyServing(model, policy)
    if not callable(getattr(type(model), "serve", None)):  # Servable, checked by its method only:
        raise TypeError(  # an uncalibrated model's sizes raise NotCalibratedError when served
            f"serving takes an MLP or a Servable (a quantized model), got {type(model).__name__}"
        )
    if policy is not None:
        raise ValueError(
            f"a {type(model).__name__} serves with its own quantized numerics; call without "
            f"policy=, or serve the float model under policy={str(policy)!r}"
        )
    return model


def predict(
    model: MLP | Servable,
    images: np.ndarray,
    policy: Policy | LayerPolicy | str | None = None,
    batch_size: int = 1000,
) -> np.ndarray:
    """Logits of ``images`` served under ``policy``.

    Args:
        model: a trained ``MLP``, or a ``Servable`` (a quantized model) without ``policy``.
        images: float32 ``(n, features)`` (one image ``(features,)`` is taken as a batch of one).
        policy: a ``Policy`` or preset name (default ``"fp32"``).
        batch_size: examples per forward pass (any size from 1).

    Returns:
        float32 logits ``(n, classes)``; ``argmax(axis=1)`` gives the classes.

    Raises:
        ValueError: images of the wrong shape, a batch size below 1, an unknown policy, or a
            policy for a model that carries its own numerics.
    """
    return _servable(model, policy).serve(images, batch_size, stats=False).logits


def evaluate(
    model: MLP | Servable,
    split: Split,
    policy: Policy | LayerPolicy | str | None = None,
    batch_size: int = 1000,
) -> Evaluation:
    """Accuracy and loss of ``model`` on ``split``, served under ``policy``.

    Args:
        model: a trained ``MLP``, or a ``Servable`` (a quantized model) without ``policy``.
        split: a ``Split`` (e.g. ``data.test``).
        policy: a ``Policy``, a preset name, or a per-layer policy (a ``LayerPolicy`` or its
            string, e.g. ``"fp8@1=bf16@3=bf16"``; default ``"fp32"``).
        batch_size: examples per forward pass.

    Returns:
        An :class:`Evaluation`.

    Raises:
        ValueError: as :func:`predict`.
        TypeError: ``split`` has no images and labels.
    """
    if not (hasattr(split, "images") and hasattr(split, "labels")):
        raise TypeError(
            f"evaluate takes a Split with images and labels (e.g. data.test), got "
            f"{type(split).__name__}; for bare images use mixprec.nn.predict(model, images)"
        )
    served = _servable(model, policy).serve(split.images, batch_size, stats=True)
    logits, labels = served.logits, np.asarray(split.labels)
    predictions = logits.argmax(axis=1).astype(np.int64)
    n = len(labels)
    if n:
        with np.errstate(over="ignore", invalid="ignore"):
            logp = log_softmax(logits.astype(np.float64))
        loss = float(-logp[np.arange(n), labels].mean())
        accuracy = float(np.count_nonzero(predictions == labels) / n)
    else:
        loss, accuracy = float("nan"), float("nan")
    return Evaluation(
        accuracy=accuracy, loss=loss, n=n, predictions=predictions, logits=logits,
        events=served.events.as_dict(), policy=served.description,
    )  # fmt: skip
