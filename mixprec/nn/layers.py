"""The MLP's layers, each forward pass beside its backward pass.

Every function is pure numpy and keeps the dtype of its inputs: float32 in training, float64 in
the gradient checks. The affine layer takes its matrix product as an argument, so that a precision
policy can route it through an emulated MAC unit (``mixprec.mac``); by default it is ``np.matmul``.

Shapes: a batch ``x`` is ``(n, in)``, a weight ``w`` is ``(in, out)``, a bias ``b`` is ``(out,)``.

>>> import numpy as np
>>> x = np.array([[1.0, -2.0]]); w = np.array([[1.0], [1.0]])
>>> relu_forward(affine_forward(x, w, np.array([0.5])))
array([[0.]])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "Matmul",
    "affine_backward",
    "affine_forward",
    "log_softmax",
    "relu_backward",
    "relu_forward",
    "softmax",
    "softmax_cross_entropy",
]

Matmul = Callable[[Any, Any], np.ndarray]
Operand = Any
"""An array, or any operand the given ``matmul`` takes and that has ``.T`` and ``.sum(axis)``
(a policy passes rounded tensors with their scales, ``mixprec.nn.compiled.Scaled``)."""


# -- affine: y = x @ w + b ------------------------------------------------------------------------
def affine_forward(
    x: Operand, w: Operand, b: np.ndarray | None = None, matmul: Matmul = np.matmul
) -> np.ndarray:
    """``y = x @ w + b`` (``b`` optional).

    Args:
        x: inputs ``(n, in)``.
        w: weights ``(in, out)``.
        b: bias ``(out,)`` or ``None``.
        matmul: the matrix product to use (``np.matmul``, or a MAC unit's).

    Returns:
        ``(n, out)``; a new array (``x`` and ``w`` are not modified).
    """
    y = matmul(x, w)
    if b is not None:
        y += b
    return y


def affine_backward(
    dy: Operand,
    x: Operand,
    w: Operand,
    has_bias: bool,
    needs_input_grad: bool = True,
    input_grad_matmul: Matmul = np.matmul,
    weight_grad_matmul: Matmul = np.matmul,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Gradients of ``y = x @ w + b``: ``dx = dy @ w.T``, ``dw = x.T @ dy``, ``db = sum(dy)``.

    Args:
        dy: gradient of the loss with respect to ``y``, ``(n, out)``.
        x: the layer's input as used in the forward pass, ``(n, in)``.
        w: the weights as used in the forward pass, ``(in, out)``.
        has_bias: whether to return ``db``.
        needs_input_grad: ``False`` skips ``dx`` (the first layer: nothing below it learns).
        input_grad_matmul: the product for ``dx`` (the "input gradient" MAC).
        weight_grad_matmul: the product for ``dw`` (the "weight gradient" MAC).

    Returns:
        ``(dx or None, dw, db or None)``.
    """
    dw = weight_grad_matmul(x.T, dy)
    db = dy.sum(axis=0) if has_bias else None
    dx = input_grad_matmul(dy, w.T) if needs_input_grad else None
    return dx, dw, db


# -- ReLU: y = max(x, 0) --------------------------------------------------------------------------
def relu_forward(x: np.ndarray, inplace: bool = False) -> np.ndarray:
    """``max(x, 0)``; with ``inplace`` overwrites ``x`` (a pre-activation nobody else needs).

    NaN stays NaN (``np.maximum`` propagates it), so a diverged model shows as NaN, not as 0.
    """
    return np.maximum(x, 0, out=x if inplace else None)


def relu_backward(dy: np.ndarray, y: np.ndarray, inplace: bool = False) -> np.ndarray:
    """``dy * (y > 0)``, given the ReLU's *output* ``y`` (``y > 0`` exactly where ``x > 0``).

    With ``inplace`` overwrites ``dy``. The derivative at 0 is taken as 0.
    """
    if inplace:
        dy *= y > 0
        return dy
    return dy * (y > 0)


# -- softmax and cross-entropy --------------------------------------------------------------------
def log_softmax(z: np.ndarray) -> np.ndarray:
    """``z - logsumexp(z)`` along the last axis, stable for any finite logits."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """Probabilities along the last axis, computed from ``z - max(z)`` (no overflow)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def softmax_cross_entropy(
    z: np.ndarray, labels: np.ndarray, scale: float = 1.0
) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(``z``) against integer ``labels``, and its gradient.

    The fused gradient is ``(softmax(z) - onehot(labels)) / n``: it never forms ``log(p)`` of a
    vanishing probability, so it stays finite for any finite logits. The loss is computed as
    ``log(sum(exp(z - max))) - (z - max)[label]``, also without overflow.

    Args:
        z: logits ``(n, classes)``; not modified.
        labels: integer labels ``(n,)`` in ``[0, classes)``.
        scale: multiplies the gradient (loss scaling); the returned loss is not scaled.

    Returns:
        ``(loss, dz)``: the mean loss as a Python float, ``dz`` of the dtype and shape of ``z``.

    Raises:
        ValueError: a label out of range, or shapes that do not match.
    """
    n, classes = z.shape
    if labels.shape != (n,):
        raise ValueError(f"labels have shape {labels.shape}; expected ({n},) to match the logits")
    if n and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"labels must be in [0, {classes}), got values from {labels.min()} to {labels.max()}"
        )
    rows = np.arange(n)
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, labels], dtype=np.float64))
    e /= total
    e[rows, labels] -= 1
    e *= z.dtype.type(scale / n)
    return loss, e
