"""The ``mixprec data`` command, run through its module's parser and ``run``."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
from pathlib import Path

import pytest

from mixprec.cli import data as command
from mixprec.data import DATASETS, make_synthetic
from tests.data.conftest import FileServer


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mixprec data")
    command.add_arguments(parser)
    return command.run(parser.parse_args(list(argv)))


def test_reports_not_found_with_how_to_get(isolated: Path, capsys: pytest.CaptureFixture) -> None:
    assert run() == 0
    out = capsys.readouterr().out
    assert "mnist not found" in out and "mixprec data --download mnist" in out
    assert "apt-get install -y dataset-fashion-mnist" in out


def test_reports_where_data_was_found(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    make_synthetic(isolated / "env" / "mnist", n_train=10, n_test=5)
    make_synthetic(isolated / "debian" / "fashion-mnist", n_train=10, n_test=5, compress=False)
    monkeypatch.setenv("MIXPREC_DATA", str(isolated / "env"))
    assert run() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("mnist") and "(from $MIXPREC_DATA, gzip)" in lines[0]
    assert "(from Debian package dataset-fashion-mnist, raw)" in lines[1]
    assert run("--data-dir", str(isolated / "env")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"{isolated / 'env' / 'mnist'}  (from data_dir" in lines[0]
    assert "fashion-mnist not found" in lines[1]


def test_verify_flags_data_that_is_not_the_published(
    isolated: Path, capsys: pytest.CaptureFixture
) -> None:
    make_synthetic(isolated / "data", n_train=10, n_test=5)
    assert run("--data-dir", str(isolated / "data"), "--verify") == 1
    out = capsys.readouterr().out
    assert out.count("not a known release of ") == 2 and "of 4 file(s)" in out
    assert "Delete" not in out and "used as mnist all the same" in out


def test_download_into_data_dir(
    isolated: Path,
    file_server: FileServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    source = make_synthetic(isolated / "published", n_train=10, n_test=5)
    specs = []
    for spec in DATASETS["fashion-mnist"].files:
        body = (source / spec.gz_name).read_bytes()
        file_server.files[f"/fashion-mnist/{spec.gz_name}"] = body
        specs.append(dataclasses.replace(spec, sha256=hashlib.sha256(body).hexdigest()))
    fake = dataclasses.replace(DATASETS["fashion-mnist"], files=tuple(specs))
    monkeypatch.setitem(DATASETS, "fashion-mnist", fake)
    target = isolated / "mine"
    url = file_server.url + "/{name}/"
    argv = ("--data-dir", str(target), "--download", "fashion_mnist", "--url", url)
    assert run(*argv, "--no-progress", "--verify") == 0
    out = capsys.readouterr().out
    assert f"downloaded fashion-mnist into {target / 'fashion-mnist'}" in out
    assert "verified: the published fashion-mnist data (published gzip)" in out
    assert sorted(p.name for p in (target / "fashion-mnist").iterdir()) == sorted(
        spec.gz_name for spec in specs
    )


def test_unknown_dataset_to_download(isolated: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'emnist'"):
        run("--download", "emnist")
