"""The shared worker pool and per-thread scratch buffers."""

from __future__ import annotations

import threading

import pytest

from mixprec._util.threads import run_parallel, scratch, threads


def test_threads_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIXPREC_THREADS", "3")
    assert threads() == 3
    monkeypatch.setenv("MIXPREC_THREADS", "0")
    assert threads() == 1
    monkeypatch.setenv("MIXPREC_THREADS", "many")
    with pytest.raises(ValueError, match="MIXPREC_THREADS must be a positive integer"):
        threads()


def test_run_parallel_keeps_order_and_nests_without_deadlock() -> None:
    def inner(i: int) -> list[int]:
        # From a pool thread the nested call runs serially instead of waiting on the pool.
        return run_parallel([lambda j=j: i * 10 + j for j in range(3)], workers=2)

    results = run_parallel([lambda i=i: inner(i) for i in range(4)], workers=2)
    assert results == [[0, 1, 2], [10, 11, 12], [20, 21, 22], [30, 31, 32]]


def test_run_parallel_raises_a_task_error() -> None:
    def fail() -> int:
        raise KeyError("task")

    with pytest.raises(KeyError, match="task"):
        run_parallel([lambda: 1, fail], workers=2)


def test_scratch_is_per_thread_and_kept() -> None:
    first = scratch("tests.threads", list)
    assert scratch("tests.threads", list) is first
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(scratch("tests.threads", list)))
    thread.start()
    thread.join()
    assert other[0] is not first
