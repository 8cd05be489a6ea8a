"""``mixprec quantize --method gptq --accumulator intP`` and ``mixprec train --init --qat``."""

from __future__ import annotations

import json
from pathlib import Path

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
    path = tmp_path_factory.mktemp("qcli") / "model.npz"
    return save(model, path, metadata={"normalize": "standard"})


def served_wraps(path: Path, data_dir: Path, mac: str, capsys: pytest.CaptureFixture) -> dict:
    assert main(["evaluate", str(path), "--data-dir", str(data_dir), "--mac", mac, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("method", ["rtn", "gptq"])
def test_quantize_with_an_accumulator_bound_serves_without_wraps(
    model_file: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
    method: str,
) -> None:  # fmt: skip
    out = tmp_path / "q.npz"
    argv = ["quantize", str(model_file), "--scheme", "int8-per-channel", "--method", method,
            "--accumulator", "int14", "--calibration", "200", "--data-dir", str(synthetic_dir),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    q = load(out)
    assert isinstance(q, QuantizedMLP) and q.metadata["accumulator"] == "int14"
    assert q.metadata["method"] == method
    result = served_wraps(out, synthetic_dir, "int8->int14:wrap", capsys)
    assert result["events"]["forward"]["wraps"] == 0 and result["accuracy"] > 0.5


def test_train_init_qat_writes_a_quantized_model(
    model_file: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "model-qat.npz"
    argv = ["train", "--init", str(model_file), "--qat", "int8-per-channel", "--epochs", "1",
            "--lr", "0.01", "--seed", "0", "--accumulator", "int12", "--warmup", "2",
            "--data-dir", str(synthetic_dir), "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert "test accuracy (fake quant)" in capsys.readouterr().out
    q = load(out)
    assert isinstance(q, QuantizedMLP) and str(q.scheme) == "int8-per-channel"
    assert q.metadata["qat"] == "w8a8:acc12-a2q+"
    result = served_wraps(out, synthetic_dir, "int8->int12:wrap", capsys)
    assert result["events"]["forward"]["wraps"] == 0 and result["accuracy"] > 0.5


def test_qat_errors(model_file: Path, synthetic_dir: Path, tmp_path: Path) -> None:
    base = ["train", "--data-dir", str(synthetic_dir), "--out", str(tmp_path / "x.npz")]
    assert main([*base, "--qat", "int8-per-channel"]) != 0  # no --init
    assert main([*base, "--observer", "mse"]) != 0  # a QAT option without QAT
    assert main([*base, "--init", str(model_file), "--qat", "mxfp8"]) != 0  # block-scaled
    assert main([*base, "--init", str(model_file), "--qat", "int8-per-tensor", "--lsq"]) != 0
    assert main([*base, "--init", str(model_file), "--qat", "fp8_e4m3", "--lsq"]) != 0
    bad = [*base, "--init", str(model_file), "--qat", "int8-per-channel", "--accumulator", "i16"]
    assert main(bad) != 0


def test_train_qat_w4a4_from_calibrated_ranges_and_group_wise_quantize(
    model_file: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "w4a4.npz"
    argv = ["train", "--init", str(model_file), "--qat", "int4-per-channel", "--epochs", "1",
            "--observer", "mse", "--calibration", "100", "--data-dir", str(synthetic_dir),
            "--out", str(out), "--no-progress", "--json"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["policy"] == "qat:w4a4"
    q = load(out)
    assert isinstance(q, QuantizedMLP) and str(q.scheme) == "int4-per-channel"
    assert served_wraps(out, synthetic_dir, "int8->int32", capsys)["accuracy"] > 0.5
    grouped = tmp_path / "g.npz"
    argv = ["quantize", str(model_file), "--scheme", "int3-weight-only:group=32", "--method",
            "gptq", "--calibration", "100", "--data-dir", str(synthetic_dir), "--out",
            str(grouped), "--json"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["scheme"] == "int3-weight-only:group=32"
    q = load(grouped)
    assert isinstance(q, QuantizedMLP) and q.weight_scales_[0].shape == (25, 32)
    assert q.metadata["method"] == "gptq"


def test_qat_refuses_clashing_options_and_an_unwritable_out_before_loading_data(
    model_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """No data directory exists: a run that got as far as loading data would fail differently."""
    missing = tmp_path / "no-data"
    base = ["train", "--init", str(model_file), "--data-dir", str(missing), "--no-progress"]
    assert (
        main([*base, "--qat", "int4-per-channel-asym", "--lsq", "--out", str(tmp_path / "a.npz")])
        == 2
    )
    assert "need symmetric activations" in capsys.readouterr().err
    assert (
        main(
            [*base, "--qat", "int4-per-channel", "--epochs", "0", "--out", str(tmp_path / "b.npz")]
        )
        == 2
    )
    assert "needs 1 or more" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker / "model.npz"  # a directory that cannot exist: its parent is a file
    assert main([*base, "--qat", "int4-per-channel", "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert "nothing was done" in err and "Checked before quantization-aware training" in err
    assert not out.exists()


@pytest.mark.parametrize("scheme", ["fp8_e4m3", "int8-per-tensor"])
def test_train_qat_on_fp8_and_per_tensor_schemes_serves_what_it_trained(
    model_file: Path, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
    scheme: str,
) -> None:  # fmt: skip
    """The accuracy QAT reports for its fake-quantized forward is the served model's."""
    out = tmp_path / "q.npz"
    argv = ["train", "--init", str(model_file), "--qat", scheme, "--epochs", "1",
            "--observer", "minmax", "--calibration", "100", "--data-dir", str(synthetic_dir),
            "--out", str(out), "--no-progress", "--json"]  # fmt: skip
    assert main(argv) == 0
    history = json.loads(capsys.readouterr().out)
    q = load(out)
    assert isinstance(q, QuantizedMLP) and str(q.scheme) == scheme
    served = main(["evaluate", str(out), "--data-dir", str(synthetic_dir), "--json",
                   "--path", "fake_quant"])  # fmt: skip
    assert served == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == history["accuracy"][-1]
