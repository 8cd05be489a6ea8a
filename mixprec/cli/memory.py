"""``mixprec memory``: the book's memory and compute table, for every format and a policy."""

from __future__ import annotations

import argparse
import json

from mixprec.cli._checks import positive
from mixprec.nn import Policy, memory

HELP = "memory (bytes) and operational intensity of the book's MLP, by format and policy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mixprec memory`` to its parser."""
    parser.add_argument("--batch", type=positive, default=128, help="training batch (default 128)")
    parser.add_argument("--serve-batch", type=positive, default=1, help="serving batch (default 1)")
    parser.add_argument(
        "--policy", action="append", default=[],
        help=f"add a row for a preset ({', '.join(Policy.presets())}); may be repeated",
    )  # fmt: skip
    parser.add_argument("--formats", help="comma-separated formats (default: every format)")
    parser.add_argument("--no-measure", action="store_true", help="skip the measured columns")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Print the table (Markdown) or JSON."""
    report = memory(
        batch=args.batch,
        serve_batch=args.serve_batch,
        policy=args.policy,
        formats=args.formats.split(",") if args.formats else None,
        measure=not args.no_measure,
    )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    print(report.table())
    print(
        "\nBytes are exact (kB = 1000 B). The book's fp32 figures: 419,712 B of weights (420 KB), "
        "990,080 B to train at N=128 (1.0 MB), 423,360 B to serve at N=1 (printed as 424 KB: "
        "the book rounds up to the next kB). Policy rows add a float32 master copy when the "
        "policy keeps one; no row counts optimizer state."
    )
    return 0
