"""Wall time of one sweep run three ways: 1 local process, N local worker processes, Dask.

Runs the same sweep (default: the ``book`` experiment, 2 epochs, 2 seeds, on whatever data
``mixprec sweep`` would use) into fresh temporary directories with ``LocalExecutor(1)``,
``LocalExecutor(jobs)`` and a Dask ``LocalCluster`` of ``jobs`` single-threaded worker
processes on 127.0.0.1 (started with ``DASK_WORKER_ENVIRON``), then prints the times, the
speed-ups and whether the three stores hold the same results (everything but hosts and
times). Absolute times drift on shared machines: compare the ratios of one run.

Each executor runs ``--repeat`` times, round robin; the best time counts (the Dask time includes
starting the cluster).

Run: ``python benchmarks/sweep.py [EXPERIMENT] [--epochs 2] [--seeds 2] [--jobs 2] [--repeat 2]
[--no-dask]``.
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
    Sweep,
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
    parser.add_argument("--repeat", type=int, default=2, help="rounds (the best time counts)")
    args = parser.parse_args()
    sweep = load_experiment(args.experiment).replace(
        epochs=args.epochs, seeds=args.seeds, test_limit=args.test_limit
    )
    sweep = resolve_dataset(sweep)
    print(
        f"sweep {sweep.name}: {sweep.dataset}, {len(sweep.train)} train x {len(sweep.serve)} "
        f"serve x {len(sweep.seeds)} seeds = {len(sweep.cells())} models, "
        f"{len(sweep.grid())} runs, {sweep.training.epochs} epochs; {os.cpu_count()} cores; "
        f"numpy {np.__version__}, python {platform.python_version()}"
    )
    executors = {"local, 1 process": 1, f"local, {args.jobs} processes": args.jobs}
    if not args.no_dask:
        executors[f"dask, {args.jobs} worker processes"] = -args.jobs
    times: dict[str, list[float]] = {name: [] for name in executors}
    same: dict[str, bool] = dict.fromkeys(executors, True)
    with tempfile.TemporaryDirectory() as temporary:
        reference = None
        for round_ in range(args.repeat):  # round robin, so that drifting load hits all alike
            for name, jobs in executors.items():
                out = Path(temporary, f"{round_}-{jobs}")
                start = time.perf_counter()
                if jobs > 0:
                    run_sweep(sweep, out, LocalExecutor(jobs), progress=False)
                else:
                    run_on_dask(sweep, out, -jobs)
                times[name].append(time.perf_counter() - start)
                print(f"  round {round_ + 1}: {name:<28} {times[name][-1]:7.1f} s", flush=True)
                records = comparable(out)
                reference = records if reference is None else reference
                same[name] &= records == reference
    base = min(times["local, 1 process"])
    print("\n| executor | best wall s | all runs s | speed-up vs 1 process | same results |")
    print("|---|---:|---|---:|---|")
    for name, seconds in times.items():
        runs = ", ".join(f"{t:.1f}" for t in seconds)
        print(
            f"| {name} | {min(seconds):.1f} | {runs} | {base / min(seconds):.2f}x | {same[name]} |"
        )


def run_on_dask(sweep: Sweep, out: Path, workers: int) -> None:
    """Run the sweep on a new LocalCluster of single-threaded worker processes."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ": DASK_WORKER_ENVIRON}):
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
    with cluster:
        executor = DaskExecutor(cluster.scheduler_address)
        try:
            run_sweep(sweep, out, executor, progress=False)
        finally:
            executor.close()


if __name__ == "__main__":
    main()
