"""``History``: what ``train`` records epoch by epoch, and ``TrainingInterrupted``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["History", "TrainingInterrupted"]


@dataclass
class History:
    """What happened in training, epoch by epoch (lists have one entry per completed epoch).

    Attributes:
        policy: ``str`` of the policy.
        config: the arguments of ``train`` (epochs, batch size, optimizer, lr, schedule, ...),
            with ``lr`` resolved (the optimizer's default when ``train`` got none).
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
    config: dict[str, Any] = field(default_factory=dict)
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
        """JSON-ready (lists of numbers and strings)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """The inverse of :meth:`as_dict` (unknown keys are ignored)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by ``train`` on Ctrl-C; ``history`` holds the completed epochs."""

    def __init__(self, history: History) -> None:
        super().__init__("training interrupted")
        self.history = history
