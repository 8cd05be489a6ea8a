"""Block-scaled PTQ models in files (packed codes and scales), the CLI, and the ONNX refusal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mixprec as mp
from mixprec.cli import main
from mixprec.data import Dataset
from mixprec.formats import BlockStorage
from mixprec.nn import MLP
from mixprec.nn.cost import cost
from mixprec.quant import SCHEMES, QuantizedMLP, load, quantize, save, to_onnx
from mixprec.quant.schemes import scheme_precision
from mixprec.train import train

BLOCK_SCHEMES = [name for name, s in SCHEMES.items() if s.is_block]
HEADER = {"format_version", "kind", "metadata", "quantized_version", "scheme", "observer",
          "weight_observer", "sizes", "output_bias"}  # fmt: skip


def small(scheme: str, output_bias: bool = False) -> tuple[MLP, QuantizedMLP, np.ndarray]:
    """K = 37 and 20: odd lengths, padded blocks and a half-filled last byte."""
    model = MLP((37, 20, 12, 10), seed=1, output_bias=output_bias)
    x = np.random.default_rng(1).standard_normal((30, 37)).astype(np.float32)
    return model, quantize(model, x, scheme=scheme), x


@pytest.mark.parametrize("output_bias", [False, True], ids=["book", "output-bias"])
@pytest.mark.parametrize("scheme", BLOCK_SCHEMES)
def test_round_trip_bit_for_bit_and_bytes_counted(
    scheme: str, output_bias: bool, tmp_path: Path
) -> None:
    model, q, x = small(scheme, output_bias)
    path = save(q, tmp_path / "q.npz", metadata=q.metadata)
    loaded = load(path)
    assert isinstance(loaded, QuantizedMLP) and loaded.scheme is q.scheme
    for name, array in q.arrays().items():
        np.testing.assert_array_equal(loaded.arrays()[name], array)
        assert loaded.arrays()[name].dtype == array.dtype
    np.testing.assert_array_equal(loaded.predict(x), q.predict(x))
    with np.load(path, allow_pickle=False) as npz:
        stored = {name: npz[name] for name in npz.files if name not in HEADER}
    assert set(stored) == set(q.arrays())
    assert sum(a.nbytes for a in stored.values()) == q.nbytes
    assert q.nbytes == cost(model, scheme_precision(scheme)).weight_bytes


@pytest.mark.parametrize("scheme", BLOCK_SCHEMES)
def test_stored_arrays_decode_to_the_quantized_weights(scheme: str, tmp_path: Path) -> None:
    model, q, _ = small(scheme)
    block = q.scheme.block
    with np.load(save(q, tmp_path / "q.npz"), allow_pickle=False) as npz:
        for i, w in enumerate(model.weights):
            packed, scales = npz[f"qweight_{i}"], npz[f"weight_scale_{i}"]
            expected = mp.to_storage(w, block, axis=0)
            assert isinstance(expected, BlockStorage)
            np.testing.assert_array_equal(packed, expected.codes)
            np.testing.assert_array_equal(scales, expected.scales)
            assert scales.shape == (-(-w.shape[0] // block.block_size), w.shape[1])
            tensor_scale = None
            if block.name == "nvfp4":
                tensor_scale = npz[f"weight_tensor_scale_{i}"][()]
                assert tensor_scale == expected.tensor_scale
            stored = BlockStorage(block, w.shape, 0, packed, scales, tensor_scale)
            assert stored.nbytes == expected.nbytes
            np.testing.assert_array_equal(stored.decode(), mp.quantize(w, block, axis=0))
            assert (f"input_scale_{i}" in npz.files) == (scheme == "nvfp4")


def test_fp4_codes_two_per_byte_low_nibble_first() -> None:
    model, q, _ = small("mxfp4")
    codes = mp.encode(model.weights[0], "mxfp4", axis=0)[0].reshape(-1)  # C order of (in, out)
    assert len(q.weights_[0]) == -(-codes.size // 2)
    np.testing.assert_array_equal(q.weights_[0][:8], codes[0:16:2] | (codes[1:16:2] << 4))


def test_mxfp4_file_is_about_an_eighth_of_fp32() -> None:
    model = MLP.book(seed=0)
    x = np.zeros((1, 784), np.float32)
    q = quantize(model, x, scheme="mxfp4")
    # per weight: 4 bits + 8 bits per 32 (4.25 bits); 160 float32 biases
    weights = sum(w.size for w in model.weights)
    blocks = sum(-(-w.shape[0] // 32) * w.shape[1] for w in model.weights)
    assert q.nbytes == weights // 2 + blocks + 4 * 160


def test_damaged_block_file(tmp_path: Path) -> None:
    _, q, _ = small("nvfp4")
    path = save(q, tmp_path / "q.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    bad = dict(arrays, qweight_0=arrays["qweight_0"][:-1])
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError, match="'qweight_0' is uint8"):
        load(tmp_path / "bad.npz")
    bad = dict(arrays, weight_tensor_scale_1=np.float32(0))
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError, match="'weight_tensor_scale_1' must hold finite scales"):
        load(tmp_path / "bad.npz")
    del arrays["input_scale_2"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="'input_scale_2' is missing"):
        load(tmp_path / "bad.npz")


def test_onnx_refuses_block_schemes() -> None:
    _, q, _ = small("mxfp4")
    with pytest.raises(ValueError, match=r"block-scaled scheme mxfp4 .*int8-per-channel"):
        to_onnx(q)


@pytest.fixture(scope="module")
def model_file(synthetic: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = MLP((784, 32, 16, 10), seed=0)
    train(model, synthetic, epochs=2, progress=False, eval_split=None)
    return save(
        model, tmp_path_factory.mktemp("cli") / "model.npz", metadata={"normalize": "standard"}
    )


@pytest.mark.parametrize("scheme", ["mxfp4", "nvfp4-weight-only"])
def test_cli_quantize_evaluate_export(
    scheme: str, model_file: Path, synthetic_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:  # fmt: skip
    out = tmp_path / "q.npz"
    argv = ["quantize", str(model_file), "--scheme", scheme, "--calibration", "100",
            "--data-dir", str(synthetic_dir), "--out", str(out), "--evaluate",
            "--json"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["scheme"] == scheme and report["bytes"] < report["float_bytes"] / 6
    assert report["accuracy"] > report["float_accuracy"] - 0.05
    q = load(out)
    assert isinstance(q, QuantizedMLP) and q.nbytes == report["bytes"]
    assert main(["evaluate", str(out), "--data-dir", str(synthetic_dir), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["accuracy"] == report["accuracy"]
    assert main(["export", str(out), "--onnx", str(tmp_path / "q.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"block-scaled scheme {scheme}" in err and "mixprec evaluate" in err
    assert not (tmp_path / "q.onnx").exists()
