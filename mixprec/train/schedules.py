"""Learning-rate schedules: the learning rate of each epoch, from a base rate ``lr``.

``"cosine"`` (the default of :func:`~mixprec.train.train`) decays once per epoch: in epoch ``e``
(0-based) of ``E``, ``lr_e = lr * 0.5 * (1 + cos(pi * e / E))``. The first epoch runs at ``lr``,
the last at ``lr * 0.5 * (1 + cos(pi * (E - 1) / E))`` (never 0: the decay would reach 0 at epoch
``E``, which is not run). ``"constant"`` keeps ``lr`` for every epoch. The rate is computed in
float64; the optimizer then uses it in its own type (SGD: ``numpy.float32(lr_e)``).

>>> [round(epoch_lr(0.05, e, 4), 6) for e in range(4)]
[0.05, 0.042678, 0.025, 0.007322]
>>> epoch_lr(0.05, 3, 4, "constant")
0.05
"""

from __future__ import annotations

import enum
import math

from mixprec._util.choice import as_choice

__all__ = ["Schedule", "as_schedule", "epoch_lr"]


class Schedule(str, enum.Enum):
    """How the learning rate changes from epoch to epoch."""

    CONSTANT = "constant"
    COSINE = "cosine"


def as_schedule(value: Schedule | str) -> Schedule:
    """Accept a :class:`Schedule` or its string value.

    Raises:
        ValueError: an unknown schedule; the message lists ``'constant', 'cosine'``.
    """
    return as_choice(Schedule, value, "schedule")


def epoch_lr(lr: float, epoch: int, epochs: int, schedule: Schedule | str = "cosine") -> float:
    """The learning rate of ``epoch`` (0-based) of ``epochs`` under ``schedule`` (float64).

    Args:
        lr: the base learning rate (the rate of the first epoch).
        epoch: the epoch, ``0 <= epoch < epochs``.
        epochs: the number of epochs of the run.
        schedule: ``"cosine"`` or ``"constant"`` (see the module docstring).

    Raises:
        ValueError: an unknown schedule, or ``epoch`` outside ``[0, epochs)``.
    """
    kind = as_schedule(schedule)
    if not 0 <= epoch < epochs:
        raise ValueError(f"epoch must be in [0, epochs) = [0, {epochs}), got {epoch}")
    if kind is Schedule.CONSTANT:
        return float(lr)
    return lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
