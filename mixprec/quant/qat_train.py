"""``qat_train``: epochs of quantization-aware training, and the quantized model it exports.

The loop is the training loop's (:func:`mixprec.train.train`): the same seed spawns the same
shuffling generator, each epoch's learning rate comes from the same schedule, the optimizer is
the same SGD (or Adam), and each parameter update runs with SIGINT deferred, so Ctrl-C leaves the
model at its last whole step and raises ``TrainingInterrupted`` with the completed epochs'
history (marked ``interrupted``). What differs is the step: :meth:`FakeQuantMLP.step`.

:func:`export` turns the trained :class:`~mixprec.quant.qat.FakeQuantMLP` into the
``QuantizedMLP`` that ``mixprec quantize`` writes (same file kind, served by ``mixprec
evaluate``): the weight codes and scales of the last step, the frozen observers' input scales
and zero points, the int32 biases.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from mixprec._util.progress import Bar, progress_bar
from mixprec.data import Dataset, Split
from mixprec.formats import Format, IntFormat, to_storage
from mixprec.nn.model import MLP
from mixprec.quant.model import Learned, QuantizedMLP
from mixprec.quant.packing import pack_codes
from mixprec.quant.qat import FakeQuantMLP, check_options
from mixprec.quant.schemes import Scheme
from mixprec.train import History, TrainConfig, TrainingInterrupted, epoch_lr
from mixprec.train.config import resolve
from mixprec.train.optimizers import Optimizer, make_optimizer
from mixprec.train.trainer import InterruptGuard

__all__ = [
    "QATInterrupted", "QATProgress", "check_trainable", "evaluate_fake_quant", "export",
    "fake_quantized", "qat_epochs", "qat_train",
]  # fmt: skip


def evaluate_fake_quant(fq: FakeQuantMLP, split: Split) -> tuple[float, float]:
    """``(accuracy, loss)`` of the fake-quantized forward pass (observers frozen) on a split."""
    logits, _ = fq.forward(split.images)
    labels = np.asarray(split.labels)
    logp = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(axis=1, keepdims=True))
    loss = float(-logp[np.arange(len(labels)), labels].mean())
    return float(np.mean(logits.argmax(axis=1) == labels)), loss


#: The recipe of quantization-aware training unless told otherwise: 2 epochs (fine-tuning).
QAT_DEFAULTS = TrainConfig(epochs=2)


def qat_train(fq: FakeQuantMLP, data: Dataset | Split, **options: Any) -> History:
    """Train ``fq.model`` in place through fake quantization; see :func:`qat_epochs`."""
    run = qat_epochs(fq, data, **options)
    while True:
        try:
            next(run)
        except StopIteration as finished:
            return finished.value


@dataclass
class QATProgress:
    """Where a quantization-aware training run stands, after every completed step: enough to
    resume it exactly (``qat_epochs(fq, data, resume=progress)``) after Ctrl-C.

    Attributes:
        fq: the model being trained; config, history, optimizer: the run's.
        shuffle: the shuffling generator (the next epoch's permutation comes from it).
        epoch: epochs completed; order: the current epoch's permutation (``None`` between
            epochs); done: its batches completed; losses, correct, seconds: their sums so far.
    """

    fq: FakeQuantMLP
    config: TrainConfig
    history: History
    optimizer: Optimizer
    shuffle: np.random.Generator
    epoch: int = 0
    order: np.ndarray | None = None
    done: int = 0
    losses: float = 0.0
    correct: int = 0
    seconds: float = 0.0


class QATInterrupted(TrainingInterrupted):
    """``TrainingInterrupted`` of quantization-aware training, with the run's ``progress``."""

    def __init__(self, progress: QATProgress) -> None:
        super().__init__(progress.history)
        self.progress = progress


def _start(
    fq: FakeQuantMLP, split: Split, config: TrainConfig, resume: QATProgress | None
) -> QATProgress:
    if resume is not None:
        if resume.fq is not fq:
            raise ValueError("resume= holds the progress of another FakeQuantMLP; pass its own")
        resume.history.interrupted = False
        return resume
    shuffle_rng, _ = np.random.default_rng(config.seed).spawn(2)
    shapes = [p.shape for p in _params(fq)]
    opt = make_optimizer(config.optimizer, shapes, config.resolved_lr, config.momentum)
    history = History(
        policy=f"qat:{fq.describe()}", config=config, sizes=fq.model.sizes, n_train=len(split)
    )
    return QATProgress(fq, config, history, opt, shuffle_rng)


def _params(fq: FakeQuantMLP) -> list[np.ndarray]:
    params = fq.model.parameters()
    return params + fq.weight_steps + fq.input_steps if fq.learn_scales else params


def qat_epochs(
    fq: FakeQuantMLP,
    data: Dataset | Split,
    *,
    config: TrainConfig | None = None,
    progress: bool = False,
    eval_split: Split | None = None,
    resume: QATProgress | None = None,
    **settings: Any,
) -> Generator[History, None, History]:
    """Quantization-aware training, one epoch at a time (yields the history after each).

    Args:
        fq: the fake-quantized model (its float model is updated in place).
        data: a ``Dataset`` (its ``train`` split) or a training ``Split``.
        config: the training settings (default :data:`QAT_DEFAULTS`: ``TrainConfig(epochs=2)``);
            ``settings`` (``epochs=``, ``lr=``, ``seed=``, ...) replace its fields, as in
            ``mixprec.train.train``.
        progress: a progress bar per epoch.
        eval_split: evaluated through the fake-quantized forward pass after each epoch.
        resume: the ``progress`` of a :class:`QATInterrupted` run of ``fq``: continue it from
            its last completed step (its config; ``config`` and ``settings`` are not used). The
            result is bit for bit that of the run without the interruption.

    Returns:
        The ``History`` (policy ``qat:...``, config with ``lr`` resolved).

    Raises:
        ValueError: bad sizes or settings, another model's progress.
        QATInterrupted: on Ctrl-C (a ``TrainingInterrupted``), with the completed epochs'
            history and the progress to resume from.
    """
    split = data.train if isinstance(data, Dataset) else data
    if split.images.shape[1] != fq.model.sizes[0]:
        raise ValueError(
            f"the data has {split.images.shape[1]} features but the model takes {fq.model.sizes[0]}"
        )
    state = _start(fq, split, resolve(config, settings, QAT_DEFAULTS), resume)
    cfg, history, n = state.config, state.history, len(split)
    try:
        with InterruptGuard() as guard:
            while state.epoch < cfg.epochs:
                state.optimizer.set_lr(epoch_lr(cfg.resolved_lr, state.epoch, cfg.epochs,
                                                cfg.schedule))  # fmt: skip
                if state.order is None:
                    state.order, state.done = state.shuffle.permutation(n), 0
                    state.losses, state.correct, state.seconds = 0.0, 0, 0.0
                steps = -(-n // cfg.batch_size)
                desc = f"epoch {state.epoch + 1}"
                bar = progress_bar(steps, progress, desc=desc, unit="step", leave=False)
                start = time.perf_counter()
                try:
                    _epoch(split, _params(fq), guard, bar, state)
                finally:
                    state.seconds += time.perf_counter() - start
                _close_epoch(state, n, eval_split)
                yield history
    except KeyboardInterrupt:
        history.interrupted = True
        raise QATInterrupted(state) from None
    return history


def _close_epoch(state: QATProgress, n: int, eval_split: Split | None) -> None:
    history = state.history
    history.seconds.append(state.seconds)
    history.loss.append(state.losses / n)
    history.train_accuracy.append(state.correct / n)
    history.skipped_steps.append(0)
    history.loss_scale.append(1.0)
    history.events.append({})
    state.epoch, state.order = state.epoch + 1, None
    if eval_split is not None:
        start = time.perf_counter()
        accuracy, loss = evaluate_fake_quant(state.fq, eval_split)
        history.eval_seconds.append(time.perf_counter() - start)
        history.accuracy.append(accuracy)
        history.eval_loss.append(loss)


def _epoch(
    split: Split,
    params: list[np.ndarray],
    guard: InterruptGuard,
    bar: Bar | None,
    state: QATProgress,
) -> None:
    """The rest of the current epoch's fake-quantized steps. Each step's effects (the update,
    the observers' and the model's counters, ``state``) land together or not at all: Ctrl-C
    inside a step restores what its forward pass changed, so a resumed run repeats it."""
    fq, size = state.fq, state.config.batch_size
    if state.order is None:  # pragma: no cover - qat_epochs draws it first
        raise ValueError("no permutation for this epoch")
    order = state.order
    try:
        for lo in range(state.done * size, len(order), size):
            index = order[lo : lo + size]
            before = fq.snapshot()
            try:
                result = fq.step(split.images[index], split.labels[index])
            except KeyboardInterrupt:
                fq.restore(before)
                raise
            with guard.deferred():
                for p, u in zip(params, state.optimizer.updates(result.grads), strict=True):
                    p += u
                state.history.steps += 1
                state.done += 1
                state.losses += result.loss * len(index)
                state.correct += result.correct
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()


def export(fq: FakeQuantMLP, scheme: Scheme | str) -> QuantizedMLP:
    """The ``QuantizedMLP`` of a fake-quantized model's current state (observers frozen).

    Args:
        fq: a trained :class:`FakeQuantMLP`.
        scheme: the scheme of the file (``int8-per-channel``, ``int4-per-channel``,
            ``int4-per-channel-a8``, ``int4-weight-only:group=32``, ...): its formats and
            granularity must be those ``fq`` trained.

    Raises:
        ValueError: a scheme that does not match ``fq``'s formats, or a grid it cannot store.
    """
    scheme = Scheme.parse(scheme)
    _check_scheme(fq, scheme)
    model = fq.model
    weights, weight_scales, input_scales, zero_points, biases = [], [], [], [], []
    for i in range(model.n_layers):
        s_x = None
        if scheme.activations is not None:
            s_x, z_x = fq.input_qparams(i)
            input_scales.append(np.asarray(s_x, np.float32))
            if scheme.is_integer:
                zero_points.append(np.asarray(z_x, np.int8))
        codes, s_w = fq.weight_qparams(i)
        fmt = fq.weight_format
        if isinstance(fmt, IntFormat):
            ints = codes.astype(np.int64)
            weights.append(ints.astype(np.int8) if fmt.bits == 8 else pack_codes(ints, fmt.bits))
        else:  # fp8 values, exactly on the grid: stored as they are
            weights.append(to_storage(codes, fmt, overflow="saturate"))
        weight_scales.append(np.asarray(s_w, np.float32))
        b = model.biases[i]
        if b is None or s_x is None or not scheme.is_integer:
            biases.append(None if b is None else np.asarray(b, np.float32).copy())
        else:
            product = np.float64(s_x) * np.asarray(s_w, np.float64)
            codes_b = np.clip(np.rint(np.asarray(b, np.float64) / product), -(2**31), 2**31 - 1)
            biases.append(codes_b.astype(np.int32))
    learned = Learned(
        model.sizes, model.output_bias, tuple(weights), tuple(weight_scales),
        tuple(input_scales), tuple(zero_points), tuple(biases),
    )  # fmt: skip
    # the metadata says how the ranges were found: moving min/max, frozen
    q = QuantizedMLP.from_learned(learned, scheme, observer="minmax")
    q.metadata = {k: v for k, v in model.metadata.items() if k != "history"}
    q.metadata.update(scheme=scheme.name, observer="moving-minmax (qat)", qat=fq.describe())
    return q


def check_trainable(
    scheme: Scheme | str, *, accumulator: int | None = None, learn_scales: bool = False
) -> Scheme:
    """``scheme``, if quantization-aware training can train and export it: every scheme with
    element formats (integer or fp8 weights, per channel, per tensor or group-wise; activations
    of the same kind, or none); and, with ``accumulator`` or ``learn_scales``, if those go with
    it (:func:`mixprec.quant.qat.check_options`), so a caller can refuse a run before it loads
    any data.

    Raises:
        ValueError: a block-scaled scheme (the message says how to train one), or options that
            do not go with the scheme.
    """
    scheme = Scheme.parse(scheme)
    if scheme.is_block:
        raise ValueError(
            f"quantization-aware training takes element-format schemes, not the block-scaled "
            f"{scheme}: train with the block policy (mixprec train --policy mxfp8 rounds "
            "weights and activations to the blocks in every step), then mixprec quantize"
        )
    integer = scheme.is_integer or scheme.is_weight_only and isinstance(scheme.weights, IntFormat)
    check_options(
        scheme.activations is not None, scheme.symmetric_activations, scheme.group_size,
        accumulator, learn_scales, integer, scheme.per_channel,
    )  # fmt: skip
    return scheme


def fake_quantized(model: MLP, scheme: Scheme | str, **options: Any) -> FakeQuantMLP:
    """A :class:`FakeQuantMLP` of ``model`` on ``scheme``'s formats and granularity (what
    :func:`export` stores as that scheme); ``options`` are its other arguments
    (``accumulator=``, ``learn_scales=``, ``warmup_steps=``, ...).

    Raises:
        ValueError: a scheme :func:`check_trainable` refuses, or options that do not go together.
    """
    s = check_trainable(scheme)  # element formats (not block-scaled)
    weights, activations = cast(Format, s.weights), cast("Format | None", s.activations)
    return FakeQuantMLP(
        model, weights, activations, s.symmetric_activations, s.group_size, s.per_channel,
        **options,
    )  # fmt: skip


def _check_scheme(fq: FakeQuantMLP, scheme: Scheme) -> None:
    same_activations = (scheme.activations is None) == (fq.activation_format is None) and (
        scheme.activations is None or scheme.activations == fq.activation_format
    )
    if (
        scheme.weights != fq.weight_format
        or not same_activations
        or scheme.per_channel != fq.per_channel
        or fq.group_size != scheme.group_size
        or scheme.symmetric_activations != fq.symmetric_activations
    ):
        raise ValueError(
            f"scheme {scheme} does not store what this model trained ({fq.describe()}); use "
            "the scheme with the same formats and granularity, e.g. int4-per-channel, "
            "int8-per-tensor-asym, fp8_e4m3-per-channel, int4-weight-only:group=32"
        )
