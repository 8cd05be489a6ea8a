"""Training under a precision policy: ``Trainer`` (one step at a time) and ``train`` (epochs).

One step: round the weights to the policy's weight format (from the float32 master copy, if the
policy keeps one), run the forward pass, compute the softmax cross-entropy and its gradient
(multiplied by the loss scale), run the backward pass, then

* with loss scaling, if any gradient is inf or NaN, **skip** the step (the parameters and the
  optimizer state are left as they were); a dynamic scale is halved, and doubled again after
  ``growth_interval`` clean steps (Micikevicius et al. 2018, section 3.2);
* divide the gradients by the loss scale (float32), compute the optimizer's updates, round them
  to the update format, and add them: to the master weights in float32, or, without a master
  copy, round the sum into the weight format (to nearest or stochastically).

Randomness comes from ``numpy.random.default_rng(seed)``: its first spawned child shuffles the
training set each epoch, its second draws the stochastic rounding. The same seed, policy and data
give the same history, bit for bit.

Interrupting (Ctrl-C) is safe: the parameter update of a step is applied with SIGINT deferred,
so the model always holds the result of its last completed step. ``train`` then raises
:class:`TrainingInterrupted` (a ``KeyboardInterrupt``) whose ``history`` holds the completed
epochs, marked ``interrupted``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mixprec.data import Dataset, Split
from mixprec.nn.compute import backward, forward
from mixprec.nn.evaluate import evaluate
from mixprec.nn.layers import softmax_cross_entropy
from mixprec.nn.model import MLP
from mixprec.nn.numerics import Numerics, Rounder, Scaled, tensor_scale
from mixprec.nn.optim import Optimizer, make_optimizer
from mixprec.nn.policy import LossScaling, MasterWeights, Policy

__all__ = ["History", "StepResult", "Trainer", "TrainingInterrupted", "train"]


@dataclass
class History:
    """What happened in training, epoch by epoch (lists have one entry per completed epoch).

    Attributes:
        policy: ``str`` of the policy.
        config: the arguments of ``train`` (epochs, batch size, optimizer, lr, ...).
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


@dataclass(frozen=True)
class StepResult:
    """One step: its loss (before the update), correct predictions, whether it was skipped."""

    loss: float
    correct: int
    skipped: bool


class _Interrupts:
    """Defers SIGINT while a parameter update is applied (main thread only; else a no-op).

    ``with _Interrupts() as guard:`` installs the handler once for a whole training run; inside,
    ``with guard.deferred():`` marks an update. Ctrl-C outside an update raises
    ``KeyboardInterrupt`` at once; during one, right after it.
    """

    def __init__(self) -> None:
        self.active = threading.current_thread() is threading.main_thread()
        self.updating = False
        self.pending = False
        self.previous: Any = None

    def __enter__(self) -> _Interrupts:
        if self.active:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.updating:
            self.pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.updating = True
        try:
            yield
        finally:
            self.updating = False
            if self.pending:
                self.pending = False
                raise KeyboardInterrupt


_NO_GUARD = _Interrupts()
_NO_GUARD.active = False


class Trainer:
    """Applies training steps to a model under a policy (the state between steps lives here).

    Args:
        model: the model; its parameters are updated in place. Without master weights they are
            first rounded into the weight format.
        policy: a ``Policy`` or preset name (default ``"fp32"``).
        optimizer: ``"sgd"``, ``"adam"`` or an ``Optimizer``.
        lr: learning rate.
        momentum: SGD momentum (Adam's beta1).
        seed: an int or ``numpy.random.Generator`` for stochastic rounding.
        count_events: collect the MACs' event counters.

    Attributes:
        loss_scale_: the current loss scale.
        clean_steps_: steps since the scale last changed (dynamic scaling).
        steps_, skipped_steps_: steps taken, and skipped for inf/NaN gradients.

    Raises:
        ValueError: a serving-only policy (e.g. ``int8``).
    """

    def __init__(
        self,
        model: MLP,
        policy: Policy | str | None = None,
        optimizer: str | Optimizer = "sgd",
        lr: float = 0.01,
        momentum: float = 0.9,
        seed: int | np.random.Generator = 0,
        count_events: bool = True,
    ) -> None:
        self.policy = Policy.preset(policy if policy is not None else "fp32")
        if not self.policy.trainable:
            raise ValueError(
                f"policy {self.policy} is for serving only; train with another policy (e.g. "
                f"'fp32' or 'bf16') and evaluate the trained model with policy={str(self.policy)!r}"
            )
        self.model = model
        self.numerics = Numerics(self.policy, count_events=count_events)
        self.rng = np.random.default_rng(seed)
        self.optimizer = make_optimizer(
            optimizer, [p.shape for p in model.parameters()], lr, momentum
        )
        self.has_master = self.policy.master_weights is MasterWeights.FP32
        scaling = self.policy.loss_scaling
        self.loss_scale_ = 1.0 if scaling is LossScaling.NONE else self.policy.loss_scale
        self.interrupts = _NO_GUARD  # train() installs a SIGINT guard for its run
        self.clean_steps_ = 0
        self.steps_ = 0
        self.skipped_steps_ = 0
        weights = self.numerics.weights
        self._into_weights = None  # rounds updated weights that have no master copy
        if not (self.has_master or weights.is_identity):
            self._into_weights = Rounder(weights.fmt, "weights", "saturate", weights.per_tensor)
            for p in model.parameters():
                p[...] = self._into_weights.values(p)

    def step(
        self, x: np.ndarray | None, labels: np.ndarray, x_rounded: Scaled | None = None
    ) -> StepResult:
        """One training step on a batch.

        Args:
            x: float32 images ``(n, in)``.
            labels: int labels ``(n,)``.
            x_rounded: ``x`` already rounded to the activation format (with its scale), as
                ``train`` does once for the whole training set; ``x`` may then be None.
        """
        model, numerics, policy = self.model, self.numerics, self.policy
        with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN: counted, or skipped
            weights = numerics.weight_copies(model.weights, on_grid=not self.has_master)
            logits, inputs = forward(numerics, weights, model.biases, x, x_rounded)
            correct = int(np.count_nonzero(logits.argmax(axis=1) == labels))
            loss, dz = softmax_cross_entropy(logits, labels, scale=self.loss_scale_)
            has_bias = [b is not None for b in model.biases]
            grads = backward(numerics, weights, has_bias, inputs, dz)
        self.steps_ += 1
        if policy.loss_scaling is not LossScaling.NONE:
            if not all(np.isfinite(g).all() for g in grads):
                self.skipped_steps_ += 1
                if policy.loss_scaling is LossScaling.DYNAMIC:
                    self.loss_scale_ /= 2
                    self.clean_steps_ = 0
                return StepResult(loss, correct, True)
            if self.loss_scale_ != 1.0:
                inverse = np.float32(1.0 / self.loss_scale_)
                for g in grads:
                    g *= inverse
            if policy.loss_scaling is LossScaling.DYNAMIC:
                self.clean_steps_ += 1
                if self.clean_steps_ >= policy.growth_interval:
                    self.loss_scale_ *= 2
                    self.clean_steps_ = 0
        with self.interrupts.deferred():
            self._apply(self.optimizer.updates(grads))
        return StepResult(loss, correct, False)

    def _apply(self, updates: list[np.ndarray]) -> None:
        """Add the (rounded) updates to the master weights, or round them into the weights."""
        rounder, into_weights = self.numerics.updates, self._into_weights
        rounding = self.policy.update_rounding
        for p, u in zip(self.model.parameters(), updates, strict=True):
            if not rounder.is_identity:
                u = rounder.values(u)
            if into_weights is not None:
                p[...] = into_weights.values(p + u, rounding=rounding, rng=self.rng)  # type: ignore[arg-type]
            else:
                p += u


def _eval_split(data: Dataset | Split, eval_split: str | Split | None) -> Split | None:
    if eval_split is None or isinstance(eval_split, Split):
        return eval_split
    if isinstance(data, Split):
        raise ValueError(
            f"eval_split={eval_split!r} names a split, but data is a single Split; pass a "
            "Dataset, a Split as eval_split, or eval_split=None"
        )
    split = (
        getattr(data, eval_split, None) if eval_split in ("test", "validation", "train") else None
    )
    if split is None:
        raise ValueError(
            f"eval_split={eval_split!r}: use 'test', 'validation' (if the dataset has one), "
            "'train', a Split, or None"
        )
    return split


def _progress(total: int, description: str, enabled: bool) -> Any:
    """A tqdm bar, or None when disabled or tqdm is not installed (the ``progress`` extra)."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=description, unit="step", leave=False)


class _Inputs:
    """The training images, rounded once to the activation format for the whole run.

    A batch's rounded input is the rows of the rounded set: the same values as rounding the batch
    itself, since rounding acts value by value. With per-tensor scaling the set is rounded with
    its own scale, and a batch takes those rows when its own scale (from its largest magnitude,
    kept per row) is the same, which it nearly always is; otherwise the batch is rounded alone.
    Rounding events of the inputs are therefore not counted in training (evaluation counts them).
    """

    def __init__(self, images: np.ndarray, rounder: Rounder) -> None:
        self.images, self.fmt = images, rounder.fmt
        self.per_tensor = rounder.per_tensor
        self.rounded: np.ndarray | None = None
        self.scale = 1.0
        if rounder.is_identity:
            return
        quiet = Rounder(rounder.fmt, rounder.role, rounder.overflow, per_tensor=False)
        if self.per_tensor:
            self.row_amax = np.maximum(images.max(axis=1), -images.min(axis=1))
            self.scale = tensor_scale(images, self.fmt, float(self.row_amax.max(initial=0.0)))
            self.rounded = quiet.scaled(images * np.float32(self.scale)).values
        else:
            self.rounded = quiet.scaled(images).values

    def batch(self, index: np.ndarray) -> tuple[np.ndarray | None, Scaled | None]:
        """``(x, x_rounded)`` for a step: the raw batch or None, its rounded form or None."""
        if self.rounded is None:
            return self.images[index], None
        if self.per_tensor:
            amax = float(self.row_amax[index].max(initial=0.0))
            if tensor_scale(self.images[:0], self.fmt, amax) != self.scale:
                return self.images[index], None
        return None, Scaled(self.rounded[index], self.scale)


def _epoch(
    trainer: Trainer,
    history: History,
    inputs: _Inputs,
    labels: np.ndarray,
    shuffle_rng: np.random.Generator,
    batch_size: int,
    bar: Any,
) -> None:
    """One pass over the shuffled training set; appends the epoch's entries to ``history``."""
    n = len(labels)
    skipped_before = trainer.skipped_steps_
    losses, correct = 0.0, 0
    try:
        start = time.perf_counter()
        order = shuffle_rng.permutation(n)
        for lo in range(0, n, batch_size):
            index = order[lo : lo + batch_size]
            x, x_rounded = inputs.batch(index)
            result = trainer.step(x, labels[index], x_rounded)
            losses += result.loss * len(index)
            correct += result.correct
            if bar is not None:
                bar.update()
                if bar.n % 20 == 0:
                    bar.set_postfix(loss=f"{result.loss:.3f}", refresh=False)
        seconds = time.perf_counter() - start
    finally:
        if bar is not None:
            bar.close()
    history.loss.append(losses / n)
    history.train_accuracy.append(correct / n)
    history.seconds.append(seconds)
    history.skipped_steps.append(trainer.skipped_steps_ - skipped_before)
    history.loss_scale.append(trainer.loss_scale_)
    history.events.append(trainer.numerics.take_events().as_dict())
    history.steps = trainer.steps_


def train(
    model: MLP,
    data: Dataset | Split,
    policy: Policy | str | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    optimizer: str | Optimizer = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    seed: int = 0,
    progress: bool = True,
    eval_split: str | Split | None = "test",
) -> History:
    """Train ``model`` in place with minibatch SGD (or Adam) under a precision policy.

    Args:
        model: the model; its parameters are updated in place (see :class:`Trainer`).
        data: a ``Dataset`` (its ``train`` split is learned) or a training ``Split``.
        policy: a ``Policy`` or preset name (default ``"fp32"``).
        epochs: passes over the training set.
        batch_size: examples per step (the last step of an epoch takes the remainder).
        optimizer: ``"sgd"`` (momentum) or ``"adam"``.
        lr: learning rate.
        momentum: SGD momentum (Adam's beta1).
        seed: shuffling and stochastic rounding (see the module docstring).
        progress: show a tqdm bar (none when tqdm is not installed).
        eval_split: ``"test"``, ``"validation"``, ``"train"``, a ``Split``, or ``None``: evaluated
            under the same policy after each epoch.

    Returns:
        A :class:`History`.

    Raises:
        ValueError: a serving-only policy, an unknown optimizer or split, sizes that do not fit.
        TrainingInterrupted: on Ctrl-C, with the history of the completed epochs.
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"need epochs >= 0 and batch_size >= 1, got {epochs} and {batch_size}")
    split = data.train if isinstance(data, Dataset) else data
    if split.images.shape[1] != model.sizes[0]:
        raise ValueError(
            f"the data has {split.images.shape[1]} features but the model takes {model.sizes[0]}"
        )
    evaluation_split = _eval_split(data, eval_split)
    shuffle_rng, rounding_rng = np.random.default_rng(seed).spawn(2)
    trainer = Trainer(model, policy, optimizer, lr, momentum, rounding_rng)
    config = dict(
        epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, seed=seed,
        optimizer=optimizer if isinstance(optimizer, str) else type(optimizer).__name__,
        sizes=list(model.sizes), n_train=len(split),
    )  # fmt: skip
    history = History(policy=str(trainer.policy), config=config)
    steps = -(-len(split) // batch_size)
    inputs = _Inputs(split.images, trainer.numerics.activations)
    try:
        with _Interrupts() as guard:
            trainer.interrupts = guard
            for epoch in range(epochs):
                _epoch(trainer, history, inputs, split.labels, shuffle_rng, batch_size,
                       _progress(steps, f"epoch {epoch + 1}/{epochs}", progress))  # fmt: skip
                if evaluation_split is not None:
                    start = time.perf_counter()
                    result = evaluate(model, evaluation_split, trainer.policy)
                    history.eval_seconds.append(time.perf_counter() - start)
                    history.accuracy.append(result.accuracy)
                    history.eval_loss.append(result.loss)
    except KeyboardInterrupt:
        history.interrupted = True
        history.steps = trainer.steps_
        raise TrainingInterrupted(history) from None
    finally:
        trainer.interrupts = _NO_GUARD
    return history
