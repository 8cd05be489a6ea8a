"""Quantization-aware training: STE gradients, export bit for bit, A2Q serving, interruption."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from mixprec.data import Dataset
from mixprec.nn.layers import softmax
from mixprec.nn.model import MLP
from mixprec.quant import a2q
from mixprec.quant.qat import FakeQuantMLP
from mixprec.quant.qat_train import evaluate_fake_quant, export, qat_epochs, qat_train
from mixprec.train import SGD, TrainingInterrupted

SCHEMES = {
    "int8-per-channel": dict(weights="int8", activations="int8"),
    "int8-per-channel-asym": dict(weights="int8", activations="int8", symmetric_activations=False),
    "int4-weight-only": dict(weights="int4", activations=None),
    "int4-per-channel": dict(weights="int4", activations="int4"),
    "int4-per-channel-a8": dict(weights="int4", activations="int8"),
    "int3-weight-only:group=32": dict(weights="int3", activations=None, group_size=32),
    "int8-per-tensor": dict(weights="int8", activations="int8", per_channel=False),
    "int8-per-tensor-asym": dict(
        weights="int8", activations="int8", symmetric_activations=False, per_channel=False
    ),
    "fp8_e4m3": dict(weights="fp8_e4m3", activations="fp8_e4m3", per_channel=False),
    "fp8_e4m3-per-channel": dict(weights="fp8_e4m3", activations="fp8_e4m3"),
    "fp8_e5m2": dict(weights="fp8_e5m2", activations="fp8_e5m2", per_channel=False),
}


@pytest.fixture(scope="module")
def base(synthetic: Dataset) -> MLP:
    from mixprec.train import train

    model = MLP((784, 32, 16, 10), seed=0)
    train(model, synthetic, epochs=2, progress=False, eval_split=None)
    return model


def test_step_gradient_is_the_clipped_ste_by_hand() -> None:
    # one layer, int4 weights only: dL/dW = x^T (softmax - onehot) / n where |w / s| <= 7
    rng = np.random.default_rng(0)
    model = MLP((5, 3), seed=0)
    model.weights[0][0, 0] = 0.0
    x = rng.standard_normal((4, 5)).astype(np.float32)
    labels = np.array([0, 2, 1, 2])
    fq = FakeQuantMLP(model, "int4", None)
    step = fq.step(x, labels)
    s = np.abs(model.weights[0]).max(axis=0) / np.float32(7)
    w_q = np.clip(np.rint(model.weights[0] / s), -7, 7) * s
    p = softmax((x @ w_q).astype(np.float64))
    p[np.arange(4), labels] -= 1
    assert_array_equal(np.abs(model.weights[0] / s) <= 7, True)  # max-based scales clip nothing
    np.testing.assert_allclose(step.grads[0], x.T.astype(np.float64) @ p / 4, rtol=1e-5)


def test_saturated_activations_get_no_gradient() -> None:
    model = MLP((3, 2), seed=0)
    fq = FakeQuantMLP(model, "int8", "int4", warmup_steps=1)
    x = np.array([[0.1, -0.2, 0.3], [0.2, 0.1, -0.1]], np.float32)
    fq.step(x, np.array([0, 1]))  # the observer freezes on this batch's range [-0.2, 0.3]
    _, kept = fq.forward(np.array([[5.0, 0.1, -0.1]], np.float32))
    assert_array_equal(kept[0].x_inside, [[False, True, True]])
    assert kept[0].x_q[0, 0] == np.float32(7 * fq.input_qparams(0)[0])


def test_fp8_step_is_the_clipped_ste_by_hand() -> None:
    """fp8 weights and activations per tensor: the saturated input gets no gradient, and the
    weight gradient is x_q^T (softmax - onehot) / n with x_q, w_q on the fp8 grids."""
    from mixprec.formats import quantize

    rng = np.random.default_rng(1)
    model = MLP((5, 3), seed=0)
    fq = FakeQuantMLP(model, "fp8_e4m3", "fp8_e4m3", per_channel=False, warmup_steps=1)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    labels = np.array([0, 2, 1, 2])
    fq.step(x, labels)  # freezes the input range on this batch
    s_x = fq.input_qparams(0)[0]
    x2 = x.copy()
    x2[1, 3] = 1000 * s_x * 448  # far beyond the frozen range: saturates at 448 * s_x
    _, kept = fq.forward(x2)
    assert not kept[0].x_inside[1, 3] and kept[0].x_inside.sum() == x2.size - 1
    assert kept[0].x_q[1, 3] == np.float32(448) * s_x
    w = model.weights[0]
    s_w = np.float32(np.abs(w).max() / 448)
    w_q = quantize(w / s_w, "fp8_e4m3").astype(np.float64) * s_w
    x_q = quantize(x2 / s_x, "fp8_e4m3", overflow="saturate").astype(np.float64) * s_x
    step = fq.step(x2, labels)
    p = softmax(x_q @ w_q)
    p[np.arange(4), labels] -= 1
    np.testing.assert_allclose(step.grads[0], x_q.T @ p / 4, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_fake_quant_forward_equals_the_exported_model(
    base: MLP, synthetic: Dataset, scheme: str
) -> None:
    fq = FakeQuantMLP(base.copy(), **SCHEMES[scheme], warmup_steps=3)
    qat_train(fq, synthetic.train[:400], epochs=1, lr=0.01, seed=0)
    q = export(fq, scheme)
    images = synthetic.test.images
    logits, _ = fq.forward(images)
    assert_array_equal(q.predict(images, path="fake_quant"), logits)  # bit for bit
    if q.scheme.is_integer:
        # integer-only serving: exact int32 sums, fixed-point requantization (two roundings,
        # see mixprec.quant.requant) instead of float32 ones: the same prediction nearly always
        same = q.predict(images).argmax(1) == logits.argmax(1)
        assert same.mean() >= 0.97
    assert q.nbytes < sum(p.nbytes for p in base.parameters()) / 3


@pytest.mark.parametrize("bound", ["a2q", "a2q+"])
def test_a2q_qat_serves_a_narrow_accumulator_without_wraps(
    base: MLP, synthetic: Dataset, bound: str
) -> None:
    fq = FakeQuantMLP(base.copy(), "int8", "int8", accumulator=14, bound=bound, warmup_steps=3)
    qat_train(fq, synthetic.train[:400], epochs=1, lr=0.01, seed=0)
    for i in range(base.n_layers):
        codes, _ = fq.weight_qparams(i)
        lo, hi = fq.input_range(i)
        assert np.all(a2q.fits(codes.astype(np.int64), 14, lo, hi))
    q = export(fq, "int8-per-channel")
    _, events = q.predict(synthetic.test.images, mac="int8->int14:wrap", stats=True)
    assert events.as_dict()["forward"]["wraps"] == 0
    assert_array_equal(q.predict(synthetic.test.images, mac="int8->int14:wrap"),
                       q.predict(synthetic.test.images))  # fmt: skip
    plain = FakeQuantMLP(base.copy(), "int8", "int8", warmup_steps=3)
    qat_train(plain, synthetic.train[:400], epochs=1, lr=0.01, seed=0)
    _, events = export(plain, "int8-per-channel").predict(
        synthetic.test.images, mac="int8->int14:wrap", stats=True
    )
    assert events.as_dict()["forward"]["wraps"] > 0  # without the bound the same MAC wraps


def test_qat_recovers_accuracy_and_is_reproducible(base: MLP, synthetic: Dataset) -> None:
    runs = []
    for _ in range(2):
        fq = FakeQuantMLP(base.copy(), "int4", "int4", warmup_steps=5)
        history = qat_train(fq, synthetic, epochs=2, lr=0.01, seed=3, eval_split=synthetic.test)
        runs.append((fq.model.parameters(), history))
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][0], runs[1][0], strict=True))
    history = runs[0][1]
    assert history.accuracy == runs[1][1].accuracy and history.epochs == 2
    assert history.policy == "qat:w4a4" and history.config is not None and history.config.lr == 0.01
    assert history.accuracy[-1] >= 0.8


def test_lsq_learns_steps(base: MLP, synthetic: Dataset) -> None:
    fq = FakeQuantMLP(base.copy(), "int4", "int4", learn_scales=True, warmup_steps=2)
    before = [s.copy() for s in fq.weight_steps]
    history = qat_train(fq, synthetic.train, epochs=1, lr=0.01, seed=0)
    assert not all(np.array_equal(a, b) for a, b in zip(before, fq.weight_steps, strict=True))
    assert all(np.all(s > 0) for s in fq.weight_steps) and history.steps == 5
    assert evaluate_fake_quant(fq, synthetic.test)[0] >= 0.5


def test_interrupt_keeps_the_last_completed_step(
    base: MLP, synthetic: Dataset, monkeypatch
) -> None:
    fq = FakeQuantMLP(base.copy(), "int4", "int4", warmup_steps=2)
    original, calls, snapshot = FakeQuantMLP.step, [], []

    def step(self: FakeQuantMLP, *args):
        if len(calls) == 7:  # epoch 1 has 5 steps at batch 128 (600 images)
            snapshot.extend(p.copy() for p in self.model.parameters())
            raise KeyboardInterrupt
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(FakeQuantMLP, "step", step)
    with pytest.raises(TrainingInterrupted) as caught:
        qat_train(fq, synthetic, epochs=3, lr=0.01)
    history = caught.value.history
    assert history.interrupted and history.epochs == 1 and history.steps == 7
    assert all(np.array_equal(p, q) for p, q in zip(snapshot, fq.model.parameters(), strict=True))


def test_sigint_during_an_update_lands_after_it(base: MLP, synthetic: Dataset, monkeypatch) -> None:
    import signal

    original, calls = SGD.updates, []

    def updates(self: SGD, grads):
        out = original(self, grads)
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGINT)
        return out

    monkeypatch.setattr(SGD, "updates", updates)
    fq = FakeQuantMLP(base.copy(), "int4", "int4", warmup_steps=2)
    run = qat_epochs(fq, synthetic, epochs=2, lr=0.01)
    with pytest.raises(TrainingInterrupted) as caught:
        next(run)
    assert caught.value.history.steps == 3
    # the same three whole steps, without the interruption
    reference = FakeQuantMLP(base.copy(), "int4", "int4", warmup_steps=2)
    monkeypatch.setattr(SGD, "updates", original)
    order = np.random.default_rng(0).spawn(2)[0].permutation(600)
    sgd = SGD([p.shape for p in reference.model.parameters()], lr=0.01)
    for i in range(3):
        index = order[i * 128 : (i + 1) * 128]
        step = reference.step(synthetic.train.images[index], synthetic.train.labels[index])
        for p, u in zip(reference.model.parameters(), sgd.updates(step.grads), strict=True):
            p += u
    assert all(
        np.array_equal(p, q)
        for p, q in zip(fq.model.parameters(), reference.model.parameters(), strict=True)
    )


def test_errors(base: MLP) -> None:
    with pytest.raises(ValueError, match="int2..int8"):
        FakeQuantMLP(base.copy(), "int16")
    with pytest.raises(ValueError, match="take integer formats"):
        FakeQuantMLP(base.copy(), "fp8_e4m3", "fp8_e4m3", learn_scales=True)
    with pytest.raises(ValueError, match="float activations are symmetric"):
        FakeQuantMLP(base.copy(), "fp8_e4m3", "fp8_e4m3", symmetric_activations=False)
    with pytest.raises(ValueError, match="take per-channel weights"):
        FakeQuantMLP(base.copy(), "int8", "int8", accumulator=16, per_channel=False)
    with pytest.raises(ValueError, match="accumulator bound needs"):
        FakeQuantMLP(base.copy(), "int8", None, accumulator=16)
    with pytest.raises(ValueError, match="does not store"):
        export(FakeQuantMLP(base.copy(), "int4", "int4"), "int8-per-channel")
    with pytest.raises(ValueError, match="no batch yet"):
        FakeQuantMLP(base.copy(), "int8", "int8").forward(np.zeros((1, 784), np.float32))


@pytest.mark.parametrize("observer", ["minmax", "percentile", "mse"])
@pytest.mark.parametrize(
    "scheme", ["int8-per-channel", "int8-per-channel-asym", "int8-per-tensor", "fp8_e4m3",
               "fp8_e4m3-per-channel", "fp8_e5m2"],
)  # fmt: skip
def test_calibrated_fake_quant_is_post_training_quantization(
    base: MLP, synthetic: Dataset, observer: str, scheme: str
) -> None:
    from mixprec.quant import quantize

    images = synthetic.train.images[:300]
    fq = FakeQuantMLP(base.copy(), **SCHEMES[scheme])
    fq.calibrate(images, observer)
    ptq = quantize(base, images, scheme, observer=observer, weight_observer="minmax")
    logits, _ = fq.forward(synthetic.test.images)
    assert_array_equal(ptq.predict(synthetic.test.images, path="fake_quant"), logits)


def test_qat_model_exports_to_onnx_bit_for_bit(base: MLP, synthetic: Dataset) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from mixprec.quant.onnx_export import onnx_predict, to_onnx

    fq = FakeQuantMLP(base.copy(), "int8", "int8", accumulator=16, warmup_steps=3)
    qat_train(fq, synthetic.train[:300], epochs=1, lr=0.01, seed=0)
    q = export(fq, "int8-per-channel")
    images = synthetic.test.images
    assert_array_equal(onnx_predict(to_onnx(q), images), q.predict(images))


def test_qat_resumes_after_an_interruption_bit_for_bit(
    base: MLP, synthetic: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C inside step 7 (epoch 2 of 3, after that step's forward pass moved the observers,
    still warming up), then ``resume=``: the same parameters, learned steps, observers and
    history as the run without the interruption."""
    import mixprec.quant.qat as qat_module
    from mixprec.quant.qat_train import QATInterrupted

    original = qat_module.softmax_cross_entropy
    calls: list[int] = []

    def interrupted_loss(*args):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return original(*args)

    options = dict(epochs=3, lr=0.01, seed=4, eval_split=synthetic.test)
    a = FakeQuantMLP(base.copy(), "int4", "int4", warmup_steps=9, learn_scales=True)
    whole = qat_train(a, synthetic, **options)
    b = FakeQuantMLP(base.copy(), "int4", "int4", warmup_steps=9, learn_scales=True)
    monkeypatch.setattr(qat_module, "softmax_cross_entropy", interrupted_loss)
    with pytest.raises(QATInterrupted) as caught:
        qat_train(b, synthetic, **options)
    history = caught.value.history
    assert history.interrupted and history.epochs == 1 and history.steps == 6
    assert b.observers[0].steps_ == 6  # the interrupted step's batch is not counted
    monkeypatch.setattr(qat_module, "softmax_cross_entropy", original)
    with pytest.raises(ValueError, match="another FakeQuantMLP"):
        qat_train(a, synthetic, resume=caught.value.progress)
    resumed = qat_train(b, synthetic, resume=caught.value.progress, eval_split=synthetic.test)
    learned_a = a.model.parameters() + a.weight_steps + a.input_steps
    learned_b = b.model.parameters() + b.weight_steps + b.input_steps
    for p, q in zip(learned_a, learned_b, strict=True):
        assert_array_equal(p, q)
    assert [o.min_ for o in a.observers] == [o.min_ for o in b.observers]
    assert resumed.loss == whole.loss and resumed.accuracy == whole.accuracy
    assert resumed.steps == whole.steps == 15 and not resumed.interrupted
