"""``History``: what ``train`` records epoch by epoch, and ``TrainingInterrupted``."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from mixprec.train.config import TrainConfig

__all__ = ["History", "TrainingInterrupted"]


@dataclass
class History:
    """What happened in training, epoch by epoch (lists have one entry per completed epoch).

    Attributes:
        policy: ``str`` of the policy.
        config: the :class:`TrainConfig` of the run, with ``lr`` resolved (the optimizer's
            default when ``train`` got none); ``None`` when not known.
        sizes: the model's layer sizes.
        n_train: the number of training examples.
        loss: mean training loss over the epoch's steps.
        train_accuracy: accuracy on the training batches as they were seen.
        accuracy: accuracy on the evaluation split after the epoch (empty without one).
        eval_loss: loss on the evaluation split.
        seconds: training seconds of the epoch (evaluation excluded).
        eval_seconds: seconds of the evaluation.
        skipped_steps: steps skipped for inf/NaN gradients (loss scaling).
        loss_scale: the loss scale at the end of the epoch.
        events: the MACs' event counters of the epoch's training steps (per layer and role).
        steps: training steps completed in all.
        interrupted: training stopped early (KeyboardInterrupt).
    """

    policy: str
    config: TrainConfig | None = None
    sizes: tuple[int, ...] = ()
    n_train: int = 0
    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)
    skipped_steps: list[int] = field(default_factory=list)
    loss_scale: list[float] = field(default_factory=list)
    events: list[dict[str, dict[str, Any]]] = field(default_factory=list)
    steps: int = 0
    interrupted: bool = False

    @property
    def epochs(self) -> int:
        """Completed epochs."""
        return len(self.loss)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (lists of numbers and strings); ``config`` holds the settings, ``sizes``
        and ``n_train``, as model files have always stored them."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        config: dict[str, Any] = {} if self.config is None else self.config.as_dict()
        if self.sizes:
            config.update(sizes=list(self.sizes), n_train=self.n_train)
        values["config"] = config
        del values["sizes"], values["n_train"]
        return {k: copy.deepcopy(v) for k, v in values.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """The inverse of :meth:`as_dict` (unknown keys are ignored; an optimizer given as an
        object is recorded by its class name and read back as ``None`` config)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        config = dict(values.pop("config", None) or {})
        sizes, n_train = tuple(config.pop("sizes", ())), int(config.pop("n_train", 0))
        try:
            training = TrainConfig.from_dict(config) if config else None
        except ValueError:
            training = None
        return cls(**values, config=training, sizes=sizes, n_train=n_train)


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by ``train`` on Ctrl-C; ``history`` holds the completed epochs."""

    def __init__(self, history: History) -> None:
        super().__init__("training interrupted")
        self.history = history
