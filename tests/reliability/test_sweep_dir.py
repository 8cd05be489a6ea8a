"""Items 1, 5, 6 and 7 for sweeps: a sweep's directory records what it holds, nothing is lost."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pytest

import mixprec.nn
from mixprec.cli import main
from mixprec.experiments import LocalExecutor, ResultStore, Sweep, run_sweep
from tests.experiments.fakes import fake_cell
from tests.reliability.conftest import one_line_error, snapshot

GRID = ["--train", "fp32", "--serve", "fp32,bf16", "--seeds", "1", "--epochs", "1"]


def sweep_args(out: Path, *more: str) -> list[str]:
    return ["sweep", *GRID, "--out", str(out), "--no-progress", "--jobs", "1", *more]


def test_a_run_that_cannot_start_changes_nothing(
    tiny: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Issue 12, item 1: sweep; sweep --dataset mnist (absent); sweep: all 2 results are kept."""
    monkeypatch.setenv("MIXPREC_DATA", str(tiny))
    out = isolated / "out"
    assert main(sweep_args(out)) == 0
    before = snapshot(out)
    assert json.loads((out / "sweep.json").read_text())["dataset"] == "fashion-mnist"
    capsys.readouterr()
    assert main(sweep_args(out, "--dataset", "mnist")) == 2  # no MNIST, no download
    error = capsys.readouterr().err
    assert "mnist could not be downloaded" in error and "Traceback" not in error
    assert snapshot(out) == before  # sweep.json, results, reports: untouched
    assert main(sweep_args(out)) == 0
    assert "0 runs done, 2 already stored, 0 models failed" in capsys.readouterr().out
    assert main(sweep_args(out, "--report")) == 0
    assert "| fp32 | bf16 |" in capsys.readouterr().out


def fake_run(definition: Sweep, out: Path) -> object:
    return run_sweep(
        definition, out, LocalExecutor(in_process=True), progress=False, cell_fn=fake_cell,
        check_names=False, echo=lambda text: None,
    )  # fmt: skip


def test_a_sub_grid_reports_beside_the_full_one(tmp_path: Path) -> None:
    """Item 7: the README's --train/--serve sub-grid does not rewrite the full report."""
    full = Sweep(name="book", dataset="fashion-mnist", train=["fp32", "bf16"],
                 serve=["fp32", "bf16", "bad8"], seeds=2)  # fmt: skip
    fake_run(full, tmp_path)
    names = ("report.md", "report.csv", "sweep.json")
    own = {name: (tmp_path / name).read_bytes() for name in names}
    sub = full.replace(train=["fp32"], serve=["fp32", "bad8"])
    result = fake_run(sub, tmp_path)
    assert result.ran == 0 and result.complete  # every run was stored already
    assert {name: (tmp_path / name).read_bytes() for name in own} == own
    guest = result.reports.markdown_path
    assert guest.parent == tmp_path and guest.name.startswith("report-") and guest.is_file()
    assert guest.with_suffix(".csv").is_file()
    assert (tmp_path / f"sweep{guest.stem[len('report') :]}.json").is_file()
    assert "beside the directory's report.md" in guest.read_text()
    bigger = full.replace(serve=["fp32", "bf16", "bad8", "bad4"])  # extended: takes it over
    assert fake_run(bigger, tmp_path).reports.markdown_path == tmp_path / "report.md"
    assert json.loads((tmp_path / "sweep.json").read_text())["serve"][-1] == "bad4"


def test_an_unreadable_sweep_json_is_never_written_over(tmp_path: Path) -> None:
    full = Sweep(name="s", dataset="fashion-mnist", train=["fp32"], serve=["fp32", "bad8"])
    fake_run(full, tmp_path)
    (tmp_path / "sweep.json").write_text("{damaged")
    sub = full.replace(serve=["fp32"])  # a sub-grid: it does not hold every stored record
    assert fake_run(sub, tmp_path).reports.markdown_path.name.startswith("report-")
    assert (tmp_path / "sweep.json").read_text() == "{damaged"
    assert fake_run(full, tmp_path).reports.markdown_path.name == "report.md"  # holds them all
    assert json.loads((tmp_path / "sweep.json").read_text())["serve"] == ["fp32", "bad8"]


def test_full_disk_is_one_line_and_resumes(
    tiny: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Item 5: ENOSPC while storing results: one line, exit 1; the same command then resumes."""
    monkeypatch.setenv("MIXPREC_DATA", str(tiny))
    out = isolated / "out"
    real_append = ResultStore.append
    calls = []

    def append(self: ResultStore, record: dict) -> None:
        calls.append(record["key"])
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        real_append(self, record)

    monkeypatch.setattr(ResultStore, "append", append)
    assert main(sweep_args(out)) == 1
    line = one_line_error(capsys.readouterr().err)
    assert f"{out / 'results.jsonl'}: No space left on device; free some space" in line
    monkeypatch.setattr(ResultStore, "append", real_append)
    assert main(sweep_args(out)) == 0
    assert "1 runs done, 1 already stored" in capsys.readouterr().out


def test_read_only_out_is_one_line(
    tiny: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Item 5: a read-only --out (simulated: the tests run as root)."""
    monkeypatch.setenv("MIXPREC_DATA", str(tiny))
    out = isolated / "readonly"

    def refuse(self: ResultStore) -> list:
        raise PermissionError(errno.EACCES, "Permission denied", str(self.directory))

    monkeypatch.setattr(ResultStore, "open", refuse)
    assert main(sweep_args(out)) == 1
    line = one_line_error(capsys.readouterr().err)
    assert f"{out}: Permission denied; choose a path you may use" in line


def test_a_model_whose_save_failed_is_rebuilt(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 6: after a failed model save the results are complete; the next run rebuilds it."""
    sweep = Sweep(name="m", dataset="fashion-mnist", data_dir=str(tiny), train=["fp32", "bf16"],
                  serve=["fp32"], seeds=1).replace(epochs=1)  # fmt: skip
    real_save = mixprec.nn.save
    messages: list[str] = []

    def save(model: object, path: Path, **kwargs: object) -> object:
        if "bf16" in Path(path).name:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_save(model, path, **kwargs)

    monkeypatch.setattr(mixprec.nn, "save", save)
    executor = LocalExecutor(in_process=True)
    first = run_sweep(sweep, tmp_path, executor, progress=False, echo=messages.append)
    assert first.complete and len(first.unsaved) == 1 and "bf16" in first.unsaved[0].name
    assert any("could not be saved" in m and "trains it again" in m for m in messages)
    monkeypatch.setattr(mixprec.nn, "save", real_save)
    second = run_sweep(sweep, tmp_path, executor, progress=False, echo=messages.append)
    assert second.ran == 0 and not second.unsaved
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "models").iterdir()) == ["bf16", "fp32"]
    assert any("rebuilding 1 trained model" in m for m in messages)
    shutil.rmtree(tmp_path / "models")  # removed by hand: rebuilt too
    third = run_sweep(sweep, tmp_path, executor, progress=False, echo=messages.append)
    assert third.ran == 0 and len(list((tmp_path / "models").iterdir())) == 2
