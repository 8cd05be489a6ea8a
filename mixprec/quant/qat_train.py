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
from typing import Any

import numpy as np

from mixprec._util.progress import Bar, progress_bar
from mixprec.data import Dataset, Split
from mixprec.quant.model import Learned, QuantizedMLP
from mixprec.quant.packing import pack_int4
from mixprec.quant.qat import FakeQuantMLP
from mixprec.quant.schemes import Scheme
from mixprec.train import History, TrainConfig, TrainingInterrupted, epoch_lr
from mixprec.train.config import resolve
from mixprec.train.optimizers import Optimizer, make_optimizer
from mixprec.train.trainer import InterruptGuard

__all__ = ["evaluate_fake_quant", "export", "qat_epochs", "qat_train"]


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


def qat_epochs(
    fq: FakeQuantMLP,
    data: Dataset | Split,
    *,
    config: TrainConfig | None = None,
    progress: bool = False,
    eval_split: Split | None = None,
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

    Returns:
        The ``History`` (policy ``qat:...``, config with ``lr`` resolved).

    Raises:
        ValueError: bad sizes or settings.
        TrainingInterrupted: on Ctrl-C, with the completed epochs.
    """
    config = resolve(config, settings, QAT_DEFAULTS)
    epochs, batch_size, lr = config.epochs, config.batch_size, config.resolved_lr
    split = data.train if isinstance(data, Dataset) else data
    model = fq.model
    if split.images.shape[1] != model.sizes[0]:
        raise ValueError(
            f"the data has {split.images.shape[1]} features but the model takes {model.sizes[0]}"
        )
    shuffle_rng, _ = np.random.default_rng(config.seed).spawn(2)
    params = model.parameters()
    if fq.learn_scales:
        params = params + fq.weight_steps + fq.input_steps
    opt = make_optimizer(config.optimizer, [p.shape for p in params], lr, config.momentum)
    history = History(
        policy=f"qat:{fq.describe()}", config=config, sizes=model.sizes, n_train=len(split)
    )
    n = len(split)
    try:
        with InterruptGuard() as guard:
            for epoch in range(epochs):
                opt.set_lr(epoch_lr(lr, epoch, epochs, config.schedule))
                bar = progress_bar(-(-n // batch_size), progress, desc=f"epoch {epoch + 1}",
                                   unit="step", leave=False)  # fmt: skip
                start, order = time.perf_counter(), shuffle_rng.permutation(n)
                batches = [order[lo : lo + batch_size] for lo in range(0, n, batch_size)]
                losses, correct = _epoch(fq, split, batches, params, opt, guard, bar, history)
                history.seconds.append(time.perf_counter() - start)
                history.loss.append(losses / n)
                history.train_accuracy.append(correct / n)
                history.skipped_steps.append(0)
                history.loss_scale.append(1.0)
                history.events.append({})
                if eval_split is not None:
                    start = time.perf_counter()
                    accuracy, loss = evaluate_fake_quant(fq, eval_split)
                    history.eval_seconds.append(time.perf_counter() - start)
                    history.accuracy.append(accuracy)
                    history.eval_loss.append(loss)
                yield history
    except KeyboardInterrupt:
        history.interrupted = True
        raise TrainingInterrupted(history) from None
    return history


def _epoch(
    fq: FakeQuantMLP,
    split: Split,
    batches: list[np.ndarray],
    params: list[np.ndarray],
    opt: Optimizer,
    guard: InterruptGuard,
    bar: Bar | None,
    history: History,
) -> tuple[float, int]:
    """One epoch of fake-quantized steps, one per batch of indices: (summed loss, correct);
    ``history.steps`` counts each step as its update completes."""
    losses, correct = 0.0, 0
    try:
        for index in batches:
            result = fq.step(split.images[index], split.labels[index])
            with guard.deferred():
                for p, u in zip(params, opt.updates(result.grads), strict=True):
                    p += u
                history.steps += 1
            losses += result.loss * len(index)
            correct += result.correct
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return losses, correct


def export(fq: FakeQuantMLP, scheme: Scheme | str) -> QuantizedMLP:
    """The ``QuantizedMLP`` of a fake-quantized model's current state (observers frozen).

    Args:
        fq: a trained :class:`FakeQuantMLP`.
        scheme: the scheme of the file (``int8-per-channel``, ``int8-per-channel-asym``,
            ``int4-weight-only``): its formats and granularity must be those ``fq`` trained.

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
            zero_points.append(np.asarray(z_x, np.int8))
        codes, s_w = fq.weight_qparams(i)
        codes = codes.astype(np.int64)
        weights.append(pack_int4(codes) if scheme.weights.bits == 4 else codes.astype(np.int8))
        weight_scales.append(np.asarray(s_w, np.float32))
        b = model.biases[i]
        if b is None or s_x is None:
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


def _check_scheme(fq: FakeQuantMLP, scheme: Scheme) -> None:
    same_activations = (scheme.activations is None) == (fq.activation_format is None) and (
        scheme.activations is None or scheme.activations == fq.activation_format
    )
    if (
        scheme.weights != fq.weight_format
        or not same_activations
        or not scheme.per_channel
        or fq.group_size is not None
        or scheme.symmetric_activations != fq.symmetric_activations
    ):
        raise ValueError(
            f"scheme {scheme} does not store what this model trained ({fq.describe()}); use "
            "int8-per-channel, int8-per-channel-asym or int4-weight-only with the same formats"
        )
