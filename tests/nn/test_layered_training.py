"""Training under a policy per layer: each layer keeps its own format; uniform is unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from mixprec.data import Split
from mixprec.formats import quantize
from mixprec.nn import MLP
from mixprec.nn.layered import LayerPolicy
from mixprec.train import train


def _data(n: int = 64) -> Split:
    rng = np.random.default_rng(0)
    return Split(rng.standard_normal((n, 12)).astype(np.float32), rng.integers(0, 3, n))


@pytest.mark.parametrize("preset", ["fp16", "bf16", "fp8"])
def test_a_uniform_layer_policy_trains_bit_for_bit_as_the_preset(preset: str) -> None:
    a, b = MLP((12, 7, 5, 3), seed=1), MLP((12, 7, 5, 3), seed=1)
    ha = train(a, _data(), policy=preset, epochs=2, batch_size=16, progress=False, eval_split=None)
    hb = train(b, _data(), policy=LayerPolicy(preset), epochs=2, batch_size=16, progress=False,
               eval_split=None)  # fmt: skip
    for x, y in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(x, y)
    assert ha.loss == hb.loss


def test_each_layer_trains_in_its_own_format() -> None:
    model = MLP((12, 7, 5, 3), seed=2)
    before = [p.copy() for p in model.parameters()]
    history = train(model, _data(), policy="fp32@2=bf16-sr@3=fp16", epochs=2, batch_size=16,
                    progress=False, eval_split=None)  # fmt: skip
    assert history.policy == "fp32@2=bf16-sr@3=fp16"
    w1, w2, w3 = model.weights
    np.testing.assert_array_equal(quantize(w2, "bf16"), w2)  # no master copy: on bf16's grid
    np.testing.assert_array_equal(quantize(w3, "fp16"), w3)
    assert not np.array_equal(quantize(w3, "bf16"), w3)  # fp16 weights: finer than bf16
    assert not np.array_equal(quantize(w1, "bf16"), w1)  # fp32: off every narrower grid
    assert not np.array_equal(w1, before[0])  # and it learned


def test_serving_only_entries_cannot_train() -> None:
    with pytest.raises(ValueError, match="is for serving only"):
        train(
            MLP((12, 7, 5, 3)),
            _data(),
            policy="fp32@2=int8",
            epochs=1,
            progress=False,
            eval_split=None,
        )


def test_a_sweep_trains_and_serves_policies_per_layer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mixprec.data import make_synthetic
    from mixprec.experiments import LocalExecutor, Sweep, run_sweep
    from mixprec.experiments.serve import train_policy
    from mixprec.train import TrainConfig

    with pytest.raises(ValueError, match="for serving only"):
        train_policy("fp8@2=int8")
    data = make_synthetic(tmp_path / "data", n_train=200, n_test=60)
    sweep = Sweep(name="layered", train=("fp32", "fp8@1=bf16"), serve=("fp32", "fp32@2=int8"),
                  seeds=(0,), training=TrainConfig(epochs=1), dataset="fashion-mnist",
                  data_dir=str(data))  # fmt: skip
    result = run_sweep(sweep, tmp_path / "out", LocalExecutor(in_process=True), progress=False)
    assert result.complete and not result.failures
    record = next(r for r in result.records if r["train"] == "fp8@1=bf16")
    assert record["train_policy"] == "fp8@1=bf16"
    served = next(r for r in result.records if r["serve"] == "fp32@2=int8")
    assert served["serve_policy"] == "fp32@2=int8" and served["accuracy"] > 0.5


def test_a_toml_experiment_takes_policies_per_layer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from mixprec.experiments import Sweep
    from mixprec.experiments.serve import check

    path = tmp_path / "layered.toml"
    path.write_text('train = ["fp8@1=bf16@3=bf16"]\nserve = ["int4@1=int8@3=int8", "fp32"]\n')
    sweep = Sweep.from_toml(path)
    assert sweep.train == ("fp8@1=bf16@3=bf16",)
    check(sweep.train, sweep.serve)  # every entry resolves
