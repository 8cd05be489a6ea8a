"""Worker threads and per-thread scratch buffers: the one home of both for every layer.

numpy releases the GIL inside its loops, so large element-wise work (rounding an array, the K
loop of a MAC over many outputs) runs faster split across threads. :func:`threads` says how
many, :func:`run_parallel` runs tasks on one shared pool (serially when called from one of its
own workers, so nested parallel calls never wait on themselves), and :func:`scratch` keeps
per-thread work buffers between calls: fresh multi-hundred-KiB temporaries cost page faults on
every call once glibc returns freed memory to the system.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

MAX_THREADS = 8
_LOCAL = threading.local()


def threads() -> int:
    """Worker threads for large arrays: ``$MIXPREC_THREADS``, else the usable cores (max 8).

    Raises:
        ValueError: ``$MIXPREC_THREADS`` is set but not an integer.
    """
    configured = os.environ.get("MIXPREC_THREADS", "")
    if configured.strip():
        try:
            return max(1, int(configured))
        except ValueError:
            raise ValueError(
                f"MIXPREC_THREADS must be a positive integer, got {configured!r}; unset it to "
                "use the usable cores"
            ) from None
    return _usable_cores()


@functools.lru_cache(maxsize=1)
def _usable_cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(1, min(MAX_THREADS, cores))


def _mark_worker() -> None:
    _LOCAL.is_worker = True


@functools.lru_cache(maxsize=4)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=workers, thread_name_prefix="mixprec", initializer=_mark_worker
    )


def run_parallel(tasks: Sequence[Callable[[], T]], workers: int) -> list[T]:
    """Run ``tasks`` on ``workers`` pool threads; their results in order.

    Serial when ``workers <= 1`` or when called from a pool thread (a task that itself runs
    tasks would otherwise wait for threads that are all waiting). The first exception of a
    task is raised after all tasks have finished.
    """
    if workers <= 1 or len(tasks) <= 1 or getattr(_LOCAL, "is_worker", False):
        return [task() for task in tasks]
    futures = [_pool(workers).submit(task) for task in tasks]
    return [future.result() for future in futures]


def scratch(key: str, build: Callable[[], T]) -> T:
    """This thread's buffers for ``key``, made by ``build()`` on first use and kept.

    Args:
        key: who owns the buffers (e.g. ``"formats.block"``); one object per key and thread.
        build: makes the object (a list of arrays, a dict of buffers by shape ...).
    """
    buffers: dict[str, object] | None = getattr(_LOCAL, "buffers", None)
    if buffers is None:
        buffers = _LOCAL.buffers = {}
    found = buffers.get(key)
    if found is None:
        found = buffers[key] = build()
    return found  # type: ignore[return-value]
