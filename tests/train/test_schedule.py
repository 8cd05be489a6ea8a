"""Learning-rate schedules and the optimizers' learning rates: formula, defaults, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mixprec.nn import MLP
from mixprec.train import SGD, Adam, Optimizer, Trainer
from mixprec.train.optimizers import DEFAULT_LR, default_lr, make_optimizer
from mixprec.train.schedules import Schedule, as_schedule, epoch_lr


@pytest.mark.parametrize("epochs", [1, 2, 3, 10])
def test_cosine_follows_the_formula(epochs: int) -> None:
    rates = [epoch_lr(0.05, e, epochs, "cosine") for e in range(epochs)]
    assert rates[0] == 0.05  # 0.05 * 0.5 * 2: exact
    for e, rate in enumerate(rates):
        assert rate == 0.05 * 0.5 * (1 + math.cos(math.pi * e / epochs))
        assert rate > 0
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))  # strictly decreasing


def test_cosine_spot_values() -> None:
    # cos(pi/2) = 6.1e-17, not 0: half the rate up to rounding; cos(pi/4) = sqrt(2)/2
    assert epoch_lr(0.1, 2, 4) == pytest.approx(0.05, rel=1e-15)
    assert epoch_lr(1.0, 1, 4, Schedule.COSINE) == pytest.approx((1 + math.sqrt(0.5)) / 2)


def test_constant_keeps_the_rate() -> None:
    assert [epoch_lr(0.02, e, 5, "constant") for e in range(5)] == [0.02] * 5


def test_unknown_schedule_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown schedule 'linear'.*'constant', 'cosine'"):
        epoch_lr(0.05, 0, 3, "linear")
    with pytest.raises(ValueError, match=r"'constant', 'cosine'"):
        as_schedule("Cosine ")
    assert as_schedule("constant") is Schedule.CONSTANT


@pytest.mark.parametrize("epoch", [-1, 3])
def test_epoch_out_of_range(epoch: int) -> None:
    with pytest.raises(ValueError, match=r"epoch must be in \[0, epochs\)"):
        epoch_lr(0.05, epoch, 3)


def test_default_learning_rates() -> None:
    assert default_lr("sgd") == 0.05 and default_lr("adam") == 0.001
    assert default_lr("SGD") == 0.05
    assert default_lr(Adam([(2,)], lr=0.003)) == 0.003
    assert default_lr(SGD([(2,)], lr=0.25)) == 0.25  # exact in float32
    with pytest.raises(ValueError, match=r"unknown optimizer 'rmsprop'.*'sgd', 'adam'"):
        default_lr("rmsprop")

    class NoRate(Optimizer):
        def updates(self, grads):
            return list(grads)

    with pytest.raises(ValueError, match="NoRate has no lr attribute; pass .*lr="):
        default_lr(NoRate())


def test_trainer_resolves_the_default_per_optimizer() -> None:
    sgd = Trainer(MLP((4, 3)), "fp32").optimizer
    adam = Trainer(MLP((4, 3)), "fp32", optimizer="adam").optimizer
    assert isinstance(sgd, SGD) and sgd.lr == np.float32(DEFAULT_LR["sgd"])
    assert isinstance(adam, Adam) and adam.lr == 0.001 and isinstance(adam.lr, float)
    assert Trainer(MLP((4, 3)), "fp32", lr=0.2).optimizer.lr == np.float32(0.2)


def test_set_lr_keeps_each_optimizers_type() -> None:
    sgd, adam = SGD([(3,)], lr=0.1), Adam([(3,)], lr=0.01)
    sgd.set_lr(0.03)
    adam.set_lr(0.002)
    assert type(sgd.lr) is np.float32 and sgd.lr == np.float32(0.03)
    assert type(adam.lr) is float and adam.lr == 0.002
    for optimizer in (sgd, adam):
        with pytest.raises(ValueError, match="lr must be > 0, got 0"):
            optimizer.set_lr(0.0)
    with pytest.raises(ValueError, match="lr must be > 0, got -1"):
        SGD([(3,)], lr=-1)


def test_sgd_update_uses_the_new_rate() -> None:
    sgd = SGD([(2,)], lr=0.5, momentum=0.0)
    sgd.set_lr(0.25)
    (update,) = sgd.updates([np.array([1.0, -2.0], np.float32)])
    assert np.array_equal(update, np.array([-0.25, 0.5], np.float32))


def test_make_optimizer_sets_a_given_rate_on_an_optimizer() -> None:
    mine = SGD([(2,)], lr=0.5)
    assert make_optimizer(mine, [(2,)], None, 0.9) is mine and mine.lr == np.float32(0.5)
    assert make_optimizer(mine, [(2,)], 0.125, 0.9) is mine and mine.lr == np.float32(0.125)
