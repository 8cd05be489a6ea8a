"""``mixprec sweep``: train at precision A, serve at precision B, over a grid; resumable.

    mixprec sweep                              # the `book` experiment on Fashion-MNIST (or MNIST)
    mixprec sweep --quick                      # the same, small: well under a minute
    mixprec sweep accumulators                 # another shipped experiment (--list shows them)
    mixprec sweep my.toml --jobs 2             # a sweep file
    mixprec sweep --train fp32,bf16 --serve 'fp32,int8,int8->int16:wrap' --seeds 3 --epochs 10
    mixprec sweep --scheduler tcp://10.0.0.5:8786  # on a Dask cluster

A serve entry is a policy preset (bf16, int8, ...), a format (fp8_e4m3: weights and activations
in it, fp32 accumulation), a MAC override (int8->int16:wrap, fp16->fp16:chunked:64: the serving
policy of its input format with that MAC) or ptq:SCHEME (post-training quantization). Quote
entries with -> : the shell reads > as a redirection.

Stopping a sweep (Ctrl-C, kill -9) loses only the runs in progress; the same command resumes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mixprec.cli._checks import positive
from mixprec.cli.training import add_training_arguments, training_settings

if TYPE_CHECKING:
    from mixprec.experiments import Sweep

HELP = "Run a precision sweep (train policies x serve configurations x seeds); resumable."

QUICK = {"epochs": 1, "seeds": (0,), "train_limit": 10_000, "test_limit": 2_000}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mixprec sweep`` to its parser."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument(
        "experiment",
        nargs="?",
        default="book",
        help="a shipped experiment (default: book; see --list) or a sweep file (.toml)",
    )
    parser.add_argument("--list", action="store_true", help="list the shipped experiments")
    grid = parser.add_argument_group("the grid (each replaces the experiment's setting)")
    grid.add_argument("--train", metavar="LIST", help="train policies, e.g. fp32,bf16,fp16-amp,fp8")
    grid.add_argument(
        "--serve",
        metavar="LIST",
        help="serve configurations, e.g. 'fp32,fp8_e4m3,int8->int16:wrap' (quoted)",
    )
    grid.add_argument("--seeds", metavar="N|LIST", help="a count (seeds 0..N-1) or a list: 0,5,9")
    add_training_arguments(grid, "the experiment's", skip=("seed", "optimizer"))
    grid.add_argument("--dataset", choices=["auto", "fashion-mnist", "mnist"])
    grid.add_argument("--data-dir", metavar="DIR", help="look for the IDX files in DIR only")
    grid.add_argument(
        "--train-limit", type=positive, metavar="N", help="train on the first N images"
    )
    grid.add_argument("--test-limit", type=positive, metavar="N", help="test on the first N images")
    grid.add_argument(
        "--quick",
        action="store_true",
        help="1 epoch, 1 seed, 10,000 training and 2,000 test images (flags above still win); "
        "output in runs/<experiment>-quick",
    )
    run = parser.add_argument_group("running")
    run.add_argument("--out", metavar="DIR", help="output directory (default runs/<experiment>)")
    run.add_argument(
        "--jobs",
        type=positive,
        default=None,
        help=f"local worker processes (default: the number of cores, {os.cpu_count()}; "
        "capped at the cores and at the memory, about 0.5 GB per worker)",
    )
    run.add_argument(
        "--scheduler", metavar="ADDRESS", help="run on a Dask cluster: tcp://HOST:PORT"
    )
    run.add_argument(
        "--dry-run", action="store_true", help="check the sweep and show what would run"
    )
    run.add_argument(
        "--report", action="store_true", help="only rewrite the reports from the stored results"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")


def _seeds(text: str | None) -> int | tuple[int, ...] | None:
    if text is None:
        return None
    try:
        if "," in text:
            return tuple(int(part) for part in text.split(",") if part.strip())
        return int(text)
    except ValueError:
        raise ValueError(
            f"--seeds {text!r}: give a count such as 3 or a list such as 0,5,9"
        ) from None


def build_sweep(args: argparse.Namespace) -> Sweep:
    """The sweep the arguments describe: the experiment, then --quick, then the flags."""
    from mixprec.experiments import load_experiment

    sweep = load_experiment(args.experiment)
    if args.quick:
        sweep = sweep.replace(name=f"{sweep.name}-quick", **QUICK)
    if args.train or args.serve:
        note = "grid changed on the command line"
        sweep = sweep.replace(
            description=f"{sweep.description} ({note})" if sweep.description else note
        )
    return sweep.replace(
        train=args.train,
        serve=args.serve,
        seeds=_seeds(args.seeds),
        **training_settings(args),
        dataset=args.dataset,
        data_dir=args.data_dir,
        train_limit=args.train_limit,
        test_limit=args.test_limit,
    )


def _list() -> int:
    from mixprec.experiments import list_experiments, load_experiment

    for name in list_experiments():
        sweep = load_experiment(name)
        print(
            f"{name:<14} {len(sweep.train)} train x {len(sweep.serve)} serve x "
            f"{len(sweep.seeds)} seeds, {sweep.training.epochs} epochs: {sweep.description}"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    """Run (or resume, check, report) the sweep; 0 when complete, 1 when runs failed."""
    from mixprec.experiments import (
        ResultStore,
        check,
        default_out,
        make_executor,
        report_sweep,
        run_sweep,
    )
    from mixprec.experiments.dataset import resolve_dataset
    from mixprec.experiments.directory import stored_dataset

    if args.list:
        return _list()
    sweep = build_sweep(args)
    out = Path(args.out) if args.out else default_out(sweep)
    if sweep.dataset == "auto":  # the dataset the directory's own sweep ran on, if any
        sweep = sweep.replace(dataset=stored_dataset(out))
    if args.report:
        sweep = resolve_dataset(sweep, download=False)
        records, _, reports = report_sweep(sweep, out)
        if reports is None:
            print(f"no results of this sweep in {out}; run it first", file=sys.stderr)
            return 1
        print(reports.markdown)
        return 0
    if args.dry_run:
        check(sweep.train, sweep.serve)
        sweep = resolve_dataset(sweep, download=False)
        done = ResultStore(out).done_keys()
        cells = sweep.cells(done)
        print(
            f"{sweep.name}: {sweep.dataset}, {len(sweep.train)} train x {len(sweep.serve)} serve "
            f"x {len(sweep.seeds)} seeds = {len(sweep.grid())} runs in {out}; "
            f"{len(cells)} models to train, {sum(len(c.serve) for c in cells)} runs to do"
        )
        for cell in cells:
            print(f"  train {cell.train} seed {cell.seed}: serve {', '.join(cell.serve)}")
        return 0
    executor = make_executor(args.jobs, args.scheduler, echo=_warn)
    started = time.perf_counter()
    try:
        result = run_sweep(sweep, out, executor, progress=not args.no_progress)
    except KeyboardInterrupt:
        stored = len(ResultStore(out).done_keys())
        print(
            f"\ninterrupted after {time.perf_counter() - started:.0f} s: {stored} results are "
            f"stored in {out}; run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    except RuntimeError as error:
        print(f"mixprec sweep: error: {error}", file=sys.stderr)
        return 2
    finally:
        executor.close()
    if result.reports is not None:
        print(result.reports.markdown)
        written = [result.reports.markdown_path, result.reports.csv_path]
        written += [result.reports.plot_path] if result.reports.plot_path else []
        print(f"wrote {', '.join(map(str, written))}")
        for note in result.reports.notes:
            print(note)
    print(
        f"{result.ran} runs done, {result.skipped} already stored, {len(result.failures)} "
        f"models failed; {result.seconds:.1f} s with {executor!r}"
    )
    if result.failures:
        print(
            f"some runs failed (see {out / 'errors.log'}); run the same command again to retry",
            file=sys.stderr,
        )
    if result.unsaved:
        print(
            f"{len(result.unsaved)} trained model(s) could not be saved in {out / 'models'}; "
            "their results are stored: run the same command again to rebuild them",
            file=sys.stderr,
        )
    return 1 if result.failures or result.unsaved else 0


def _warn(text: str) -> None:
    print(f"mixprec sweep: {text}", file=sys.stderr)
