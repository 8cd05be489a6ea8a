"""A sweep stopped in the middle (kill -9, or Ctrl-C: SIGINT to its process group) resumes with
nothing lost and nothing repeated, and leaves no worker process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mixprec.experiments import LocalExecutor, ResultStore, Sweep, run_sweep
from tests.experiments.fakes import fake_cell

ROOT = Path(__file__).resolve().parents[2]
SWEEP = dict(
    name="killed", dataset="fashion-mnist", train=["fp32", "bf16", "fp16", "fp8"],
    serve=["fp32", "bf16", "bad8"], seeds=6,
)  # fmt: skip
SCRIPT = """
import sys
from mixprec.experiments import LocalExecutor, Sweep, run_sweep
from tests.experiments.fakes import fake_cell
try:
    run_sweep(Sweep.from_dict({sweep!r}), sys.argv[1], LocalExecutor({jobs}), progress=False,
              cell_fn=fake_cell, check_names=False)
except KeyboardInterrupt:
    sys.exit(130)
"""


def lines(path: Path) -> list[bytes]:
    try:
        return path.read_bytes().splitlines(keepends=True)
    except FileNotFoundError:
        return []


def wait_for(condition: object, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a shell's background job would ignore it


@pytest.mark.parametrize(
    ("jobs", "stop"),
    [(1, signal.SIGKILL), (2, signal.SIGKILL), (2, signal.SIGINT)],
    ids=["kill-9-1-worker", "kill-9-2-workers", "ctrl-c-2-workers"],
)
def test_resume_after_stop(tmp_path: Path, jobs: int, stop: signal.Signals) -> None:
    out = tmp_path / "out"
    store = out / "results.jsonl"
    env = dict(os.environ, MIXPREC_FAKE_SLEEP="0.15", PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(sweep=SWEEP, jobs=jobs), str(out)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=default_sigint,
    )  # fmt: skip
    try:
        wait_for(lambda: len(lines(store)) >= 6 or process.poll() is not None, "results")
        if stop == signal.SIGINT:  # what Ctrl-C does: the whole foreground process group
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(stop)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    expected = 130 if stop == signal.SIGINT else -stop
    assert process.returncode == expected, "the sweep finished before it was stopped"
    assert not (out / "errors.log").exists()  # an interruption is not a failure
    before = lines(store)
    grid = Sweep.from_dict(SWEEP).grid()
    assert 0 < len(before) < len(grid)
    # the orphaned worker processes notice and exit
    workers = {int(r["host"].split()[1]) for r in ResultStore(out).read()}
    assert process.pid not in workers
    wait_for(lambda: not any(alive(pid) for pid in workers), "orphaned workers to exit")

    result = run_sweep(
        Sweep.from_dict(SWEEP), out, LocalExecutor(in_process=True), progress=False,
        cell_fn=fake_cell, check_names=False, echo=lambda text: None,
    )  # fmt: skip
    after = lines(store)
    assert result.complete and result.skipped + result.ran == len(grid)
    assert after[: len(before)] == before  # nothing lost, nothing rewritten
    keys = [r["key"] for r in ResultStore(out).read()]
    assert len(keys) == len(set(keys)) == len(grid)  # nothing repeated
