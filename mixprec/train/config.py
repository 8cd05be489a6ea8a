"""``TrainConfig``: the training settings, written once and shared by every caller.

``train`` and ``train_epochs`` take a ``TrainConfig`` (or its fields as keywords), a sweep holds
one (``Sweep.training``), the ``mixprec train`` and ``mixprec sweep`` flags are derived from its
fields (:data:`HELP`), and a ``History`` records the one it ran with (``lr`` resolved).

>>> config = TrainConfig(epochs=3, lr=None)
>>> config.resolved_lr, config.replace(optimizer="adam").resolved_lr
(0.05, 0.001)
>>> TrainConfig(momentum=1.0)
Traceback (most recent call last):
ValueError: momentum must be a number in [0, 1), got 1.0.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from mixprec.train.optimizers import Optimizer, OptimizerName, as_optimizer_name, default_lr
from mixprec.train.schedules import Schedule, as_schedule

__all__ = ["HELP", "TrainConfig", "resolve"]

#: One line per field of :class:`TrainConfig`: its docstring and the CLI flags' help.
HELP: dict[str, str] = {
    "epochs": "passes over the training set",
    "batch_size": "examples per step (the last step of an epoch takes the remainder)",
    "optimizer": "'sgd' (with momentum) or 'adam' (or an Optimizer object, from Python)",
    "lr": "the base learning rate (the first epoch's); None: the optimizer's default "
    "(0.05 for sgd, 0.001 for adam)",
    "schedule": "learning rate per epoch: 'cosine' decay from lr, or 'constant'",
    "momentum": "SGD momentum (Adam's beta1), in [0, 1)",
    "seed": "shuffling and stochastic rounding (the model's initialization has its own seed)",
}


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How to train: the recipe, validated once.

    Attributes:
        epochs: passes over the training set (``>= 0``).
        batch_size: examples per step (``>= 1``).
        optimizer: ``"sgd"`` or ``"adam"`` (an ``Optimizer`` object is kept as it is).
        lr: the base learning rate (``> 0``), or ``None`` for the optimizer's default.
        schedule: ``"cosine"`` or ``"constant"`` (see :mod:`mixprec.train.schedules`).
        momentum: SGD momentum, Adam's beta1 (``0 <= momentum < 1``).
        seed: seeds shuffling and stochastic rounding (``>= 0``).

    Raises:
        ValueError: a value out of range, an unknown optimizer or schedule; the message names
            the field and what is allowed.
    """

    epochs: int = 10
    batch_size: int = 128
    optimizer: OptimizerName | Optimizer = OptimizerName.SGD
    lr: float | None = None
    schedule: Schedule = Schedule.COSINE
    momentum: float = 0.9
    seed: int = 0

    def __post_init__(self) -> None:
        put = object.__setattr__
        for name, low in (("epochs", 0), ("batch_size", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if not isinstance(self.optimizer, Optimizer):
            put(self, "optimizer", as_optimizer_name(self.optimizer))
        put(self, "schedule", as_schedule(self.schedule))
        if self.lr is not None:
            put(self, "lr", _number("lr", self.lr, lambda v: 0 < v < math.inf, "> 0"))
        put(self, "momentum", _number("momentum", self.momentum, lambda v: 0 <= v < 1, "in [0, 1)"))

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        """The names of the settings, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from a mapping of field names (a ``History.config`` or a TOML table).

        Raises:
            ValueError: an unknown key (the message lists the settings) or a bad value.
        """
        unknown = sorted(set(values) - set(cls.fields()))
        if unknown:
            raise ValueError(
                f"unknown training setting(s) {', '.join(map(repr, unknown))}; the settings are "
                f"{', '.join(cls.fields())}."
            )
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (``None`` leaves a setting as it is, except
        ``lr=None``, which is the optimizer's default only when passed to the constructor)."""
        unknown = sorted(set(changes) - set(self.fields()))
        if unknown:
            self.from_dict({k: changes[k] for k in unknown})  # raises, listing the settings
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def resolved_lr(self) -> float:
        """The learning rate training starts with: ``lr``, or the optimizer's default."""
        return self.lr if self.lr is not None else default_lr(self.optimizer)

    @property
    def optimizer_name(self) -> str:
        """``"sgd"``/``"adam"``, or the class name of an ``Optimizer`` object."""
        if isinstance(self.optimizer, Optimizer):
            return type(self.optimizer).__name__
        return self.optimizer.value

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready settings (enums as their strings, ``lr`` as given)."""
        values = {name: getattr(self, name) for name in self.fields()}
        values["optimizer"] = self.optimizer_name
        values["schedule"] = self.schedule.value
        return values


def resolve(
    config: TrainConfig | None, settings: dict[str, Any], default: TrainConfig | None = None
) -> TrainConfig:
    """``config`` (else ``default``, else ``TrainConfig()``) with ``settings`` (field names)
    replaced and ``lr`` resolved: the config a training loop runs with.

    Raises:
        TypeError: ``config`` is not a ``TrainConfig``.
        ValueError: an unknown setting or a bad value.
    """
    base = config if config is not None else default if default is not None else TrainConfig()
    if not isinstance(base, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(base).__name__}")
    merged = base.replace(**settings)  # None leaves a setting as it is (lr=None: the default)
    return merged.replace(lr=merged.resolved_lr)


def _number(name: str, value: object, ok: Any, allowed: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
        raise ValueError(f"{name} must be a number {allowed}, got {value!r}.")
    return float(value)
