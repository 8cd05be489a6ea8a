"""Wall time of one sweep run three ways: 1 local process, N local worker processes, Dask.

Runs the same sweep (default: the ``book`` experiment, 2 epochs, 2 seeds, on whatever data
``mixprec sweep`` would use) into fresh temporary directories with ``LocalExecutor(1)``,
``LocalExecutor(jobs)`` and a Dask ``LocalCluster`` of ``jobs`` single-threaded worker
processes on 127.0.0.1 (started with ``DASK_WORKER_ENVIRON``), then prints the times, the
speed-ups and whether the three stores hold the same results (everything but hosts and
times). Absolute times drift on shared machines: compare the ratios of one run.

Run: ``python benchmarks/sweep.py [EXPERIMENT] [--epochs 2] [--seeds 2] [--jobs 2] [--no-dask]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from mixprec.experiments import (
    DASK_WORKER_ENVIRON,
    DaskExecutor,
    LocalExecutor,
    ResultStore,
    load_experiment,
    run_sweep,
)
from mixprec.experiments.runner import resolve_dataset

VARYING = {"host", "finished", "train_time_s", "serve_time_s", "training"}


def comparable(directory: Path) -> list[dict]:
    """The stored records without the fields that vary from run to run."""
    records = ResultStore(directory).read()
    return sorted(
        ({k: v for k, v in r.items() if k not in VARYING} for r in records),
        key=lambda r: r["key"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("experiment", nargs="?", default="book")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    sweep = load_experiment(args.experiment).replace(
        epochs=args.epochs, seeds=args.seeds, test_limit=args.test_limit
    )
    sweep = resolve_dataset(sweep)
    print(
        f"sweep {sweep.name}: {sweep.dataset}, {len(sweep.train)} train x {len(sweep.serve)} "
        f"serve x {len(sweep.seeds)} seeds = {len(sweep.cells())} models, "
        f"{len(sweep.grid())} runs, {sweep.epochs} epochs; {os.cpu_count()} cores; "
        f"numpy {np.__version__}, python {platform.python_version()}"
    )
    times: dict[str, float] = {}
    stores: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as temporary:
        runs = [("local, 1 process", lambda: LocalExecutor(1))]
        runs.append((f"local, {args.jobs} processes", lambda: LocalExecutor(args.jobs)))
        for name, make in runs:
            stores[name] = Path(temporary, f"run{len(stores)}")
            start = time.perf_counter()
            run_sweep(sweep, stores[name], make(), progress=False)
            times[name] = time.perf_counter() - start
            print(f"  {name:<28} {times[name]:7.1f} s", flush=True)
        if not args.no_dask:
            import dask
            from distributed import LocalCluster

            name = f"dask, {args.jobs} worker processes"
            stores[name] = Path(temporary, "dask")
            start = time.perf_counter()
            with dask.config.set({"distributed.nanny.pre-spawn-environ": DASK_WORKER_ENVIRON}):
                cluster = LocalCluster(
                    n_workers=args.jobs, threads_per_worker=1, host="127.0.0.1",
                    dashboard_address=None,
                )  # fmt: skip
            with cluster:
                executor = DaskExecutor(cluster.scheduler_address)
                try:
                    run_sweep(sweep, stores[name], executor, progress=False)
                finally:
                    executor.close()
            times[name] = time.perf_counter() - start
            print(f"  {name:<28} {times[name]:7.1f} s (cluster start included)", flush=True)
        reference = comparable(next(iter(stores.values())))
        same = {name: comparable(path) == reference for name, path in stores.items()}
    base = next(iter(times.values()))
    print("\n| executor | wall s | speed-up vs 1 process | same results |")
    print("|---|---:|---:|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.1f} | {base / seconds:.2f}x | {same[name]} |")


if __name__ == "__main__":
    main()
