"""Downloads against a local HTTP server: checksums, atomic caching, clear failures."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from mixprec.data import (
    DATASETS,
    DataNotFoundError,
    base_url,
    cache_dir,
    download,
    find,
    load,
    make_synthetic,
    verify,
    write_idx,
)
from mixprec.data.catalog import FileInfo
from tests.data.conftest import FileServer


@pytest.fixture
def published(
    isolated: Path, file_server: FileServer, monkeypatch: pytest.MonkeyPatch
) -> dict[str, bytes]:
    """Small MNIST-like files served as ``/mnist/<name>.gz``, with their sums in the catalog."""
    source = make_synthetic(isolated / "published", n_train=40, n_test=10)
    files, specs = {}, []
    for spec in DATASETS["mnist"].files:
        data = (source / spec.gz_name).read_bytes()
        files[spec.gz_name] = data
        file_server.files[f"/mnist/{spec.gz_name}"] = data
        specs.append(
            FileInfo(
                stem=spec.stem,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                raw_sha256="0" * 64,
            )
        )
    fake = dataclasses.replace(
        DATASETS["mnist"], files=tuple(specs), url=file_server.url + "/mnist/"
    )
    monkeypatch.setitem(DATASETS, "mnist", fake)
    return files


def leftovers(isolated: Path) -> list[Path]:
    """Every file under the cache root."""
    root = isolated / "cache"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_download_into_the_cache(
    isolated: Path, published: dict[str, bytes], file_server: FileServer
) -> None:
    target = download("mnist", progress=False)
    assert target == cache_dir("mnist") == find("mnist")
    assert {p.name: p.read_bytes() for p in target.iterdir()} == published
    assert len(load("mnist").train) == 40
    served = len(file_server.requests)
    assert download("mnist") == target  # already there and verified: nothing fetched
    assert len(file_server.requests) == served


def test_load_downloads_when_nothing_is_found(
    published: dict[str, bytes], file_server: FileServer
) -> None:
    data = load("mnist", download=True)
    assert data.source == cache_dir("mnist") and len(data.test) == 10
    assert len(file_server.requests) == 4


def test_url_from_argument_and_env(
    isolated: Path,
    published: dict[str, bytes],
    file_server: FileServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, data in published.items():
        file_server.files[f"/mirror/mnist/{name}"] = data
    monkeypatch.setenv("MIXPREC_DATA_URL", file_server.url + "/mirror/{name}")
    assert base_url("mnist") == file_server.url + "/mirror/mnist/"
    assert base_url("mnist", "http://127.0.0.1:1/x") == "http://127.0.0.1:1/x/"
    download("mnist", isolated / "elsewhere", progress=False)
    assert all(path.startswith("/mirror/mnist/") for path in file_server.requests)
    assert find("mnist", data_dir=isolated / "elsewhere") == isolated / "elsewhere"


def test_bad_checksum_is_rejected_and_nothing_is_cached(
    isolated: Path, published: dict[str, bytes], file_server: FileServer
) -> None:
    corrupt = bytearray(published["t10k-images-idx3-ubyte.gz"])
    corrupt[100] ^= 0x01
    file_server.files["/mnist/t10k-images-idx3-ubyte.gz"] = bytes(corrupt)
    with pytest.raises(ValueError, match="checksum mismatch for http://127.0.0.1:.*t10k-images"):
        download("mnist", progress=False)
    assert leftovers(isolated) == []
    assert not cache_dir("mnist").exists()
    with pytest.raises(ValueError, match="checksum mismatch"):
        load("mnist")
    assert leftovers(isolated) == []


def test_interrupted_download_is_not_cached(
    isolated: Path, published: dict[str, bytes], file_server: FileServer
) -> None:
    file_server.truncated.add("/mnist/train-images-idx3-ubyte.gz")
    with pytest.raises(DataNotFoundError, match="could not download .* interrupted after"):
        download("mnist", progress=False)
    assert leftovers(isolated) == []


def test_files_already_cached_are_kept(
    isolated: Path, published: dict[str, bytes], file_server: FileServer
) -> None:
    target = cache_dir("mnist")
    target.mkdir(parents=True)
    (target / "train-labels-idx1-ubyte.gz").write_bytes(published["train-labels-idx1-ubyte.gz"])
    (target / "t10k-labels-idx1-ubyte.gz").write_bytes(b"stale")
    del file_server.files["/mnist/t10k-images-idx3-ubyte.gz"]
    with pytest.raises(DataNotFoundError, match="HTTP Error 404"):
        download("mnist", progress=False)
    assert sorted(p.name for p in target.iterdir()) == [
        "t10k-labels-idx1-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ]
    file_server.files["/mnist/t10k-images-idx3-ubyte.gz"] = published["t10k-images-idx3-ubyte.gz"]
    file_server.requests.clear()
    download("mnist", progress=False)
    assert "/mnist/train-labels-idx1-ubyte.gz" not in file_server.requests
    assert (target / "t10k-labels-idx1-ubyte.gz").read_bytes() == published[
        "t10k-labels-idx1-ubyte.gz"
    ]


def test_server_without_the_files_says_how_to_get_them(
    isolated: Path, file_server: FileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIXPREC_DATA_URL", file_server.url + "/nothing/")
    with pytest.raises(DataNotFoundError) as error:
        load("fashion-mnist")
    message = str(error.value)
    assert "could not download http://127.0.0.1" in message and "404" in message
    for hint in ("apt-get install -y dataset-fashion-mnist", "--data-dir", "$MIXPREC_DATA"):
        assert hint in message
    assert leftovers(isolated) == []


def test_progress_bar_is_optional(
    published: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
    download("mnist", progress=True)
    assert capsys.readouterr().err == ""


def test_progress_bar_with_tqdm(published: dict[str, bytes], capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("tqdm")
    download("mnist", progress=True)
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err


def test_verify(
    isolated: Path, published: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = download("mnist", progress=False)
    verify("mnist", target)
    (target / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(ValueError, match="not a known release of mnist: .*1 file.*t10k-labels"):
        verify("mnist", target)
    with pytest.raises(DataNotFoundError):
        verify("mnist", isolated / "nowhere")


def test_verify_accepts_recompressed_and_raw_copies(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian's files are the published content compressed again: they pass on raw_sha256."""
    source = make_synthetic(isolated / "copy", n_train=20, n_test=5, compress=False)
    specs = []
    for spec in DATASETS["mnist"].files:
        raw = (source / spec.stem).read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        specs.append(dataclasses.replace(spec, sha256="0" * 64, raw_sha256=digest))
        if spec.stem.startswith("train"):  # half compressed again, half left raw
            (source / spec.gz_name).write_bytes(gzip.compress(raw, compresslevel=1))
            (source / spec.stem).unlink()
    monkeypatch.setitem(
        DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], files=tuple(specs))
    )
    verify("mnist", source)
    images = np.zeros((20, 28, 28), dtype=np.uint8)
    write_idx(source / "train-images-idx3-ubyte.gz", images)
    with pytest.raises(ValueError, match="train-images"):
        verify("mnist", source)
