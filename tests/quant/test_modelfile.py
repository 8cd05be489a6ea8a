"""Quantized model files: round trips bit for bit, no pickle, atomic saves, bad files rejected."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mixprec.nn import read_metadata
from mixprec.nn.model import MLP
from mixprec.quant import SCHEMES, QuantizedMLP, load, quantize, save
from mixprec.quant.observers import NotCalibratedError


def small(scheme: str, output_bias: bool = False) -> tuple[QuantizedMLP, np.ndarray]:
    rng = np.random.default_rng(0)
    model = MLP((20, 9, 6, 4), output_bias=output_bias, seed=1)
    x = (rng.standard_normal((40, 20)) + 0.3).astype(np.float32)
    q = quantize(model, x, scheme=scheme, observer="percentile")
    q.metadata["normalize"] = "standard"
    return q, x


def rewrite(source: Path, target: Path, **changes: Any) -> Path:
    """Copy an .npz with some arrays replaced (``None`` deletes one)."""
    with np.load(source, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    np.savez(target, **arrays)
    return target


@pytest.mark.parametrize("output_bias", [False, True], ids=["book", "output-bias"])
@pytest.mark.parametrize(
    "scheme",
    [
        *(n for n, s in SCHEMES.items() if not s.is_block),  # blocks: test_block_files.py
        "int3-weight-only:group=8", "int2-weight-only:group=3",
    ],
)  # fmt: skip
def test_round_trip_bit_for_bit(scheme: str, output_bias: bool, tmp_path: Path) -> None:
    q, x = small(scheme, output_bias)
    path = save(q, tmp_path / "q.npz", metadata=q.metadata)
    loaded = load(path)
    assert isinstance(loaded, QuantizedMLP)
    assert loaded.scheme == q.scheme and loaded.sizes == q.sizes
    assert loaded.observer == "percentile" and loaded.nbytes == q.nbytes
    for name, array in q.arrays().items():
        np.testing.assert_array_equal(loaded.arrays()[name], array)
        assert loaded.arrays()[name].dtype == array.dtype
    for w, v in zip(loaded.weights_, q.weights_, strict=True):
        assert w.dtype == v.dtype  # fp8 weights come back as ml_dtypes arrays
    np.testing.assert_array_equal(loaded.predict(x), q.predict(x))
    np.testing.assert_array_equal(
        loaded.predict(x, path="fake_quant"), q.predict(x, path="fake_quant")
    )
    assert loaded.metadata["scheme"] == scheme and loaded.metadata["normalize"] == "standard"
    assert read_metadata(path)["calibration_images"] == 40


def test_file_is_plain_arrays(tmp_path: Path) -> None:
    q, _ = small("int8-per-channel-asym")
    path = save(q, tmp_path / "q.npz")
    with np.load(path, allow_pickle=False) as npz:
        assert str(npz["kind"]) == "quantized-mlp" and int(npz["quantized_version"]) == 1
        assert str(npz["scheme"]) == "int8-per-channel-asym"
        assert all(npz[name].dtype != object for name in npz.files)
        assert npz["qweight_0"].dtype == np.int8 and npz["qbias_0"].dtype == np.int32


def test_uncalibrated_model_is_not_saved(tmp_path: Path) -> None:
    with pytest.raises(NotCalibratedError, match="calibrate"):
        save(QuantizedMLP("int8-per-tensor"), tmp_path / "q.npz")
    assert not list(tmp_path.iterdir())


def test_interrupted_save_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    q, x = small("int8-per-tensor")
    path = save(q, tmp_path / "q.npz")
    before = path.read_bytes()

    def crash(stream: Any, **arrays: Any) -> None:
        stream.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    other, _ = small("fp8_e4m3")
    with pytest.raises(KeyboardInterrupt):
        save(other, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["q.npz"]  # no temporary file left
    np.testing.assert_array_equal(load(path).predict(x), q.predict(x))


def test_truncated_and_garbage_files(tmp_path: Path) -> None:
    q, _ = small("int8-per-channel")
    data = save(q, tmp_path / "q.npz").read_bytes()
    for name, content in (("truncated", data[: len(data) // 2]), ("garbage", b"\x00" * 100)):
        path = tmp_path / f"{name}.npz"
        path.write_bytes(content)
        with pytest.raises(ValueError, match="truncated or damaged"):
            load(path)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


def test_corrupted_member_is_rejected(tmp_path: Path) -> None:
    q, _ = small("int8-per-tensor")
    path = save(q, tmp_path / "q.npz")
    damaged = tmp_path / "damaged.npz"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "qweight_1.npy":
                content = content[:-50]  # a short array body
            target.writestr(info, content)
    with pytest.raises(ValueError, match=str(damaged)):
        load(damaged)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"qweight_1": np.zeros((9, 5), np.int8)},
            r"'qweight_1' is int8 \(9, 5\), expected int8 \(9, 6\)",
        ),
        ({"qweight_0": np.zeros((20, 9), np.float32)}, "'qweight_0' is float32"),
        ({"weight_scale_2": np.ones(3, np.float32)}, "'weight_scale_2'"),
        ({"qbias_0": np.zeros(9, np.float32)}, "'qbias_0' is float32"),
        ({"input_scale_1": np.array(-1.0, np.float32)}, "finite scales > 0"),
        ({"input_scale_1": np.array(np.nan, np.float32)}, "finite scales > 0"),
        ({"qweight_2": None}, "'qweight_2' is missing"),
        ({"input_zero_point_0": None}, "'input_zero_point_0' is missing"),
        ({"qbias_2": np.zeros(4, np.int32)}, "unexpected 'qbias_2'"),
        ({"scheme": np.array("int3")}, "unknown quantization scheme 'int3'"),
        ({"scheme": np.array("fp8_e4m3-per-channel")}, "'qweight_0' is int8"),
        ({"sizes": np.array([20, 9, 6, 4, 2])}, "'qbias_2' is missing"),
        ({"sizes": np.array([20.0, 9, 6, 4])}, "'sizes' must be"),
        ({"quantized_version": np.array(2)}, "layout version 2.*Upgrade mixprec"),
        ({"observer": np.array("kl")}, "unknown observer 'kl'"),
        ({"output_bias": np.array(1)}, "'output_bias' must be a boolean"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " not in v else None,
)
def test_mismatched_files_are_rejected(
    changes: dict[str, Any], message: str, tmp_path: Path
) -> None:
    q, _ = small("int8-per-tensor")
    path = save(q, tmp_path / "q.npz")
    bad = rewrite(path, tmp_path / "bad.npz", **changes)
    with pytest.raises(ValueError, match=message):
        load(bad)


def test_newer_container_version_is_rejected(tmp_path: Path) -> None:
    q, _ = small("int8-per-tensor")
    path = save(q, tmp_path / "q.npz")
    bad = rewrite(path, tmp_path / "bad.npz", format_version=np.array(99))
    with pytest.raises(ValueError, match="version 99"):
        load(bad)
    bad = rewrite(path, tmp_path / "bad2.npz", metadata=np.array(["{not json"]))
    with pytest.raises(ValueError, match="JSON"):
        load(bad)
