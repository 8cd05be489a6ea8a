"""run_sweep with a fake cell function: storing, skipping, resuming, failures, workers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mixprec.experiments import LocalExecutor, ResultStore, Sweep, run_sweep
from tests.experiments.fakes import FAIL_TRAIN, fake_cell


def sweep(**changes: object) -> Sweep:
    values = dict(
        name="fake", dataset="fashion-mnist", train=["fp32", "bf16"],
        serve=["fp32", "bf16", "bad8"], seeds=2,
    )  # fmt: skip
    values.update(changes)
    return Sweep.from_dict(values)


def run(definition: Sweep, out: Path, jobs: int | None = None) -> object:
    """Run with the fake cells: in this process, or in ``jobs`` worker processes."""
    executor = LocalExecutor(in_process=True) if jobs is None else LocalExecutor(jobs)
    return run_sweep(
        definition, out, executor, progress=False, cell_fn=fake_cell, check_names=False,
        echo=lambda text: None,
    )  # fmt: skip


def test_runs_everything_then_nothing(tmp_path: Path) -> None:
    result = run(sweep(), tmp_path)
    assert result.complete and (result.ran, result.skipped) == (12, 0) and not result.failures
    assert len(ResultStore(tmp_path).read()) == 12
    assert json.loads((tmp_path / "sweep.json").read_text())["train"] == ["fp32", "bf16"]
    for name in ("report.md", "report.csv", "accuracy.png"):
        assert (tmp_path / name).stat().st_size > 0
    bad = next(row for row in result.rows if (row.train, row.serve) == ("fp32", "bad8"))
    assert bad.baseline.stars and bad.baseline.delta[0] < -0.05  # about 20 % of the images flipped
    before = (tmp_path / "results.jsonl").read_bytes()
    again = run(sweep(), tmp_path)
    assert (again.ran, again.skipped) == (0, 12) and again.complete
    assert (tmp_path / "results.jsonl").read_bytes() == before


def test_growing_a_sweep_runs_only_the_new_entries(tmp_path: Path) -> None:
    run(sweep(seeds=1), tmp_path)
    grown = run(sweep(seeds=2, serve=["fp32", "bf16", "bad8", "bad9"]), tmp_path)
    assert (grown.ran, grown.skipped) == (16 - 6, 6)
    keys = [r["key"] for r in ResultStore(tmp_path).read()]
    assert len(keys) == len(set(keys)) == 16
    # the report covers the sweep asked for, not everything in the store
    small = run(sweep(seeds=1, serve=["fp32"]), tmp_path)
    assert small.ran == 0 and len(small.records) == 2 and len(small.rows) == 2


def test_failed_cells_are_logged_and_retried(tmp_path: Path) -> None:
    result = run(sweep(train=["fp32", FAIL_TRAIN], seeds=1), tmp_path)
    assert result.ran == 3 and len(result.failures) == 1 and not result.complete
    assert "fails on purpose" in (tmp_path / "errors.log").read_text()
    assert "incomplete" in result.reports.markdown
    again = run(sweep(train=["fp32", FAIL_TRAIN], seeds=1), tmp_path)
    assert again.ran == 0 and len(again.failures) == 1


def test_worker_processes_give_the_same_records(tmp_path: Path) -> None:
    here = run(sweep(), tmp_path / "here")
    two = run(sweep(), tmp_path / "two", jobs=2)
    strip = lambda records: sorted(  # noqa: E731
        ({k: v for k, v in r.items() if k not in ("host", "blas_threads")} for r in records),
        key=lambda r: r["key"],
    )
    assert strip(here.records) == strip(two.records)
    stored = ResultStore(tmp_path / "two").read()
    assert {r["blas_threads"] for r in stored} == {"1"}  # workers run a single-threaded BLAS
    assert f"pid {os.getpid()}" not in {r["host"] for r in stored}


def test_bad_executor_arguments() -> None:
    with pytest.raises(ValueError, match="jobs"):
        LocalExecutor(0)
    with pytest.raises(ValueError, match="blas_threads"):
        LocalExecutor(2, blas_threads=0)
    assert repr(LocalExecutor(3)) == "LocalExecutor(jobs=3)"


def test_longest_cells_start_first(tmp_path: Path) -> None:
    run(sweep(train=["fp32", "fp8", "bf16"], serve=["fp32"], seeds=2), tmp_path)
    order = [(r["train"], r["seed"]) for r in ResultStore(tmp_path).read()]
    assert order == [("fp8", 0), ("fp8", 1), ("bf16", 0), ("bf16", 1), ("fp32", 0), ("fp32", 1)]
