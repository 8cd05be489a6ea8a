"""Model files: round trip bit for bit, metadata, and clear errors for bad files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mixprec.nn import FORMAT_VERSION, MLP, Policy, load, read_metadata, save
from mixprec.train import History


def assert_same(a: MLP, b: MLP) -> None:
    assert a.sizes == b.sizes and a.output_bias == b.output_bias
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert p.dtype == q.dtype == np.float32
        assert np.array_equal(p.view(np.uint32), q.view(np.uint32))  # bit for bit, -0 and NaN


@pytest.mark.parametrize("output_bias", [False, True], ids=["book", "output-bias"])
def test_round_trip_is_bit_for_bit(tmp_path: Path, output_bias: bool) -> None:
    model = MLP((784, 128, 32, 10), output_bias=output_bias, seed=4)
    model.weights[0][0, :3] = [-0.0, np.nan, 1e-45]
    history = History(policy="bf16", loss=[1.5, 0.5], accuracy=[0.8, 0.9])
    path = save(model, tmp_path / "model.npz", policy="bf16", history=history, metadata={"a": 1})
    loaded = load(path)
    assert_same(model, loaded)
    meta = loaded.metadata
    assert meta["policy"] == "bf16" and meta["a"] == 1 and meta["history"]["loss"] == [1.5, 0.5]
    assert Policy(**meta["policy_fields"]) == Policy.preset("bf16")
    assert read_metadata(path) == meta
    with np.load(path, allow_pickle=False) as npz:  # plain arrays only
        assert int(npz["format_version"]) == FORMAT_VERSION and str(npz["kind"]) == "mlp"
        assert json.loads(str(npz["metadata"][0]))["policy"] == "bf16"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no temporary left


def test_save_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    save(MLP.book(seed=0), path)
    save(MLP.book(seed=1), path)
    assert_same(load(path), MLP.book(seed=1))
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_truncated_and_corrupt_files_are_rejected(tmp_path: Path) -> None:
    path = save(MLP.book(), tmp_path / "m.npz")
    data = path.read_bytes()
    for name, content in [
        ("truncated.npz", data[: len(data) // 2]),
        ("empty.npz", b""),
        ("garbage.npz", b"not a zip file at all" * 10),
    ]:
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(ValueError, match="not a readable mixprec model file"):
            load(bad)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


def rewrite(path: Path, out: Path, **changes: object) -> Path:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = np.asarray(value)
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(weight_1=np.zeros((128, 31), np.float32)), r"'weight_1' is float32 \(128, 31\)"),
        (dict(weight_0=np.zeros((784, 128))), r"'weight_0' is float64"),
        (dict(bias_0=None), "'bias_0' is missing"),
        (dict(bias_2=np.zeros(10, np.float32)), "unexpected 'bias_2'"),
        (dict(sizes=[784]), "'sizes' must be >= 2 positive integers"),
        (dict(format_version=99), "version 99.*Upgrade mixprec"),
        (dict(kind="transformer"), "unknown model kind 'transformer'"),
        (dict(metadata=["{not json"]), "'metadata' is not a JSON string"),
        (dict(kind=None), "the field 'kind' is missing"),
    ],
)
def test_mismatched_files_are_rejected(tmp_path: Path, changes: dict, message: str) -> None:
    path = save(MLP.book(), tmp_path / "m.npz")
    with pytest.raises(ValueError, match=message):
        load(rewrite(path, tmp_path / "bad.npz", **changes))


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    path = save(MLP.book(), tmp_path / "m.npz")
    bad = rewrite(path, tmp_path / "bad.npz", metadata=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a readable mixprec model file"):
        load(bad)
    assert zipfile.is_zipfile(bad)


def test_unknown_objects_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot save a dict; known kinds: mlp"):
        save({}, tmp_path / "x.npz")
