"""Items 2 and 5 (IDX): datasets recognised by content; an unreadable file is one line."""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
from pathlib import Path

import pytest

from mixprec.cli import main
from mixprec.data import DATASETS, identify, load, make_synthetic, verify
from tests.reliability.conftest import one_line_error

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def as_fashion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Synthetic files whose SHA-256 the catalog knows as Fashion-MNIST's (as Debian's copy)."""
    directory = make_synthetic(tmp_path / "fashion", n_train=30, n_test=10)
    specs = []
    for spec in DATASETS["fashion-mnist"].files:
        digest = hashlib.sha256((directory / spec.gz_name).read_bytes()).hexdigest()
        specs.append(dataclasses.replace(spec, repack_sha256=(digest,)))
    fake = dataclasses.replace(DATASETS["fashion-mnist"], files=tuple(specs))
    monkeypatch.setitem(DATASETS, "fashion-mnist", fake)
    return directory


def test_fashion_mnist_is_refused_as_mnist(
    as_fashion: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="is the fashion-mnist file .* not mnist") as error:
        load("mnist", data_dir=as_fashion)
    assert "\n" not in str(error.value) and "--dataset fashion-mnist" in str(error.value)
    monkeypatch.setenv("MIXPREC_DATA", str(as_fashion))  # the same through $MIXPREC_DATA
    with pytest.raises(ValueError, match="is the fashion-mnist file"):
        load("mnist")
    assert len(load("fashion-mnist", data_dir=as_fashion).train) == 30


def test_swapped_files_are_refused(as_fashion: Path) -> None:
    train = as_fashion / "train-labels-idx1-ubyte.gz"
    test = as_fashion / "t10k-labels-idx1-ubyte.gz"
    train_bytes = train.read_bytes()
    train.write_bytes(test.read_bytes())
    test.write_bytes(train_bytes)
    with pytest.raises(ValueError, match="in each other's places"):
        load("fashion-mnist", data_dir=as_fashion)


def test_verify_says_what_the_files_are(
    as_fashion: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "the published fashion-mnist data" in verify("fashion-mnist", as_fashion)
    assert main(["data", "--data-dir", str(as_fashion), "--verify"]) == 1  # the mnist line
    out = capsys.readouterr().out
    assert "is the fashion-mnist file" in out and "verified: the published fashion-mnist" in out
    assert "Delete" not in out
    own = make_synthetic(tmp_path / "own", n_train=10, n_test=5)  # files of one's own
    with pytest.raises(ValueError, match="not a known release of mnist") as error:
        verify("mnist", own)
    assert "Delete" not in str(error.value) and "used as mnist all the same" in str(error.value)
    assert len(load("mnist", data_dir=own).train) == 10  # and they load under the name given


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_the_real_debian_files_are_fashion_mnist() -> None:
    found = identify(DEBIAN / "train-labels-idx1-ubyte.gz")
    assert found is not None and (found.dataset, found.stem) == (
        "fashion-mnist",
        "train-labels-idx1-ubyte",
    )
    with pytest.raises(ValueError, match="is the fashion-mnist file"):
        load("mnist", data_dir=DEBIAN)


def test_unreadable_idx_file_is_one_line(
    tiny: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tiny / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    real_open = builtins.open

    def guarded_open(file: object, *args: object, **kwargs: object) -> object:
        if str(file) == str(victim.resolve()) or str(file) == str(victim):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    from mixprec.data import checksums

    checksums._sum.cache_clear()
    monkeypatch.setattr(builtins, "open", guarded_open)
    args = ["train", "--data-dir", str(tiny), "--epochs", "1", "--out", "m.npz", "--no-progress"]
    assert main(args) == 1
    line = one_line_error(capsys.readouterr().err)
    assert str(victim) in line and "Permission denied" in line and "permissions" in line
    assert not Path("m.npz").exists()
