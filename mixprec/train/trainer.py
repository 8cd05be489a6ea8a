"""``Trainer``: training steps under a precision policy (``train`` runs epochs of them).

One step: round the weights to the policy's weight format (from the float32 master copy, if the
policy keeps one), run the forward pass, compute the softmax cross-entropy and its gradient
(multiplied by the loss scale), run the backward pass, then

* with loss scaling, if any gradient is inf or NaN, **skip** the step (the parameters and the
  optimizer state are left as they were); a dynamic scale is halved, and doubled again after
  ``growth_interval`` clean steps (Micikevicius et al. 2018, section 3.2);
* divide the gradients by the loss scale (float32), compute the optimizer's updates, round them
  to the update format, and add them: to the master weights in float32, or, without a master
  copy, round the sum into the weight format (to nearest or stochastically).

A step draws stochastic rounding from the trainer's generator (``seed``). Its parameter update
runs under the trainer's ``interrupts`` guard: ``train`` installs an :class:`InterruptGuard` that
holds SIGINT until the update is complete, so an interrupted model holds its last whole step.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixprec.nn.compiled import Rounder, Scaled
from mixprec.nn.layered import LayerPolicy, entry_policy, parse_policy
from mixprec.nn.layered_numerics import LayerRounders, make_numerics, parameter_layers
from mixprec.nn.layers import softmax_cross_entropy
from mixprec.nn.model import MLP
from mixprec.nn.passes import backward, forward
from mixprec.nn.policy import LossScaling, MasterWeights, Policy
from mixprec.train.optimizers import Optimizer, make_optimizer

__all__ = ["StepResult", "Trainer"]


@dataclass(frozen=True)
class StepResult:
    """One step: its loss (before the update), correct predictions, whether it was skipped."""

    loss: float
    correct: int
    skipped: bool


class InterruptGuard:
    """Defers SIGINT while a parameter update is applied (main thread only; else a no-op).

    ``with InterruptGuard() as guard:`` guards a whole training run; inside, ``with
    guard.deferred():`` marks an update. Ctrl-C outside an update raises ``KeyboardInterrupt`` at
    once; during one, right after it. Guards may overlap in any order (runs interleaved epoch by
    epoch): the handler is installed by the first to enter and restored by the last to leave.
    """

    _entered: list[InterruptGuard] = []  # the guards alive now (main thread)
    _previous: Any = None  # the handler before the first of them

    def __init__(self) -> None:
        self.active = threading.current_thread() is threading.main_thread()
        self.updating = False
        self.pending = False

    def __enter__(self) -> InterruptGuard:
        if self.active:
            if not InterruptGuard._entered:
                InterruptGuard._previous = signal.signal(signal.SIGINT, InterruptGuard._handle)
            InterruptGuard._entered.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active and self in InterruptGuard._entered:
            InterruptGuard._entered.remove(self)
            if not InterruptGuard._entered:
                signal.signal(signal.SIGINT, InterruptGuard._previous)

    @staticmethod
    def _handle(signum: int, frame: Any) -> None:
        updating = [guard for guard in InterruptGuard._entered if guard.updating]
        if not updating:
            raise KeyboardInterrupt
        for guard in updating:
            guard.pending = True

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Mark a parameter update: a SIGINT during it is raised when it is complete."""
        self.updating = True
        try:
            yield
        finally:
            self.updating = False
            if self.pending:
                self.pending = False
                raise KeyboardInterrupt


NO_GUARD = InterruptGuard()
NO_GUARD.active = False


class Trainer:
    """Applies training steps to a model under a policy (the state between steps lives here).

    Args:
        model: the model; its parameters are updated in place. Without master weights they are
            first rounded into the weight format.
        policy: a ``Policy``, a preset name (default ``"fp32"``), or a policy per layer (a
            ``LayerPolicy`` or its string, ``"fp8@1=bf16@3=bf16"``): each layer's roles from its
            entry, the master weights, loss scaling and update rounding from the base entry.
        optimizer: ``"sgd"``, ``"adam"`` or an ``Optimizer``.
        lr: learning rate; ``None``: 0.05 for ``"sgd"``, 0.001 for ``"adam"``, an
            ``Optimizer``'s own (``mixprec.train.optimizers.default_lr``). ``train`` changes it
            epoch by epoch through ``optimizer.set_lr``.
        momentum: SGD momentum (Adam's beta1).
        seed: an int or ``numpy.random.Generator`` for stochastic rounding.
        count_events: collect the MACs' event counters.

    Attributes:
        optimizer: the ``Optimizer`` (``optimizer.set_lr`` changes the learning rate).
        loss_scale_: the current loss scale.
        clean_steps_: steps since the scale last changed (dynamic scaling).
        steps_, skipped_steps_: steps taken, and skipped for inf/NaN gradients.

    Raises:
        ValueError: a serving-only policy (e.g. ``int8``).
    """

    def __init__(
        self,
        model: MLP,
        policy: Policy | LayerPolicy | str | None = None,
        optimizer: str | Optimizer = "sgd",
        lr: float | None = None,
        momentum: float = 0.9,
        seed: int | np.random.Generator = 0,
        count_events: bool = True,
    ) -> None:
        self.layer_policy = parse_policy(policy if policy is not None else "fp32")
        given = self.layer_policy
        self.policy = given if isinstance(given, Policy) else entry_policy(given.base)
        layer_policies = (
            [given.layer(i) for i in range(1, model.n_layers + 1)]
            if isinstance(given, LayerPolicy)
            else [self.policy]
        )
        if not all(p.trainable for p in layer_policies):
            raise ValueError(
                f"policy {given} is for serving only; train with another policy (e.g. 'fp32', "
                f"'bf16' or 'fp8@1=bf16') and evaluate the trained model with "
                f"policy={str(given)!r}"
            )
        self.model = model
        self.numerics = make_numerics(given, model.n_layers, count_events)
        self._layers = parameter_layers([b is not None for b in model.biases])
        self.rng = np.random.default_rng(seed)
        self.optimizer = make_optimizer(
            optimizer, [p.shape for p in model.parameters()], lr, momentum
        )
        self.has_master = self.policy.master_weights is MasterWeights.FP32
        scaling = self.policy.loss_scaling
        self.loss_scale_ = 1.0 if scaling is LossScaling.NONE else self.policy.loss_scale
        self.interrupts = NO_GUARD  # train() installs a SIGINT guard for its run
        self.clean_steps_ = 0
        self.steps_ = 0
        self.skipped_steps_ = 0
        weights = self.numerics.weights
        self._into_weights: Rounder | LayerRounders | None = None  # rounds updated weights
        if not (self.has_master or weights.is_identity):  # that have no master copy
            parts = weights.parts if isinstance(weights, LayerRounders) else [weights]
            made = [Rounder(r.fmt, "weights", "saturate", r.per_tensor) for r in parts]
            self._into_weights = LayerRounders(made) if len(made) > 1 else made[0]
            for p, layer in zip(model.parameters(), self._layers, strict=True):
                p[...] = self._into_weights.values(p, layer)

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
        for p, u, layer in zip(self.model.parameters(), updates, self._layers, strict=True):
            if not rounder.is_identity:
                u = rounder.values(u, layer)
            if into_weights is not None:
                p[...] = into_weights.values(p + u, layer, rounding=rounding, rng=self.rng)
            else:
                p += u
