"""Items 5, 6 and 8 for single commands: one line, exit non-zero, nothing trained in vain."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

import mixprec as mp
import mixprec.cli._checks
import mixprec.cli.train
from mixprec._util.files import atomic_write_text
from mixprec.cli import main
from mixprec.data import Split
from mixprec.experiments import DaskExecutor
from mixprec.experiments.executors import worker_count
from mixprec.nn import MLP, evaluate, predict, save
from mixprec.nn import load as load_model
from tests.reliability.conftest import one_line_error

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def train_args(tiny: Path, out: str) -> list[str]:
    return ["train", "--data-dir", str(tiny), "--epochs", "1", "--sizes", "784,16,10",
            "--out", out, "--no-progress"]  # fmt: skip


def test_train_to_a_read_only_place_trains_nothing(
    tiny: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise PermissionError(errno.EACCES, "Permission denied", "/readonly/.m.npz.x")

    def must_not_train(*args: object, **kwargs: object) -> object:
        pytest.fail("trained although the model could not be saved")

    monkeypatch.setattr(mixprec.cli._checks.tempfile, "mkstemp", refuse)
    monkeypatch.setattr(mixprec.cli.train, "train", must_not_train)
    assert main(train_args(tiny, "/readonly/m.npz")) == 1
    line = one_line_error(capsys.readouterr().err)
    assert "cannot write /readonly/m.npz: Permission denied" in line
    assert "Checked before training: nothing was done" in line


def test_a_model_whose_save_fails_is_kept(
    tiny: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    real_save = mixprec.cli.train.save

    def save(model: object, path: Path, **kwargs: object) -> object:
        if Path(path).name == "m.npz":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_save(model, path, **kwargs)

    monkeypatch.setattr(mixprec.cli.train, "save", save)
    assert main(train_args(tiny, "m.npz")) == 1
    line = one_line_error(capsys.readouterr().err)
    kept = list((isolated / "cache" / "mixprec" / "unsaved").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("m-") and str(kept[0]) in line
    assert "m.npz: No space left on device" in line and f"mv {kept[0]} m.npz" in line
    assert load_model(kept[0]).sizes == (784, 16, 10)


@pytest.mark.parametrize(
    "argv",
    [["export", "m.npz", "--onnx", "m.onnx", "--check", "-1"], ["sweep", "--jobs", "0"],
     ["evaluate", "m.npz", "--batch-size", "0"]],
    ids=["export-check-negative", "sweep-jobs-0", "evaluate-batch-0"],
)  # fmt: skip
def test_counts_below_their_minimum_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert "is below" in capsys.readouterr().err


def test_train_for_zero_epochs_is_refused(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = train_args(tiny, "m.npz")
    args[args.index("--epochs") + 1] = "0"
    assert main(args) == 2
    assert "would save an untrained model" in one_line_error(capsys.readouterr().err)
    assert not Path("m.npz").exists()


def test_not_a_model_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.npz"
    path.write_text("these are not weights\n")
    assert main(["evaluate", str(path)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "not an .npz (zip) archive" in line and "allow_pickle" not in line


def test_unreachable_dask_scheduler_is_one_line() -> None:
    pytest.importorskip("distributed")
    with pytest.raises(ConnectionError, match="could not reach the Dask scheduler at tcp://"):
        DaskExecutor("tcp://127.0.0.1:9", timeout=0.5)


def test_jobs_are_capped_at_cores_and_memory() -> None:
    count, note = worker_count(1000, cores=2, memory=64 * 2**30)
    assert count == 2 and note is not None and "2 cores" in note
    count, note = worker_count(8, cores=8, memory=2**30)  # 1 GiB: two workers fit
    assert count == 2 and note is not None and "memory" in note
    assert worker_count(None, cores=2, memory=64 * 2**30) == (2, None)
    assert worker_count(1, cores=2, memory=None) == (1, None)


def test_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        save(MLP([4, 3]), tmp_path / "m.npz")
    finally:
        os.umask(old)
    for name in ("a.txt", "m.npz"):  # mkstemp alone makes them 0600
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name


def test_masked_arrays_are_refused_not_unmasked() -> None:
    images = np.ma.masked_array(np.zeros((2, 784)), mask=np.zeros((2, 784), bool))
    with pytest.raises(TypeError, match=r"masked array.*images.filled\(0\)"):
        Split(images, np.zeros(2))
    with pytest.raises(TypeError, match="masked array"):
        predict(MLP([784, 10]), images)


def test_flat_images_of_another_size_are_not_told_to_flatten() -> None:
    model = MLP([784, 10])
    split = Split(np.zeros((3, 28 * 29), np.float32), np.zeros(3))  # as read from IDX files
    with pytest.raises(ValueError, match="they are flat, with 812 values per image") as error:
        evaluate(model, split)
    assert "reshape" not in str(error.value)
    with pytest.raises(ValueError, match=r"flatten them with images.reshape"):
        predict(model, np.zeros((3, 28, 28), np.float32))


def test_the_testing_example_installs_with_all() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    needed = {"pytest", "hypothesis"}  # the README's mixprec.testing example imports both
    for extra in ("all", "testing"):
        assert needed <= {requirement.split(">")[0] for requirement in extras[extra]}, extra


def test_masked_arrays_are_refused_by_formats_and_mac() -> None:
    x = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    for call in (
        lambda: mp.quantize(x, "bf16"),
        lambda: mp.encode(x, "fp8_e4m3"),
        lambda: mp.quantize(x, "int8"),
        lambda: mp.MAC.parse("int8->int32").matmul(x.reshape(1, 2), np.ones((2, 1))),
        lambda: mp.MAC.parse("fp16->fp32").matmul(np.ones((1, 2)), x.reshape(2, 1)),
    ):
        with pytest.raises(TypeError, match="masked array"):
            call()
