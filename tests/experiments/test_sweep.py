"""Sweep definitions: fields, grid expansion, keys, TOML files and shipped experiments."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixprec.experiments import Sweep, list_experiments, load_experiment, record_key


def test_grid_expansion_order_and_cells() -> None:
    sweep = Sweep(train="fp32, bf16", serve=["fp32", "int8", "fp16"], seeds=2)
    assert sweep.train == ("fp32", "bf16") and sweep.seeds == (0, 1)
    grid = sweep.grid()
    assert len(grid) == 2 * 3 * 2 and len(set(grid)) == len(grid)
    assert grid[:4] == [("fp32", "fp32", 0), ("fp32", "int8", 0), ("fp32", "fp16", 0),
                        ("bf16", "fp32", 0)]  # fmt: skip
    cells = sweep.cells()
    assert [(c.train, c.seed) for c in cells] == [("fp32", 0), ("bf16", 0), ("fp32", 1),
                                                  ("bf16", 1)]  # fmt: skip
    assert all(c.serve == sweep.serve for c in cells)


def test_cells_skip_what_is_done() -> None:
    sweep = Sweep(train=["fp32", "bf16"], serve=["fp32", "int8"], seeds=[3, 5])
    done = {sweep.key("fp32", s, 3) for s in ("fp32", "int8")} | {sweep.key("bf16", "int8", 5)}
    cells = {(c.train, c.seed): c.serve for c in sweep.cells(done)}
    assert cells == {("bf16", 3): ("fp32", "int8"), ("fp32", 5): ("fp32", "int8"),
                     ("bf16", 5): ("fp32",)}  # fmt: skip
    all_keys = {sweep.key(*entry) for entry in sweep.grid()}
    assert sweep.cells(all_keys) == []


def test_keys_depend_on_results_inputs_only() -> None:
    sweep = Sweep(train=["fp32"], serve=["fp32"])
    key = sweep.key("fp32", "fp32", 0)
    assert sweep.replace(name="other", description="x", data_dir="/d").key("fp32", "fp32", 0) == key
    assert sweep.replace(serve=["fp32", "bf16"], seeds=4).key("fp32", "fp32", 0) == key
    changes = ({"epochs": 2}, {"lr": 0.1}, {"schedule": "constant"}, {"test_limit": 100},
               {"dataset": "mnist"})  # fmt: skip
    for change in changes:
        assert sweep.replace(**change).key("fp32", "fp32", 0) != key
    assert sweep.key("fp32", "fp32", 1) != key and sweep.key("fp32", "bf16", 0) != key


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train": []}, "train is empty"),
        ({"serve": ["fp32", "fp32"]}, "more than once"),
        ({"seeds": 0}, "positive"),
        ({"seeds": [1, 1]}, "more than once"),
        ({"seeds": [-1]}, "non-negative"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"lr": -1}, "lr must be a number > 0"),
        ({"lr": 0}, "lr must be a number > 0"),
        ({"lr": float("nan")}, "lr must be a number > 0"),
        ({"momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
        ({"schedule": "step"}, "unknown schedule 'step'; allowed: 'constant', 'cosine'"),
        ({"dataset": "cifar"}, "fashion-mnist"),
        ({"optimizer": "adam"}, "sgd"),
        ({"model": "big"}, "784-256-10"),
        ({"test_limit": 0}, "test_limit"),
    ],
)
def test_bad_fields(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Sweep.from_dict(changes)


def test_training_recipe_defaults() -> None:
    sweep = Sweep()
    t = sweep.training
    assert (t.optimizer, t.lr, t.schedule, t.momentum) == ("sgd", None, "cosine", 0.9)
    assert t.resolved_lr == 0.05 and sweep.replace(lr=0.2).training.resolved_lr == 0.2
    assert Sweep.from_dict(sweep.as_dict()) == sweep
    inputs = sweep.inputs()
    assert (inputs["lr"], inputs["schedule"]) == (0.05, "cosine")
    # lr=None stands for the default: the same results, the same keys
    assert Sweep.from_dict({"lr": 0.05}).key("fp32", "fp32", 0) == sweep.key("fp32", "fp32", 0)
    assert Sweep.from_dict({"lr": 0.05}).model_key("fp32", 0) == sweep.model_key("fp32", 0)


def test_stores_written_before_schedules_keep_their_keys() -> None:
    """Results of the earlier recipe (lr 0.01, no schedule: constant) are found again."""
    old = {"dataset": "fashion-mnist", "model": "book", "epochs": 5, "batch_size": 128,
           "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "normalize": "standard",
           "train_limit": None, "test_limit": None}  # fmt: skip
    sweep = Sweep.from_dict({"dataset": "fashion-mnist", "lr": 0.01, "schedule": "constant"})
    assert sweep.inputs() == old
    assert sweep.key("fp32", "int8", 2) == record_key(
        {**old, "train": "fp32", "serve": "int8", "seed": 2}
    )
    assert sweep.model_key("bf16", 1) == record_key({**old, "train": "bf16", "seed": 1})
    assert sweep.replace(schedule="cosine").key("fp32", "int8", 2) != sweep.key("fp32", "int8", 2)


def test_model_sizes() -> None:
    assert Sweep().sizes == (784, 128, 32, 10)
    assert Sweep(model="784-64-10").sizes == (784, 64, 10)


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'train = ["fp32"]\nserve = ["fp32", "int8->int16:wrap"]\nseeds = [4, 2]\nepochs = 2\n'
        "test_limit = 500\n"
    )
    sweep = load_experiment(path)
    assert (sweep.name, sweep.seeds, sweep.training.epochs, sweep.test_limit) == (
        "mine",
        (4, 2),
        2,
        500,
    )
    assert sweep.serve == ("fp32", "int8->int16:wrap")
    assert load_experiment(str(path)) == sweep


def test_toml_errors(tmp_path: Path) -> None:
    bad_key = tmp_path / "bad.toml"
    bad_key.write_text('train = ["fp32"]\nepoch = 3\n')
    with pytest.raises(ValueError, match=r"bad.toml: unknown sweep setting\(s\) 'epoch'.*epochs"):
        load_experiment(bad_key)
    broken = tmp_path / "broken.toml"
    broken.write_text("train = [\n")
    with pytest.raises(ValueError, match="invalid TOML"):
        Sweep.from_toml(broken)
    with pytest.raises(ValueError, match="no sweep file"):
        load_experiment(tmp_path / "missing.toml")
    with pytest.raises(ValueError, match="shipped experiments are .*book"):
        load_experiment("no-such-experiment")


def test_shipped_experiments() -> None:
    names = list_experiments()
    assert {"book", "accumulators"} <= set(names)
    for name in names:
        sweep = load_experiment(name)
        assert sweep.name == name and sweep.description
    book = load_experiment("book")
    assert book.train == ("fp32", "bf16", "fp16-amp", "fp8") and book.dataset == "auto"
    assert (book.training.lr, book.training.schedule) == (0.05, "cosine")
    assert {"fp32", "bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "int8", "int8->int16:wrap"} <= set(
        book.serve
    )


def test_as_dict_round_trip() -> None:
    sweep = Sweep(name="x", train=["fp32", "bf16"], seeds=[1, 2], test_limit=10)
    assert Sweep.from_dict(sweep.as_dict()) == sweep
    assert sweep.as_dict()["lr"] is None and sweep.as_dict()["schedule"] == "cosine"
    constant = sweep.replace(lr=0.02, schedule="constant")
    assert Sweep.from_dict(constant.as_dict()) == constant
