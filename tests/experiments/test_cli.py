"""``mixprec sweep`` end to end on a tiny synthetic IDX dataset, with the real training."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from mixprec.cli import main
from mixprec.experiments import ResultStore, load_experiment

GRID = ["--train", "fp32,bf16", "--serve", "fp32,fp8_e4m3,int8,int8->int16:wrap", "--seeds", "2"]


def sweep_args(data: Path, out: Path, *more: str) -> list[str]:
    return ["sweep", "--data-dir", str(data), *GRID, "--epochs", "2", "--out", str(out),
            "--jobs", "1", "--no-progress", *more]  # fmt: skip


def test_end_to_end_and_resume(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(sweep_args(tiny_data, out)) == 0
    printed = capsys.readouterr().out
    assert "| train | serve | seeds | accuracy % |" in printed
    assert "| fp32 | int8->int16:wrap | 2 |" in printed and "16 runs done, 0 already" in printed
    assert "sgd lr 0.05 (cosine schedule) momentum 0.9" in printed
    records = ResultStore(out).read()
    assert len(records) == 16 and len({r["key"] for r in records}) == 16
    record = next(r for r in records if (r["train"], r["serve"]) == ("fp32", "int8->int16:wrap"))
    assert record["events"]["wraps"] > 0 and record["serve_kind"] == "mac"
    assert record["n_test"] == 100 and set(record["versions"]) == {
        "mixprec", "numpy", "ml_dtypes", "python"
    }  # fmt: skip
    assert record["training"]["epochs"] == 2 and record["train_policy"] == "fp32"
    baseline = next(r for r in records if r["serve"] == "fp32" and r["train"] == "fp32")
    assert baseline["agreement"] == 1.0 and baseline["logit_rel_error"] == 0.0
    assert baseline["accuracy"] > 0.8  # the synthetic data is easy
    for name in ("report.md", "report.csv", "accuracy.png", "sweep.json"):
        assert (out / name).is_file()
    with open(out / "report.csv", newline="") as file:
        assert len(list(csv.DictReader(file))) == 8
    assert json.loads((out / "sweep.json").read_text())["dataset"] == "fashion-mnist"

    assert main(sweep_args(tiny_data, out)) == 0  # resume: nothing left to do
    assert "0 runs done, 16 already stored" in capsys.readouterr().out
    assert main(["sweep", *sweep_args(tiny_data, out)[1:], "--report"]) == 0
    assert "| bf16 | int8 | 2 |" in capsys.readouterr().out
    assert len(list((out / "models").glob("*.npz"))) == 4  # one per trained model


def test_growing_a_sweep_reuses_the_trained_models(tiny_data: Path, tmp_path: Path) -> None:
    assert main(sweep_args(tiny_data, tmp_path / "grown")) == 0
    args = sweep_args(tiny_data, tmp_path / "grown")
    args[args.index("--serve") + 1] += ",bf16"
    assert main(args) == 0
    records = ResultStore(tmp_path / "grown").read()
    added = [r for r in records if r["serve"] == "bf16"]
    assert len(added) == 4 and all(r["model_reused"] for r in added)
    first = {(r["train"], r["seed"]): r["training"] for r in records if r["serve"] == "fp32"}
    assert all(r["training"] == first[r["train"], r["seed"]] for r in added)
    # the same as training from scratch
    args[args.index("--serve") + 1] = "bf16"
    args[args.index("--out") + 1] = str(tmp_path / "fresh")
    assert main(args) == 0
    fresh = ResultStore(tmp_path / "fresh").read()
    assert not any(r["model_reused"] for r in fresh)
    varying = {"host", "finished", "train_time_s", "serve_time_s", "model_reused", "training"}
    same = lambda rs: sorted(  # noqa: E731
        ({k: v for k, v in r.items() if k not in varying} for r in rs), key=lambda r: r["key"]
    )
    assert same(added) == same(fresh)


def test_dry_run_and_list(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(sweep_args(tiny_data, tmp_path / "out", "--dry-run")) == 0
    printed = capsys.readouterr().out
    assert "16 runs in" in printed and "4 models to train" in printed
    assert not (tmp_path / "out").exists()
    assert main(["sweep", "--list"]) == 0
    printed = capsys.readouterr().out
    assert "book" in printed and "accumulators" in printed


def test_bad_names_fail_before_training(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = sweep_args(tiny_data, tmp_path / "out")
    args[args.index("--serve") + 1] = "fp32,fp8_e4m4,int8->int16:wrapp"
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "fp8_e4m4" in error and "int8->int16:wrapp" in error and "preset" in error
    assert not (tmp_path / "out").exists()


def test_quick_uses_its_own_directory(tmp_path: Path) -> None:
    import argparse

    from mixprec.cli.sweep import add_arguments, build_sweep

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    quick = build_sweep(parser.parse_args(["--quick"]))
    book = load_experiment("book")
    assert quick.name == "book-quick" and quick.training.epochs == 1 and quick.seeds == (0,)
    assert quick.train == book.train and quick.serve == book.serve
    assert quick.test_limit == 2000
    assert build_sweep(parser.parse_args(["--quick", "--epochs", "2"])).training.epochs == 2
    assert build_sweep(parser.parse_args(["--seeds", "0,4"])).seeds == (0, 4)
    assert (
        (quick.training.lr, quick.training.schedule)
        == (book.training.lr, book.training.schedule)
        == (0.05, "cosine")
    )
    changed = build_sweep(parser.parse_args(["--schedule", "constant", "--lr", "0.02"]))
    assert (changed.training.lr, changed.training.schedule) == (0.02, "constant")
    with pytest.raises(SystemExit):
        parser.parse_args(["--schedule", "step"])
    with pytest.raises(ValueError, match="--seeds"):
        build_sweep(parser.parse_args(["--seeds", "x"]))


def test_no_data_says_how_to_get_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # no Fashion-MNIST, no MNIST, no apt-get, and the download fails: the message names the ways
    assert main(["sweep", "--out", str(tmp_path / "out"), "--no-progress", "--jobs", "1"]) == 2
    error = capsys.readouterr().err
    assert "no data for this sweep" in error and "MIXPREC_NO_INSTALL is set" in error
    assert "apt-get install -y dataset-fashion-mnist" in error
    assert "mixprec data --download mnist" in error
    assert not (tmp_path / "out").exists()  # a run that cannot start writes nothing


def test_auto_falls_back_to_mnist(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    shutil.copytree(tiny_data, tmp_path / "data" / "mnist")
    monkeypatch.setenv("MIXPREC_DATA", str(tmp_path / "data"))
    args = ["sweep", "--train", "fp32", "--serve", "fp32", "--epochs", "1", "--dry-run",
            "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    assert ": mnist," in capsys.readouterr().out


def test_a_damaged_model_file_is_trained_again(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = sweep_args(tiny_data, out)
    args[args.index("--seeds") + 1] = "1"
    assert main(args) == 0
    damaged = sorted((out / "models").glob("bf16-*.npz"))[0]
    damaged.write_bytes(b"not a model")
    args[args.index("--serve") + 1] += ",bf16"
    assert main(args) == 0
    assert f"{damaged}: not used" in capsys.readouterr().err
    added = {r["train"]: r for r in ResultStore(out).read() if r["serve"] == "bf16"}
    assert not added["bf16"]["model_reused"] and added["fp32"]["model_reused"]
    assert damaged.read_bytes()[:2] == b"PK"  # saved again: an .npz is a zip file
