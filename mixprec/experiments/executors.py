"""Where the cells of a sweep run: in this process, in local worker processes, or on Dask.

Every executor has one method that matters, ``map_unordered(fn, items)``: it runs ``fn(item)``
for each item and yields an ``Outcome`` per item as soon as it finishes, in completion order, so
that the caller can store each result at once. ``fn`` must be a top-level function and ``items``
picklable (they travel to other processes or machines).

- ``LocalExecutor(jobs=N)`` runs them in ``N`` worker processes (``concurrent.futures``, started
  with ``spawn``), each with a single-threaded BLAS (see ``LocalExecutor``). A worker exits on
  its own when the process that started it dies (e.g. ``kill -9``) instead of lingering.
  ``LocalExecutor(in_process=True)`` runs the items one after the other in this process.
- ``DaskExecutor("tcp://host:8786")`` submits them to a Dask distributed scheduler (optional
  extra ``dask``); the workers need mixprec installed and the data where ``Sweep.data_dir`` says
  (or in their own default places). Dask's nanny starts workers with one BLAS thread, as
  ``LocalExecutor`` does, so both give the same results on the same machine type; but it also
  sets ``MALLOC_TRIM_THRESHOLD_=65536``, which makes the emulation's many numpy temporaries
  about twice as slow. Start workers with ``DASK_WORKER_ENVIRON`` instead, e.g.
  ``dask.config.set({"distributed.nanny.pre-spawn-environ": DASK_WORKER_ENVIRON})`` before
  creating a ``LocalCluster``, or the same key in the workers' Dask configuration file.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

__all__ = [
    "BLAS_THREAD_VARIABLES",
    "DASK_WORKER_ENVIRON",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "Outcome",
    "make_executor",
    "worker_count",
]

T = TypeVar("T")

BLAS_THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

DASK_WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}
"""Environment for Dask worker processes (``distributed.nanny.pre-spawn-environ``): one BLAS
thread, like ``LocalExecutor``'s workers, and no ``MALLOC_TRIM_THRESHOLD_``."""


@dataclass
class Outcome(Generic[T]):
    """The end of one item: its ``result``, or the ``error`` it raised (with its traceback)."""

    item: T
    result: Any = None
    error: BaseException | None = None
    traceback: str = ""

    @property
    def ok(self) -> bool:
        """True when the item finished without an error."""
        return self.error is None


class Executor(Protocol):
    """Runs a function over items and yields outcomes as they complete."""

    workers: int
    """How many items can run at once (for messages and progress)."""

    def map_unordered(self, fn: Callable[[T], Any], items: Iterable[T]) -> Iterator[Outcome[T]]:
        """Run ``fn(item)`` for each item; yield each ``Outcome`` as soon as it is known.

        Closing the generator early (Ctrl-C, an error in the caller) cancels what has not
        started.
        """
        ...

    def close(self) -> None:
        """Release the workers or the connection."""
        ...


class LocalExecutor:
    """Items run in ``jobs`` local worker processes (or in this process, for debugging).

    Each worker's BLAS runs ``blas_threads`` threads (the ``OMP/OPENBLAS/MKL/..._NUM_THREADS``
    variables are set for the workers). The default, one, makes results independent of
    ``jobs``: OpenBLAS's float32 sums depend on its thread count, so the same cell trained with
    one or two BLAS threads gives different weights. It is also much faster when the workers
    fill the cores: a multithreaded BLAS on cores that are all busy spins and waits.

    Args:
        jobs: worker processes; ``None`` means the number of cores (``os.cpu_count()``).
        blas_threads: BLAS threads per worker.
        in_process: run the items one after the other in this process, with this process's
            BLAS settings (for debugging; ``jobs`` is then ignored).
    """

    def __init__(
        self, jobs: int | None = None, blas_threads: int = 1, in_process: bool = False
    ) -> None:
        jobs = (os.cpu_count() or 1) if jobs is None else jobs
        for name, value in (("jobs", jobs), ("blas_threads", blas_threads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        self.workers = 1 if in_process else jobs
        self.blas_threads = blas_threads
        self.in_process = in_process

    def __repr__(self) -> str:
        if self.in_process:
            return "LocalExecutor(in_process=True)"
        return f"LocalExecutor(jobs={self.workers})"

    def map_unordered(self, fn: Callable[[T], Any], items: Iterable[T]) -> Iterator[Outcome[T]]:
        items = list(items)
        if self.in_process:
            for item in items:
                try:
                    result = fn(item)
                except Exception as error:  # reported to the caller, the sweep goes on
                    yield Outcome(item, error=error, traceback=traceback.format_exc())
                else:
                    yield Outcome(item, result=result)
            return
        if not items:
            return
        context = multiprocessing.get_context("spawn")
        # The pool starts its processes as items are submitted: all of them inside this block,
        # so they inherit the BLAS limits; this process's own settings are restored after it.
        with _environment(dict.fromkeys(BLAS_THREAD_VARIABLES, str(self.blas_threads))):
            pool = ProcessPoolExecutor(
                max_workers=min(self.workers, len(items)),
                mp_context=context,
                initializer=_watch_parent,
                initargs=(os.getpid(),),
            )
            try:
                futures = {pool.submit(fn, item): item for item in items}
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        finished = False
        try:
            yield from _as_completed(futures)
            finished = True
        finally:
            # stopped early (Ctrl-C, an error): end the workers rather than finish their items
            running = [] if finished else list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in running:
                process.terminate()

    def close(self) -> None:
        """Nothing to release: each ``map_unordered`` call owns its pool."""


class DaskExecutor:
    """Items run on a Dask distributed cluster (optional extra ``dask``).

    Args:
        scheduler: the scheduler's address (``"tcp://10.0.0.5:8786"``) or a connected
            ``distributed.Client`` (which is left open on ``close``).
        timeout: seconds to wait for the scheduler to answer.

    Raises:
        ImportError: the ``dask`` extra is not installed.
        ConnectionError: the scheduler did not answer within ``timeout`` (one line).
    """

    def __init__(self, scheduler: Any, timeout: float = 10.0) -> None:
        try:
            import distributed
        except ImportError:
            raise ImportError(
                "running a sweep on a Dask cluster needs the dask extra: "
                "pip install 'mixprec[dask]'"
            ) from None
        self._distributed = distributed
        if isinstance(scheduler, distributed.Client):
            self.client, self._owns_client = scheduler, False
        else:
            try:
                self.client = distributed.Client(scheduler, set_as_default=False, timeout=timeout)
            except (OSError, TimeoutError) as error:
                raise ConnectionError(
                    f"could not reach the Dask scheduler at {scheduler} within {timeout:g} s "
                    f"({error.__class__.__name__}: {error}). Check the address, and that a "
                    "scheduler runs there (`dask scheduler`)."
                ) from None
            self._owns_client = True
        self.address = str(self.client.scheduler.address)
        workers = self.client.scheduler_info().get("workers", {})
        self.workers = max(1, sum(w.get("nthreads", 1) for w in workers.values()))

    def __repr__(self) -> str:
        return f"DaskExecutor({self.address!r}, workers={self.workers})"

    def map_unordered(self, fn: Callable[[T], Any], items: Iterable[T]) -> Iterator[Outcome[T]]:
        futures = {self.client.submit(fn, item, pure=False): item for item in items}
        try:
            completed = self._distributed.as_completed(list(futures), loop=self.client.loop)
            for future in completed:
                item = futures[future]
                if future.status == "error":
                    error = future.exception()
                    trace = "".join(traceback.format_tb(future.traceback()))
                    yield Outcome(item, error=error, traceback=f"{trace}{error!r}")
                else:
                    yield Outcome(item, result=future.result())
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        """Close the client if this executor opened it."""
        if self._owns_client:
            self.client.close()


#: memory one local worker of the book sweep needs: 12 workers took 5.6 GB (Fashion-MNIST
#: loaded in each, plus training), about 0.47 GB each; rounded up.
WORKER_MEMORY = 512 * 2**20


def available_memory() -> int | None:
    """Bytes of memory available to new processes (``MemAvailable``), or ``None`` if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def worker_count(
    jobs: int | None, cores: int | None = None, memory: int | None = None
) -> tuple[int, str | None]:
    """The local workers to start for ``jobs``: at most one per core and as many as fit in memory.

    More workers than cores only compete for them (each runs a single-threaded BLAS), and each
    needs about ``WORKER_MEMORY``.

    Args:
        jobs: the workers asked for; ``None`` for one per core.
        cores: the cores (default ``os.cpu_count()``); memory: bytes available (default
            ``available_memory()``).

    Returns:
        The count, and a one-line note when it is less than asked (else ``None``).

    Raises:
        ValueError: ``jobs`` is not a positive integer.
    """
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}.")
    cores = cores or os.cpu_count() or 1
    memory = available_memory() if memory is None else memory
    limit, reason = cores, f"{cores} core{'s' * (cores != 1)}"
    if memory is not None and memory // WORKER_MEMORY < limit:
        limit = max(1, memory // WORKER_MEMORY)
        reason = (
            f"{memory / 2**30:.1f} GB of memory available, about "
            f"{WORKER_MEMORY / 2**30:.1f} GB per worker"
        )
    wanted = cores if jobs is None else jobs
    if wanted <= limit:
        return wanted, None
    return limit, f"jobs={wanted}: using {limit} worker process{'es' * (limit != 1)} ({reason})"


def make_executor(
    jobs: int | None = None,
    scheduler: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> Executor:
    """``DaskExecutor(scheduler)`` when a scheduler address is given, else ``LocalExecutor``.

    Local workers are capped at the cores and the memory (``worker_count``); ``echo`` gets the
    one-line note when they are.
    """
    if scheduler:
        return DaskExecutor(scheduler)
    count, note = worker_count(jobs)
    if note is not None and echo is not None:
        echo(note)
    return LocalExecutor(count)


# -- helpers -----------------------------------------------------------------------------------


def _as_completed(futures: dict[Future, T]) -> Iterator[Outcome[T]]:
    """Outcomes of local futures as they complete (errors included, with the worker traceback)."""
    pending = set(futures)
    while pending:
        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            item = futures[future]
            error = future.exception()
            if error is None:
                yield Outcome(item, result=future.result())
            else:
                cause = getattr(error, "__cause__", None)  # the worker's remote traceback
                trace = str(cause) if cause is not None else ""
                yield Outcome(item, error=error, traceback=trace + repr(error))


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block (children started in it see them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _watch_parent(parent_pid: int, interval: float = 1.0) -> None:
    """Worker initializer: exit when the parent process is gone (killed with SIGKILL, say)."""

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="mixprec-watch-parent", daemon=True).start()
