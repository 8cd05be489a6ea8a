"""Optimizers: SGD with momentum and Adam, in float32, with their state (moments) as attributes.

An optimizer turns gradients into *updates*, the arrays added to the parameters; the training
loop rounds each update to the policy's update format and adds it (to the float32 master weights,
or, without a master copy, rounds the sum into the weight format).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np

__all__ = ["SGD", "Adam", "Optimizer", "make_optimizer"]


class Optimizer:
    """Base class: ``updates(grads)`` returns one update array per parameter."""

    def updates(self, grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError


class SGD(Optimizer):
    """SGD with (heavy-ball) momentum: ``v = momentum * v - lr * g``; the update is ``v``.

    With ``momentum=0`` the update is ``-lr * g``. The velocities start at zero.

    Args:
        shapes: the parameter shapes.
        lr: learning rate (> 0).
        momentum: in [0, 1).

    Attributes:
        velocity_: float32 arrays, one per parameter.

    Raises:
        ValueError: ``lr`` or ``momentum`` out of range.
    """

    def __init__(self, shapes: Sequence[tuple[int, ...]], lr: float = 0.01, momentum: float = 0.9):
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.lr, self.momentum = np.float32(lr), np.float32(momentum)
        self.velocity_ = [np.zeros(shape, np.float32) for shape in shapes]

    def updates(self, grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The new velocities (the gradients are scaled by ``lr`` in place)."""
        for v, g in zip(self.velocity_, grads, strict=True):
            v *= self.momentum
            g *= self.lr
            v -= g
        return self.velocity_


class Adam(Optimizer):
    """Adam (Kingma and Ba 2015) with bias correction; the update is ``-lr * m_hat / (sqrt(v_hat)
    + eps)``.

    Attributes:
        m_, v_: first and second moments (float32), one per parameter.
        steps_: updates computed so far.
    """

    def __init__(
        self,
        shapes: Sequence[tuple[int, ...]],
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ):
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"betas must be in [0, 1), got {beta1}, {beta2}")
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m_ = [np.zeros(shape, np.float32) for shape in shapes]
        self.v_ = [np.zeros(shape, np.float32) for shape in shapes]
        self.steps_ = 0

    def updates(self, grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        self.steps_ += 1
        b1, b2 = np.float32(self.beta1), np.float32(self.beta2)
        step_size = np.float32(
            self.lr * np.sqrt(1 - self.beta2**self.steps_) / (1 - self.beta1**self.steps_)
        )
        eps_hat = np.float32(self.eps * np.sqrt(1 - self.beta2**self.steps_))
        out = []
        for m, v, g in zip(self.m_, self.v_, grads, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            out.append(-step_size * m / (np.sqrt(v) + eps_hat))
        return out


class OptimizerName(str, enum.Enum):
    SGD = "sgd"
    ADAM = "adam"


def make_optimizer(
    name: str | Optimizer, shapes: Sequence[tuple[int, ...]], lr: float, momentum: float
) -> Optimizer:
    """``"sgd"`` (with ``momentum``) or ``"adam"`` (``momentum`` is its beta1) for ``shapes``.

    Raises:
        ValueError: an unknown name (the message lists the optimizers).
    """
    if isinstance(name, Optimizer):
        return name
    try:
        kind = OptimizerName(str(name).lower())
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in OptimizerName)
        raise ValueError(f"unknown optimizer {name!r}; use one of {allowed}") from None
    if kind is OptimizerName.SGD:
        return SGD(shapes, lr=lr, momentum=momentum)
    return Adam(shapes, lr=lr, beta1=momentum)
