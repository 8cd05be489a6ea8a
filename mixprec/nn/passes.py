"""The MLP's forward and backward passes under a precision policy (a compiled ``Numerics``).

Written with the layers of :mod:`mixprec.nn.layers`; training (``train``) and serving
(``evaluate``, ``predict``) both use them. Every matmul goes through the MAC of its role, every
weight, activation and gradient tensor is rounded to its role's format (see
:mod:`mixprec.nn.compiled` and :mod:`mixprec.nn.policy`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from mixprec.nn.compiled import Numerics, Scaled
from mixprec.nn.layers import affine_backward, affine_forward, relu_backward, relu_forward

if TYPE_CHECKING:
    from mixprec.nn.layered_numerics import LayeredNumerics

__all__ = ["backward", "forward"]


def forward(
    numerics: Numerics | LayeredNumerics,
    weights: list[Scaled],
    biases: list[np.ndarray | None],
    x: np.ndarray | None,
    x_rounded: Scaled | None = None,
) -> tuple[np.ndarray, list[Scaled]]:
    """Logits (float32) of a batch, and each layer's rounded input (kept for the backward pass).

    The input and every hidden activation are rounded to the activation format (``x_rounded``:
    ``x`` as the caller already rounded it); a layer's product goes through the forward MAC, the
    bias is added to its float32 result (the logits stay float32), then ReLU.
    """
    inputs: list[Scaled] = []
    if x_rounded is not None:
        h = x_rounded
    elif x is not None:
        h = numerics.activations.scaled(x, 1)
    else:
        raise ValueError("forward needs the batch x, or x_rounded")
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        inputs.append(h)
        layer = i + 1
        z = affine_forward(h, w, b, matmul=functools.partial(numerics.matmul, "forward", layer))
        if i == last:
            return z, inputs
        h = numerics.activations.scaled(relu_forward(z, inplace=True), layer + 1)
    raise ValueError("a model needs at least one layer")


def backward(
    numerics: Numerics | LayeredNumerics,
    weights: list[Scaled],
    has_bias: list[bool],
    inputs: list[Scaled],
    dz: np.ndarray,
) -> list[np.ndarray]:
    """Parameter gradients (float32, in the order of ``MLP.parameters()``) from ``dlogits``.

    Every gradient (of the logits, of each hidden activation, of each weight and bias) is rounded
    to the gradient format; the two products of each layer go through their MACs.
    """
    g = numerics.gradients.scaled(dz, len(weights))
    grads: list[np.ndarray] = []
    layers: list[int] = []
    for i in reversed(range(len(weights))):
        layer = i + 1
        input_grad = functools.partial(numerics.matmul, "input_grad", layer)
        weight_grad = functools.partial(numerics.matmul, "weight_grad", layer)
        dx, dw, db = affine_backward(
            g, inputs[i], weights[i], has_bias[i], i > 0, input_grad, weight_grad
        )
        grads[:0] = [dw] if db is None else [dw, db]
        layers[:0] = [layer] if db is None else [layer, layer]
        if dx is not None:
            dx = relu_backward(dx, inputs[i].values, inplace=True)
            g = numerics.gradients.scaled(dx, layer - 1)
    return numerics.gradients.values_many(grads, layers)  # all parameter gradients at once
