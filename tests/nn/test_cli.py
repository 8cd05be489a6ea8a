"""``mixprec train``, ``evaluate`` and ``memory`` end to end on the synthetic dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mixprec.cli import main
from mixprec.nn import MLP, load


def test_train_then_evaluate(synthetic_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "model.npz"
    code = main(["train", "--dataset", "fashion-mnist", "--data-dir", str(synthetic_dir),
                 "--policy", "bf16", "--epochs", "2", "--seed", "0", "--out", str(out),
                 "--no-progress"])  # fmt: skip
    assert code == 0 and out.exists()
    printed = capsys.readouterr().out
    assert "epoch 2:" in printed and "policy bf16" in printed
    model = load(out)
    assert isinstance(model, MLP) and model.metadata["policy"] == "bf16"
    assert len(model.metadata["history"]["accuracy"]) == 2
    config = model.metadata["history"]["config"]
    assert (config["optimizer"], config["lr"], config["schedule"]) == ("sgd", 0.05, "cosine")

    for policy, batch in [("fp32", "1000"), ("fp8", "1"), ("int8", "37")]:
        code = main(["evaluate", str(out), "--dataset", "fashion-mnist", "--data-dir",
                     str(synthetic_dir), "--policy", policy, "--batch-size", batch,
                     "--json"])  # fmt: skip
        result = json.loads(capsys.readouterr().out)
        assert code == 0 and result["policy"] == policy and result["n"] == 200
        assert result["accuracy"] >= 0.95 and np.isfinite(result["loss"])

    main(["evaluate", str(out), "--data-dir", str(synthetic_dir), "--policy", "int8",
          "--mac", "int8->int16:wrap"])  # fmt: skip
    printed = capsys.readouterr().out
    assert "int8[forward_mac=int8->int16]" in printed and "wraps" in printed


def test_errors_are_reported(synthetic_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["train", "--data-dir", str(synthetic_dir), "--policy", "int8", "--epochs",
                 "1", "--out", str(tmp_path / "m.npz"), "--no-progress"]) == 2  # fmt: skip
    assert "for serving only" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"nonsense")
    assert main(["evaluate", str(bad), "--data-dir", str(synthetic_dir)]) == 2
    assert "not a readable mixprec model file" in capsys.readouterr().err
    assert main(["train", "--data-dir", str(synthetic_dir), "--policy", "fp7"]) == 2
    assert "Presets" in capsys.readouterr().err


def test_train_schedule_and_lr(synthetic_dir: Path, tmp_path: Path, capsys) -> None:
    args = ["train", "--data-dir", str(synthetic_dir), "--epochs", "1", "--out",
            str(tmp_path / "m.npz"), "--no-progress", "--json"]  # fmt: skip
    assert main([*args, "--schedule", "constant", "--lr", "0.02"]) == 0
    config = json.loads(capsys.readouterr().out)["config"]
    assert (config["lr"], config["schedule"]) == (0.02, "constant")
    assert main([*args, "--optimizer", "adam"]) == 0
    config = json.loads(capsys.readouterr().out)["config"]
    assert (config["optimizer"], config["lr"], config["schedule"]) == ("adam", 0.001, "cosine")
    with pytest.raises(SystemExit):
        main([*args, "--schedule", "linear"])
    assert "invalid choice: 'linear'" in capsys.readouterr().err


def test_memory(capsys) -> None:
    assert main(["memory", "--batch", "128", "--policy", "fp16-amp", "--json", "--no-measure"]) == 0
    report = json.loads(capsys.readouterr().out)
    fp32 = next(r for r in report["rows"] if r["name"] == "fp32")
    assert (fp32["weights_bytes"], fp32["train_bytes"], fp32["serve_bytes"]) == (
        419_712, 990_080, 423_360
    )  # fmt: skip
    assert report["policies"][0]["name"] == "fp16-amp"
    assert main(["memory", "--formats", "fp32,int8"]) == 0
    table = capsys.readouterr().out
    assert "| fp32 | 32 | 419,712 | 990,080 | 423,360 |" in table and "424 KB" in table


@pytest.mark.parametrize("command", ["train", "evaluate", "memory"])
def test_help(command: str, capsys) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert "--json" in capsys.readouterr().out
