"""Optimizers: SGD with momentum and Adam, in float32, with their state (moments) as attributes.

An optimizer turns gradients into *updates*, the arrays added to the parameters; the training
loop rounds each update to the policy's update format and adds it (to the float32 master weights,
or, without a master copy, rounds the sum into the weight format). ``train`` sets the learning
rate of each epoch with ``set_lr`` (see :mod:`mixprec.train.schedules`).

Default learning rates (``DEFAULT_LR``): 0.05 for SGD and 0.001 for Adam, the rates that
``train`` uses when given none (why these: :mod:`mixprec.train.train`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import numpy as np

from mixprec._util.choice import as_choice

__all__ = [
    "DEFAULT_LR", "SGD", "Adam", "Optimizer", "OptimizerName", "as_optimizer_name", "default_lr",
    "make_optimizer",
]  # fmt: skip


class OptimizerName(str, enum.Enum):
    """The optimizers ``train`` builds by name."""

    SGD = "sgd"
    ADAM = "adam"


DEFAULT_LR = {OptimizerName.SGD: 0.05, OptimizerName.ADAM: 0.001}


def _check_lr(lr: float) -> None:
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")


class Optimizer:
    """Base class: ``updates(grads)`` returns one update array per parameter.

    Attributes:
        lr: the learning rate of the next updates (``set_lr`` changes it).
    """

    lr: float | np.float32

    def updates(self, grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def set_lr(self, lr: float) -> None:
        """Use learning rate ``lr`` (> 0) from the next update on.

        Raises:
            ValueError: ``lr`` is not > 0.
        """
        _check_lr(lr)
        self.lr = float(lr)


class SGD(Optimizer):
    """SGD with (heavy-ball) momentum: ``v = momentum * v - lr * g``; the update is ``v``.

    With ``momentum=0`` the update is ``-lr * g``. The velocities start at zero.

    Args:
        shapes: the parameter shapes.
        lr: learning rate (> 0).
        momentum: in [0, 1).

    Attributes:
        lr, momentum: as float32 scalars.
        velocity_: float32 arrays, one per parameter.

    Raises:
        ValueError: ``lr`` or ``momentum`` out of range.
    """

    def __init__(
        self,
        shapes: Sequence[tuple[int, ...]],
        lr: float = DEFAULT_LR[OptimizerName.SGD],
        momentum: float = 0.9,
    ):
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.set_lr(lr)
        self.momentum = np.float32(momentum)
        self.velocity_ = [np.zeros(shape, np.float32) for shape in shapes]

    def set_lr(self, lr: float) -> None:
        """Use learning rate ``numpy.float32(lr)`` (``lr`` > 0) from the next update on."""
        _check_lr(lr)
        self.lr = np.float32(lr)

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
        lr: the learning rate, a Python float (the step size is computed in float64, then used
            as float32).
        m_, v_: first and second moments (float32), one per parameter.
        steps_: updates computed so far.
    """

    def __init__(
        self,
        shapes: Sequence[tuple[int, ...]],
        lr: float = DEFAULT_LR[OptimizerName.ADAM],
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ):
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"betas must be in [0, 1), got {beta1}, {beta2}")
        self.set_lr(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
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


def as_optimizer_name(name: OptimizerName | str) -> OptimizerName:
    """Accept an :class:`OptimizerName` or its string value, in any letter case.

    Raises:
        ValueError: an unknown optimizer; the message lists ``'sgd', 'adam'``.
    """
    if isinstance(name, OptimizerName):
        return name
    return as_choice(OptimizerName, str(name).lower(), "optimizer")


def default_lr(optimizer: str | Optimizer) -> float:
    """The learning rate ``train`` uses when given none: ``DEFAULT_LR`` by name, or an
    ``Optimizer``'s own ``lr``.

    >>> default_lr("sgd"), default_lr("adam")
    (0.05, 0.001)

    Raises:
        ValueError: an unknown name (the message lists the optimizers), or an ``Optimizer``
            without an ``lr`` attribute (pass ``lr=`` explicitly).
    """
    if isinstance(optimizer, Optimizer):
        lr = getattr(optimizer, "lr", None)
        if lr is None:
            raise ValueError(
                f"{type(optimizer).__name__} has no lr attribute; pass the learning rate "
                "explicitly (lr=...)"
            )
        return float(lr)
    return DEFAULT_LR[as_optimizer_name(optimizer)]


def make_optimizer(
    name: str | Optimizer,
    shapes: Sequence[tuple[int, ...]],
    lr: float | None,
    momentum: float,
) -> Optimizer:
    """``"sgd"`` (with ``momentum``) or ``"adam"`` (``momentum`` is its beta1) for ``shapes``.

    ``lr=None`` means :func:`default_lr`. An ``Optimizer`` is returned as it is, its learning
    rate set to ``lr`` when one is given.

    Raises:
        ValueError: an unknown name (the message lists the optimizers), ``lr`` not > 0.
    """
    if isinstance(name, Optimizer):
        if lr is not None:
            name.set_lr(lr)
        return name
    kind = as_optimizer_name(name)
    lr = DEFAULT_LR[kind] if lr is None else lr
    if kind is OptimizerName.SGD:
        return SGD(shapes, lr=lr, momentum=momentum)
    return Adam(shapes, lr=lr, beta1=momentum)
