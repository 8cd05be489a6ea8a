"""A per-layer policy compiled for running: each layer's roles by its own ``Numerics``.

:class:`LayeredNumerics` has the interface the forward and backward passes and the trainer use
(``weights``, ``activations``, ``gradients``, ``updates``, ``matmul``, ``weight_copies``,
``take_events``), and sends every call to the ``Numerics`` of the layer it names. Layer labels
are those of :mod:`mixprec.nn.passes`: the input of layer ``l`` (its activations) and the
gradient of its output are labelled ``l``; a parameter of layer ``l`` is updated by layer
``l``'s update and weight formats.

The settings that belong to the whole step, not to a layer (master weights, loss scaling,
update rounding, trainability), are the base entry's; every layer's entry must be trainable to
train.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mixprec.nn.compiled import Events, Numerics, Rounder, Scaled
from mixprec.nn.layered import LayerPolicy, entry_policy
from mixprec.nn.policy import Policy

__all__ = ["LayeredNumerics", "LayerRounders", "make_numerics", "parameter_layers"]


class LayerRounders:
    """One role's :class:`Rounder` per layer, called like a single ``Rounder``.

    Attribute reads (``fmt``, ``per_tensor``, ...) are layer 1's: the training inputs are
    rounded once, by layer 1's activation rounder. ``is_identity`` holds when every layer's is.
    """

    def __init__(self, parts: list[Rounder]) -> None:
        self.parts = parts
        self.is_identity = all(p.is_identity for p in parts)

    def at(self, layer: int) -> Rounder:
        """The rounder of a layer (from 1; 0 is layer 1)."""
        return self.parts[max(layer, 1) - 1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parts[0], name)

    def scaled(self, x: np.ndarray, layer: int = 0, *args: Any, **kwargs: Any) -> Scaled:
        return self.at(layer).scaled(x, layer, *args, **kwargs)

    def values(self, x: np.ndarray, layer: int = 0, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.at(layer).values(x, layer, *args, **kwargs)

    def scaled_many(self, xs: list[np.ndarray], layers: list[int]) -> list[Scaled]:
        return [self.at(layer).scaled(x, layer) for x, layer in zip(xs, layers, strict=True)]

    def values_many(self, xs: list[np.ndarray], layers: list[int]) -> list[np.ndarray]:
        return [self.at(layer).values(x, layer) for x, layer in zip(xs, layers, strict=True)]


class LayeredNumerics:
    """A :class:`LayerPolicy` ready to run on a model of ``n_layers`` layers.

    Args:
        policy: the per-layer policy.
        n_layers: the model's layers.
        count_events: count numeric events (in one ``events`` for all layers).

    Raises:
        ValueError: an override beyond ``n_layers``.
    """

    def __init__(self, policy: LayerPolicy, n_layers: int, count_events: bool = True) -> None:
        policy.check(n_layers)
        self.layer_policy = policy
        self.policy: Policy = entry_policy(policy.base)
        self.count_events = count_events
        self.layers = [Numerics(policy.layer(i), count_events) for i in range(1, n_layers + 1)]
        self.events = Events()
        self._share_events()
        self.weights = LayerRounders([n.weights for n in self.layers])
        self.activations = LayerRounders([n.activations for n in self.layers])
        self.gradients = LayerRounders([n.gradients for n in self.layers])
        self.updates = LayerRounders([n.updates for n in self.layers])

    def _share_events(self) -> None:
        for numerics in self.layers:
            numerics.events = self.events
            for r in (numerics.weights, numerics.activations, numerics.gradients):
                if r.events is not None:
                    r.events = self.events

    def take_events(self) -> Events:
        """The events so far; counting starts again from zero."""
        events = self.events
        self.events = Events()
        self._share_events()
        return events

    def matmul(self, role: str, layer: int, a: Scaled, b: Scaled) -> np.ndarray:
        """The product by the MAC of ``role`` in ``layer``."""
        return self.layers[layer - 1].matmul(role, layer, a, b)

    def weight_copies(self, weights: list[np.ndarray], on_grid: bool = False) -> list[Scaled]:
        """Each layer's weights as its own matmuls see them (see ``Numerics.weight_copies``)."""
        out = []
        for layer, (numerics, w) in enumerate(zip(self.layers, weights, strict=True), start=1):
            if on_grid and not numerics.weights.per_tensor:
                out.append(Scaled(w, 1.0))
            else:
                out.append(numerics.weights.scaled(w, layer))
        return out


def make_numerics(
    policy: Policy | LayerPolicy, n_layers: int, count_events: bool = True
) -> Numerics | LayeredNumerics:
    """``Numerics`` for a ``Policy``, ``LayeredNumerics`` for a ``LayerPolicy``."""
    if isinstance(policy, LayerPolicy):
        return LayeredNumerics(policy, n_layers, count_events)
    return Numerics(policy, count_events)


def parameter_layers(has_bias: list[bool]) -> list[int]:
    """The layer (from 1) of each parameter, in the order of ``MLP.parameters()``."""
    out = []
    for i, bias in enumerate(has_bias):
        out += [i + 1, i + 1] if bias else [i + 1]
    return out
