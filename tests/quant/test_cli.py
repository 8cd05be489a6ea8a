"""The ``mixprec quantize`` and ``mixprec export`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mixprec.cli import main
from mixprec.data import Dataset
from mixprec.nn.model import MLP
from mixprec.quant import load, save
from mixprec.quant.model import QuantizedMLP
from mixprec.train import train


@pytest.fixture(scope="module")
def model_file(synthetic: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = MLP((784, 32, 16, 10), seed=0)
    train(model, synthetic, epochs=2, progress=False, eval_split=None)
    path = tmp_path_factory.mktemp("cli") / "model.npz"
    return save(model, path, metadata={"normalize": "standard"})


def test_quantize_then_export(
    model_file: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "model-int8.npz"
    argv = ["quantize", str(model_file), "--scheme", "int8-per-channel", "--calibration", "100",
            "--dataset", "fashion-mnist", "--data-dir", str(synthetic_dir),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "int8-per-channel, minmax observer, 100 calibration images" in printed
    assert "x smaller" in printed
    q = load(out)
    assert isinstance(q, QuantizedMLP) and q.metadata["calibration_images"] == 100
    assert q.metadata["normalize"] == "standard"
    for requantization in ("gemmlowp", "float"):
        onnx_path = tmp_path / f"{requantization}.onnx"
        argv = ["export", str(out), "--onnx", str(onnx_path), "--requantization", requantization]
        assert main(argv) == 0
        printed = capsys.readouterr().out
        assert f"{requantization} requantization" in printed and "bit-identical" in printed
        assert onnx_path.exists()


def test_quantize_json_with_evaluation(
    model_file: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv = ["quantize", str(model_file), "--scheme", "int4-weight-only", "--observer", "mse",
            "--calibration", "50", "--data-dir", str(synthetic_dir), "--out",
            str(tmp_path / "q.npz"), "--evaluate", "--json"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scheme"] == "int4-weight-only" and report["observer"] == "mse"
    assert report["bytes"] < report["float_bytes"] / 6
    assert report["accuracy"] > report["float_accuracy"] - 0.05


def test_export_float_model(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["export", str(model_file), "--onnx", str(tmp_path / "m.onnx"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["max_relative_error"] < 1e-5


def test_errors(
    model_file: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    base = ["--data-dir", str(synthetic_dir), "--out", str(tmp_path / "q.npz")]
    assert main(["quantize", str(model_file), "--scheme", "int7", *base]) == 2
    assert "unknown quantization scheme 'int7'" in capsys.readouterr().err
    assert main(["quantize", str(model_file), "--calibration", "0", *base]) == 2
    assert "--calibration must be >= 1" in capsys.readouterr().err
    assert main(["quantize", str(model_file), "--scheme", "fp8_e4m3", *base]) == 0
    capsys.readouterr()
    assert main(["quantize", str(tmp_path / "q.npz"), *base]) == 2
    assert "quantize the float model" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "q.npz"), "--onnx", str(tmp_path / "q.onnx")]) == 2
    assert "int8 schemes" in capsys.readouterr().err
    assert not (tmp_path / "q.onnx").exists()
    np.testing.assert_equal(sorted(p.name for p in tmp_path.iterdir()), ["q.npz"])
