"""Training and serving under policies: fp32 is plain numpy, every role is rounded and routed."""

from __future__ import annotations

import numpy as np
import pytest

from mixprec.data import Dataset
from mixprec.formats import quantize
from mixprec.mac import MAC
from mixprec.nn import MLP, Policy, backward, evaluate, forward, predict, tensor_scale
from mixprec.nn.compiled import Numerics
from mixprec.nn.layers import softmax_cross_entropy
from mixprec.train import Trainer, TrainingInterrupted, train


def plain_step(model: MLP, x: np.ndarray, labels: np.ndarray, lr: float, momentum: float,
               velocity: list[np.ndarray]) -> np.ndarray:  # fmt: skip
    """One SGD-momentum step of the 3-layer MLP in plain float32 numpy; returns the logits."""
    w1, w2, w3 = model.weights
    b1, b2, _ = model.biases
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    z = h2 @ w3
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    dz = p * np.float32(1 / len(labels))
    dh2 = (dz @ w3.T) * (h2 > 0)
    dh1 = (dh2 @ w2.T) * (h1 > 0)
    grads = [x.T @ dh1, dh1.sum(0), h1.T @ dh2, dh2.sum(0), h2.T @ dz]
    for param, v, g in zip(model.parameters(), velocity, grads, strict=True):
        v *= np.float32(momentum)
        v -= np.float32(lr) * g
        param += v
    return z


def test_fp32_policy_is_plain_numpy_bit_for_bit(synthetic: Dataset) -> None:
    """Same float32 operations in the same order (BLAS sgemm, elementwise ops): equal bits."""
    model, reference = MLP.book(seed=3), MLP.book(seed=3)
    trainer = Trainer(model, "fp32", lr=0.05, momentum=0.9)
    velocity = [np.zeros_like(p) for p in reference.parameters()]
    for lo in range(0, 384, 128):
        x, labels = synthetic.train.images[lo : lo + 128], synthetic.train.labels[lo : lo + 128]
        logits, _ = forward(trainer.numerics, trainer.numerics.weight_copies(model.weights),
                            model.biases, x)  # fmt: skip
        expected = plain_step(reference, x, labels, 0.05, 0.9, velocity)
        assert np.array_equal(logits, expected)
        trainer.step(x, labels)
        for p, q in zip(model.parameters(), reference.parameters(), strict=True):
            assert np.array_equal(p, q)
    assert np.array_equal(
        predict(model, synthetic.test.images), reference.forward(synthetic.test.images)
    )


def small_batch(seed: int = 0, sizes: tuple[int, ...] = (20, 12, 8, 4)):
    rng = np.random.default_rng(seed)
    model = MLP(sizes, seed=seed)
    for b in model.biases:
        if b is not None:
            b[...] = rng.standard_normal(b.shape).astype(np.float32) * 0.1
    x = rng.standard_normal((16, sizes[0]), dtype=np.float32)
    return model, x, rng.integers(0, sizes[-1], 16)


def run_pass(model: MLP, x: np.ndarray, labels: np.ndarray, policy: Policy):
    numerics = Numerics(policy)
    weights = numerics.weight_copies(model.weights)
    logits, inputs = forward(numerics, weights, model.biases, x)
    _, dz = softmax_cross_entropy(logits, labels)
    grads = backward(numerics, weights, [b is not None for b in model.biases], inputs, dz)
    return numerics, weights, logits, inputs, grads


def on_grid(x: np.ndarray, fmt: str) -> bool:
    return bool(np.array_equal(quantize(x, fmt), x))


def test_every_tensor_role_is_rounded() -> None:
    model, x, labels = small_batch()
    policy = Policy(weights="e5m2", activations="e4m3", gradients="e5m2")
    numerics, weights, logits, inputs, grads = run_pass(model, x, labels, policy)
    assert all(on_grid(w.values, "e5m2") for w in weights)
    assert not on_grid(model.weights[0], "e5m2")  # the master weights themselves are not
    assert all(on_grid(a.values, "e4m3") for a in inputs)
    assert all(on_grid(g, "e5m2") for g in grads)
    assert not on_grid(logits, "e4m3")  # logits leave the MAC in fp32
    events = numerics.events.as_dict()
    assert {"weights", "activations", "gradients"} <= set(events)


def test_weights_without_master_copy_live_in_their_format(synthetic: Dataset) -> None:
    model = MLP.book(seed=0)
    policy = Policy(weights="e5m2", activations="bf16", gradients="bf16", updates="bf16")
    trainer = Trainer(model, policy, lr=0.05)
    assert all(on_grid(p, "e5m2") for p in model.parameters())
    trainer.step(synthetic.train.images[:64], synthetic.train.labels[:64])
    assert all(on_grid(p, "e5m2") for p in model.parameters())
    sr = Trainer(MLP.book(seed=0), Policy.preset("bf16-sr"), lr=0.05)
    sr.step(synthetic.train.images[:64], synthetic.train.labels[:64])
    assert all(on_grid(p, "bf16") for p in sr.model.parameters())


def test_per_tensor_scaling_uses_the_whole_range() -> None:
    model, x, labels = small_batch()
    fp8 = Policy.preset("fp8")
    numerics, weights, _, inputs, grads = run_pass(model, x, labels, fp8)
    for w in weights:
        amax = np.abs(w.values).max()
        assert 224 <= amax <= 448 and on_grid(w.values, "e4m3")
        assert np.log2(w.scale) == int(np.log2(w.scale))  # a power of two: exact
    for g in grads:  # unscaled gradients lie on a power-of-two multiple of the e5m2 grid
        s = np.float32(tensor_scale(g, "e5m2"))
        assert on_grid(g * s, "e5m2") or on_grid(g * s / 2, "e5m2")


@pytest.mark.parametrize("role", ["forward", "input_grad", "weight_grad"])
def test_each_matmul_uses_the_mac_of_its_role(role: str) -> None:
    """A coarse accumulator in one role changes exactly what that role computes."""
    model, x, labels = small_batch(1)
    _, _, logits, _, grads = run_pass(model, x, labels, Policy())
    coarse = Policy().with_mac(**{role: "fp32->e4m3:sequential"})
    numerics, _, logits2, _, grads2 = run_pass(model, x, labels, coarse)
    layer_grads = {"w1": 0, "w2": 2, "w3": 4}
    if role == "forward":
        assert not np.array_equal(logits, logits2)
    else:
        assert np.array_equal(logits, logits2)
        assert np.array_equal(grads[layer_grads["w3"]], grads2[layer_grads["w3"]]) == (
            role == "input_grad"
        )  # the top layer's weight gradient needs no input gradient
        assert not np.array_equal(grads[layer_grads["w1"]], grads2[layer_grads["w1"]])
    events = numerics.events.as_dict()
    first = 2 if role == "input_grad" else 1  # layer 1 needs no input gradient
    assert {f"layer{first}.{role}", role} <= set(events) and "layer1.input_grad" not in events


def test_forward_mac_override_changes_logits_and_reports_wraps(synthetic: Dataset) -> None:
    model = MLP.book(seed=0)
    train(model, synthetic, "fp32", epochs=2, progress=False, eval_split=None)
    test = synthetic.test[:50]
    int8 = evaluate(model, test, "int8")
    wrapped = evaluate(model, test, Policy.preset("int8").with_mac(forward="int8->int16:wrap"))
    assert int8.events["forward"]["wraps"] == 0 and wrapped.events["forward"]["wraps"] > 0
    assert wrapped.events["layer1.forward"]["wraps"] > 0
    assert not np.array_equal(int8.logits, wrapped.logits)
    assert int8.accuracy > 0.9 and wrapped.policy == "int8[forward_mac=int8->int16]"


@pytest.mark.parametrize(
    ("spec", "special"),
    [("bf16->fp32", None), ("fp16->fp32", np.inf), ("fp8_e4m3->fp32", np.nan),
     ("fp8_e5m2->fp32", -np.inf)],
)  # fmt: skip
def test_blas_path_equals_the_mac(spec: str, special: float | None) -> None:
    """Numerics multiplies rounded operands by BLAS; the MAC itself gives the same bits and
    events, including overflows, inf and NaN results. (For bf16, whose products can leave
    float32's range, the MAC checks the data and, with a non-finite input, takes the sequential
    order; "fast" allows both, so the bits are compared on finite data.)"""
    mac = MAC.parse(spec)
    fmt = mac.input.name
    policy = Policy(weights=fmt, activations=fmt, gradients=fmt, forward_mac=mac)
    numerics = Numerics(policy)
    rng = np.random.default_rng(0)
    a = quantize(rng.standard_normal((33, 70), dtype=np.float32) * 40, fmt)
    b = quantize(rng.standard_normal((70, 9), dtype=np.float32) * 40, fmt)
    big = min(2.0**14, mac.input.max)
    a[4, :], b[:, 2] = big, big  # 70 * big**2 overflows fp32 only for wide formats
    if special is not None:
        a[3, 5] = special
    from mixprec.nn.compiled import Scaled

    y = numerics.matmul("forward", 1, Scaled(a, 1.0), Scaled(b, 1.0))
    expected, stats = mac.matmul(a, b, stats=True)
    assert np.array_equal(y, expected, equal_nan=True)
    mine = numerics.events.as_dict()["forward"]
    assert mine["inf_results"] == stats.inf_results and mine["nan_results"] == stats.nan_results
    assert mine["overflows"] == stats.overflows


def test_dynamic_loss_scaling_skips_and_rescales(synthetic: Dataset) -> None:
    policy = Policy.preset("fp16-amp").replace(loss_scale=2.0**40, growth_interval=3)
    model = MLP.book(seed=0)
    trainer = Trainer(model, policy, lr=0.05)
    x, labels = synthetic.train.images[:128], synthetic.train.labels[:128]
    before = [p.copy() for p in model.parameters()]
    result = trainer.step(x, labels)  # gradients * 2**40 overflow fp16: inf
    assert result.skipped and trainer.skipped_steps_ == 1 and trainer.loss_scale_ == 2.0**39
    assert all(np.array_equal(p, q) for p, q in zip(before, model.parameters(), strict=True))
    while trainer.step(x, labels).skipped:
        pass
    clean_scale = trainer.loss_scale_
    assert clean_scale < 2.0**30 and trainer.skipped_steps_ >= 10
    assert not all(np.array_equal(p, q) for p, q in zip(before, model.parameters(), strict=True))
    trainer.step(x, labels)
    trainer.step(x, labels)
    assert trainer.loss_scale_ == 2 * clean_scale  # doubled after 3 clean steps


def test_static_loss_scale_unscales_the_gradients(synthetic: Dataset) -> None:
    x, labels = synthetic.train.images[:64], synthetic.train.labels[:64]
    plain, scaled = MLP.book(seed=0), MLP.book(seed=0)
    Trainer(plain, "fp32", lr=0.1).step(x, labels)
    Trainer(scaled, Policy(loss_scaling="static", loss_scale=1024.0), lr=0.1).step(x, labels)
    for p, q in zip(plain.parameters(), scaled.parameters(), strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("policy", ["fp32", "bf16", "fp16-amp", "fp8", "bf16-sr"])
def test_synthetic_data_is_learned(synthetic: Dataset, policy: str) -> None:
    model = MLP.book(seed=1)
    history = train(model, synthetic, policy, epochs=3, batch_size=64, progress=False, seed=1)
    assert history.accuracy[-1] >= 0.95
    assert history.loss[-1] < history.loss[0]
    assert history.policy == policy and history.epochs == 3 and history.steps == 30
    assert len(history.events) == 3 and "layer1.forward" in history.events[0]
    assert evaluate(model, synthetic.test, policy).accuracy == history.accuracy[-1]


@pytest.mark.parametrize("policy", ["fp32", "bf16-sr", "fp8"])
def test_same_seed_same_history(synthetic: Dataset, policy: str) -> None:
    def run(seed: int):
        model = MLP.book(seed=0)
        history = train(model, synthetic, policy, epochs=2, progress=False, seed=seed)
        return model, history

    (m1, h1), (m2, h2), (_, h3) = run(5), run(5), run(6)
    assert (h1.loss, h1.accuracy, h1.events) == (h2.loss, h2.accuracy, h2.events)
    assert all(np.array_equal(p, q) for p, q in zip(m1.parameters(), m2.parameters(), strict=True))
    assert h1.loss != h3.loss


def test_serving_only_policy_refuses_to_train(synthetic: Dataset) -> None:
    with pytest.raises(ValueError, match="int8 is for serving only.*evaluate the trained model"):
        train(MLP.book(), synthetic, "int8", epochs=1, progress=False)


def test_adam_trains(synthetic: Dataset) -> None:
    history = train(MLP.book(seed=0), synthetic, "bf16", epochs=2, optimizer="adam", lr=1e-3,
                    progress=False)  # fmt: skip
    assert history.accuracy[-1] >= 0.95 and history.config.optimizer == "adam"
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'.*'sgd', 'adam'"):
        train(MLP.book(), synthetic, epochs=1, optimizer="rmsprop", progress=False)


def test_interrupt_keeps_the_last_completed_step(synthetic: Dataset, monkeypatch) -> None:
    model = MLP.book(seed=0)
    original, calls, snapshot = Trainer.step, [], []

    def step(self: Trainer, *args, **kwargs):
        if len(calls) == 7:  # epoch 1 has 5 steps at batch 128 (600 images)
            snapshot.extend(p.copy() for p in self.model.parameters())
            raise KeyboardInterrupt
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "step", step)
    with pytest.raises(TrainingInterrupted) as caught:
        train(model, synthetic, "bf16", epochs=3, progress=False)
    history = caught.value.history
    assert isinstance(caught.value, KeyboardInterrupt)
    assert history.interrupted and history.epochs == 1 and history.steps == 7
    assert all(np.array_equal(p, q) for p, q in zip(snapshot, model.parameters(), strict=True))


@pytest.mark.parametrize("policy", ["fp32", "bf16", "fp16", "int8", "fp8"])
def test_predict_at_any_batch_size(synthetic: Dataset, policy: str) -> None:
    model = MLP.book(seed=0)
    images = synthetic.test.images[:20]
    big, one = predict(model, images, policy), predict(model, images, policy, batch_size=1)
    assert big.dtype == np.float32 and big.shape == (20, 10)
    # BLAS may add in another order for one row than for many ("fast" allows any order), and
    # per-tensor activation scales (fp8, int8) depend on the batch: close, not equal
    assert (big.argmax(1) == one.argmax(1)).mean() >= 0.9
    if Policy.preset(policy).scaling.value == "none":
        np.testing.assert_allclose(big, one, rtol=1e-2, atol=1e-2)
    assert np.array_equal(predict(model, images[0], policy), one[:1])
    result = evaluate(model, synthetic.test[:20], policy, batch_size=7)
    assert result.predictions.dtype == np.int64 and result.logits.dtype == np.float32
    assert result.n == 20 and result.policy == policy


def test_bad_inputs_are_rejected(synthetic: Dataset) -> None:
    model = MLP.book()
    with pytest.raises(ValueError, match=r"images must have shape \(n, 784\)"):
        predict(model, np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        predict(model, synthetic.test.images[:2], batch_size=0)
    with pytest.raises(ValueError, match="eval_split='dev'"):
        train(model, synthetic, epochs=1, eval_split="dev", progress=False)
    with pytest.raises(ValueError, match="takes 785"):
        train(MLP((785, 10)), synthetic, epochs=1, progress=False)


def test_history_as_dict_is_json_ready(synthetic: Dataset) -> None:
    import json

    from mixprec.train import History

    history = train(MLP.book(), synthetic, "fp16-amp", epochs=1, progress=False)
    text = json.dumps(history.as_dict())
    again = History.from_dict(json.loads(text))
    assert again == history and history.loss_scale == [2.0**16] and history.skipped_steps == [0]


def test_sigint_during_an_update_is_deferred(synthetic: Dataset, monkeypatch) -> None:
    """A real SIGINT raised while an update is applied lands after it: the step is complete."""
    import signal

    from mixprec.train.optimizers import SGD

    model = MLP.book(seed=0)
    original, calls = SGD.updates, []

    def updates(self: SGD, grads):
        out = original(self, grads)
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)  # arrives in the middle of step 3's update
        return out

    monkeypatch.setattr(SGD, "updates", updates)
    reference = MLP.book(seed=0)
    with pytest.raises(TrainingInterrupted) as caught:
        train(model, synthetic, "fp32", epochs=2, progress=False)
    assert caught.value.history.steps == 3 and caught.value.history.epochs == 0
    # the reference takes the same 3 complete steps
    trainer = Trainer(reference, "fp32")
    order = np.random.default_rng(0).spawn(2)[0].permutation(600)
    for i in range(3):
        index = order[i * 128 : (i + 1) * 128]
        trainer.step(synthetic.train.images[index], synthetic.train.labels[index])
    assert all(
        np.array_equal(p, q)
        for p, q in zip(model.parameters(), reference.parameters(), strict=True)
    )
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_progress_bar_is_optional(synthetic: Dataset, monkeypatch, capsys) -> None:
    import sys

    train(MLP.book(), synthetic, epochs=1, eval_split=None)  # tqdm writes to stderr
    assert "epoch 1/1" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    history = train(MLP.book(), synthetic, epochs=1, eval_split=None)
    assert history.epochs == 1 and capsys.readouterr().err == ""


def test_train_epochs_is_train_one_epoch_at_a_time(synthetic: Dataset) -> None:
    import signal

    from mixprec.train import train_epochs

    a, b, c = MLP.book(seed=2), MLP.book(seed=2), MLP.book(seed=3)
    expected = train(a, synthetic, "bf16-sr", epochs=3, seed=4, progress=False)
    run_b = train_epochs(b, synthetic, "bf16-sr", epochs=3, seed=4, progress=False)
    run_c = train_epochs(c, synthetic, "fp8", epochs=2, progress=False)
    seen = []
    for history in run_b:  # interleaved with another run, epoch by epoch
        seen.append(history.epochs)
        next(run_c, None)
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    assert seen == [1, 2, 3] and history.loss == expected.loss
    assert all(np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # both runs ended


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_each_epoch_runs_at_the_scheduled_rate(synthetic: Dataset, schedule: str) -> None:
    import math

    from mixprec.train import SGD, train_epochs

    model = MLP.book(seed=0)
    sgd = SGD([p.shape for p in model.parameters()], lr=1.0)  # lr=0.1 below replaces it
    seen, rates = [], []
    original = sgd.updates

    def updates(grads):
        rates.append(sgd.lr)
        return original(grads)

    sgd.updates = updates  # type: ignore[method-assign]
    run = train_epochs(model, synthetic, "fp32", epochs=4, optimizer=sgd, lr=0.1,
                       schedule=schedule, progress=False, eval_split=None)  # fmt: skip
    for history in run:  # the rate of the epoch just run
        seen.append((history.epochs, sgd.lr))
    cosine = [0.1 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    expected = [np.float32(lr if schedule == "cosine" else 0.1) for lr in cosine]
    assert seen == list(zip([1, 2, 3, 4], expected, strict=True))
    assert all(type(lr) is np.float32 for _, lr in seen)
    assert rates == [lr for lr in expected for _ in range(5)]  # 5 steps per epoch (600 images)
    assert history.config.lr == 0.1 and history.config.schedule == schedule


def test_fp32_training_with_the_cosine_schedule_is_plain_numpy_bit_for_bit(
    synthetic: Dataset,
) -> None:
    """train() = a plain float32 loop with the same shuffling and epoch_lr = lr/2 (1 + cos)."""
    import math

    model, reference = MLP.book(seed=2), MLP.book(seed=2)
    history = train(model, synthetic, "fp32", epochs=3, seed=2, progress=False, eval_split=None)
    assert history.config.lr == 0.05 and history.config.schedule == "cosine"
    velocity = [np.zeros_like(p) for p in reference.parameters()]
    shuffle = np.random.default_rng(2).spawn(2)[0]
    images, labels = synthetic.train.images, synthetic.train.labels
    for epoch in range(3):
        lr = 0.05 * 0.5 * (1 + math.cos(math.pi * epoch / 3))
        order = shuffle.permutation(len(labels))
        for lo in range(0, len(labels), 128):
            index = order[lo : lo + 128]
            plain_step(reference, images[index], labels[index], lr, 0.9, velocity)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert np.array_equal(p, q)
    constant = MLP.book(seed=2)
    train(constant, synthetic, "fp32", epochs=3, seed=2, schedule="constant", progress=False,
          eval_split=None)  # fmt: skip
    assert not np.array_equal(constant.weights[0], model.weights[0])


@pytest.mark.parametrize(("optimizer", "lr"), [("sgd", 0.05), ("adam", 0.001)])
def test_lr_none_is_the_optimizers_default(synthetic: Dataset, optimizer: str, lr: float) -> None:
    small = synthetic.train[:128]
    history = train(MLP.book(seed=0), small, "fp32", epochs=1, optimizer=optimizer,
                    progress=False, eval_split=None)  # fmt: skip
    assert history.config.lr == lr and history.config.schedule == "cosine"
    a, b = MLP.book(seed=0), MLP.book(seed=0)
    train(a, small, "fp32", epochs=2, optimizer=optimizer, progress=False, eval_split=None)
    train(b, small, "fp32", epochs=2, optimizer=optimizer, lr=lr, progress=False,
          eval_split=None)  # fmt: skip
    assert all(np.array_equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_unknown_schedule_is_rejected(synthetic: Dataset) -> None:
    with pytest.raises(ValueError, match=r"unknown schedule 'step'; allowed: 'constant', 'cosine'"):
        train(MLP.book(), synthetic, epochs=1, schedule="step", progress=False)
