"""run_cell trains with the sweep's recipe (optimizer, lr, schedule, momentum)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import mixprec.nn
from mixprec.experiments import Cell, Sweep, run_cell


@pytest.mark.parametrize(
    ("changes", "lr", "schedule"),
    [({}, 0.05, "cosine"), ({"lr": 0.02, "schedule": "constant"}, 0.02, "constant")],
)
def test_the_cell_trains_with_the_sweeps_recipe(
    tiny_data: Path, monkeypatch: pytest.MonkeyPatch, changes: dict, lr: float, schedule: str
) -> None:
    calls: list[dict[str, Any]] = []
    original = mixprec.train.train

    def train(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(mixprec.train, "train", train)
    sweep = Sweep.from_dict(
        {"dataset": "fashion-mnist", "data_dir": str(tiny_data), "epochs": 1, **changes}
    )
    output = run_cell(Cell(sweep=sweep, train="fp32", seed=0, serve=("fp32",)))
    config = calls[0]["config"]
    assert len(calls) == 1 and (config.resolved_lr, config.schedule) == (lr, schedule)
    record = output.records[0]
    assert (record["inputs"]["lr"], record["inputs"].get("schedule", "constant")) == (lr, schedule)
