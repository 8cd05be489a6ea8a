"""``mixprec search`` end to end on a tiny synthetic dataset; its choice re-evaluated by
``mixprec evaluate --policy``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixprec.cli import main


@pytest.fixture(scope="module")
def search_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mixprec.data import make_synthetic

    return make_synthetic(tmp_path_factory.mktemp("search"), n_train=400, n_test=150, seed=7)


def test_search_then_evaluate_the_chosen_policy(
    search_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.npz"
    common = ["--data-dir", str(search_data)]
    assert main(["train", *common, "--epochs", "2", "--validation", "100", "--sizes",
                 "784,16,8,10", "--out", str(model), "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    out = tmp_path / "search"
    args = ["search", str(model), *common, "--formats", "fp32,bf16,int8,int4", "--tolerance",
            "1", "--out", str(out), "--jobs", "1", "--json"]  # fmt: skip
    assert main([*args, "--dry-run"]) == 0
    assert "64 validation evaluations" in capsys.readouterr().out
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err  # the model file names its held-out examples
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert set(result) >= {"baseline", "pareto", "chosen"}
    assert result["evaluations"] == 64 and result["method"] == "exhaustive"
    for point in result["pareto"]:
        assert set(point) >= {"policy", "cost_bytes", "bops", "val_accuracy", "test_accuracy",
                              "p_value"}  # fmt: skip
    costs = [p["cost_bytes"] for p in result["pareto"]]
    assert costs == sorted(costs)
    chosen = result["chosen"]
    assert chosen["val_accuracy"] >= result["baseline"]["val_accuracy"] - 0.01
    for split, key in (("test", "test_accuracy"), ("validation", "val_accuracy")):
        assert main(["evaluate", str(model), *common, "--policy", chosen["policy"], "--split",
                     split, "--json"]) == 0  # fmt: skip
        evaluation = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert evaluation["accuracy"] == chosen[key]
    assert {p.name for p in out.iterdir()} >= {"results.jsonl", "search.md", "search.csv"}
    lines = (out / "results.jsonl").read_text().splitlines()
    assert main(args) == 0  # everything stored: nothing runs again
    assert (out / "results.jsonl").read_text().splitlines() == lines
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["ran"] == 0


def test_search_refuses_bad_candidates(search_data: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    model = tmp_path / "m.npz"
    assert main(["train", "--data-dir", str(search_data), "--epochs", "1", "--sizes",
                 "784,8,10", "--out", str(model), "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["search", str(model), "--data-dir", str(search_data), "--formats", "fp32,fp9",
                 "--out", str(tmp_path / "s")]) == 2  # fmt: skip
    assert "unknown policy entry 'fp9'" in capsys.readouterr().err
