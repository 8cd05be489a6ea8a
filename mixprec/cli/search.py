"""``mixprec search``: the cheapest precision per layer within a tolerance of fp32; resumable.

    mixprec train --validation 5000 --out model.npz     # hold 5,000 training images out
    mixprec search model.npz --formats fp32,bf16,fp8_e4m3,int8,int4 --tolerance 0.5
    mixprec search model.npz --objective bops --json    # the last stdout line is JSON
    mixprec search model.npz --dry-run                  # how many evaluations, nothing run

Each layer takes one of the --formats entries (a preset, a format or a MAC, as a sweep's serve
entries) for its weights and its input activations. Accuracy is measured on a validation split
held out of the training set (the model file says which one when it was trained with
--validation); the Pareto front is then confirmed on the test split with McNemar's test against
fp32. Policies print as BASE@LAYER=ENTRY (fp8@1=bf16@3=bf16), the form --policy accepts.
Stopping a search loses only the evaluations in progress; the same command resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from mixprec.data import DATASETS

HELP = "search the cheapest precision per layer within a tolerance of fp32 accuracy; resumable"

DEFAULT_FORMATS = "fp32,bf16,fp8_e4m3,int8,int4"
DEFAULT_VALIDATION = 5000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mixprec search`` to its parser."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("model", help="a float model file written by 'mixprec train'")
    parser.add_argument("--dataset", default=None, help=f"one of {', '.join(DATASETS)} "
                        "(default: the model file's, else fashion-mnist)")  # fmt: skip
    parser.add_argument("--data-dir", metavar="DIR", help="read the IDX files from DIR only")
    parser.add_argument("--formats", default=DEFAULT_FORMATS, metavar="LIST",
                        help=f"candidates per layer, comma-separated (default "
                        f"{DEFAULT_FORMATS})")  # fmt: skip
    parser.add_argument("--tolerance", type=float, default=0.5, metavar="POINTS",
                        help="validation accuracy the chosen point may lose, in percentage "
                        "points (default 0.5)")  # fmt: skip
    parser.add_argument("--objective", default="bytes", choices=("bytes", "bops"))
    parser.add_argument("--validation", type=int, metavar="N",
                        help="held-out training examples (default: the model file's, else "
                        f"{DEFAULT_VALIDATION})")  # fmt: skip
    parser.add_argument("--validation-seed", type=int, metavar="S",
                        help="seed that picks them (default: the model file's, "
                        "else 0)")  # fmt: skip
    parser.add_argument("--max-evaluations", type=int, default=1000, metavar="N",
                        help="exhaustive up to N assignments, else the sensitivity proxy's "
                        "front (default 1000)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=1000, help="serving batch (default 1000)")
    parser.add_argument("--out", default="runs/search", metavar="DIR",
                        help="store and reports (default runs/search)")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=None, help="local worker processes "
                        "(default: one per core)")  # fmt: skip
    parser.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask scheduler")
    parser.add_argument("--dry-run", action="store_true", help="say how many evaluations; run none")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="end with one line of JSON")


def _split_settings(args: argparse.Namespace, metadata: dict[str, object]) -> tuple[int, int, bool]:
    """Validation count and seed, and whether the model was trained without those examples."""
    held_out = metadata.get("validation")
    count = args.validation if args.validation is not None else held_out or DEFAULT_VALIDATION
    seed = (
        args.validation_seed
        if args.validation_seed is not None
        else metadata.get("validation_seed", 0)
    )
    clean = held_out == count and metadata.get("validation_seed", 0) == seed
    return int(count), int(seed), clean  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    """Search, write the reports, print the summary (and the JSON line)."""
    from mixprec.experiments.executors import make_executor
    from mixprec.experiments.search import DataSpec, SearchConfig, run_search
    from mixprec.experiments.search.report import pareto_markdown, write_search_reports
    from mixprec.nn import MLP
    from mixprec.nn import load as load_model

    model = load_model(args.model)
    if not isinstance(model, MLP):
        raise ValueError(f"{args.model} is not a float model ({type(model).__name__}); search "
                         "the float model that 'mixprec train' wrote")  # fmt: skip
    metadata = model.metadata
    count, seed, clean = _split_settings(args, metadata)
    dataset = args.dataset or str(metadata.get("dataset", "fashion-mnist"))
    normalize = str(metadata.get("normalize", "standard"))
    validation = DataSpec(dataset, args.data_dir, count, seed, normalize, "validation")
    config = SearchConfig(
        candidates=tuple(f for f in args.formats.split(",") if f.strip()),
        tolerance=args.tolerance, objective=args.objective,
        max_evaluations=args.max_evaluations, batch_size=args.batch_size,
    )  # fmt: skip
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    if not clean:
        say(f"warning: {args.model} does not say it was trained without these {count} "
            "validation examples (train it with 'mixprec train --validation N'); its validation "
            "accuracy may be optimistic")  # fmt: skip
    executor = None if args.dry_run else make_executor(args.jobs, args.scheduler)
    try:
        result = run_search(
            model, validation, validation.with_split("test"), config, args.out, executor,
            progress=not args.no_progress and not args.json, dry_run=args.dry_run, echo=say,
        )  # fmt: skip
    finally:
        if executor is not None:
            executor.close()
    if args.dry_run:
        print(result)
        if args.json:
            print(json.dumps({"dry_run": True, **vars(result)}))
        return 0
    preamble = (
        f"Model {os.path.basename(args.model)} on {dataset}: {count} validation examples held "
        f"out of the training set (seed {seed}); the test split confirms the front."
    )
    reports = write_search_reports(result, args.out, preamble=preamble)  # type: ignore[arg-type]
    for note in reports.notes:
        say(note)
    print(pareto_markdown(result))  # type: ignore[arg-type]
    chosen = result.chosen  # type: ignore[union-attr]
    print(f"chosen: {chosen.policy if chosen else 'none within the tolerance'}; reports in "
          f"{reports.markdown_path.parent}")  # fmt: skip
    if args.json:
        print(json.dumps(result.as_dict()))  # type: ignore[union-attr]
    return 0
