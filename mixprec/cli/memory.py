"""``mixprec memory``: the book's memory and compute table, for every format and a policy."""

from __future__ import annotations

import argparse
import json

from mixprec.cli._checks import positive
from mixprec.nn import MLP, Policy, memory
from mixprec.nn.cost import cost
from mixprec.nn.layered import LayerPolicy, parse_policy

HELP = "memory (bytes) and operational intensity of the book's MLP, by format and policy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mixprec memory`` to its parser."""
    parser.add_argument("--batch", type=positive, default=128, help="training batch (default 128)")
    parser.add_argument("--serve-batch", type=positive, default=1, help="serving batch (default 1)")
    parser.add_argument(
        "--policy", action="append", default=[],
        help=f"add a row for a preset ({', '.join(Policy.presets())}) and its serving cost per "
        "layer; a policy per layer (fp8@1=bf16@3=bf16) gets the per-layer cost only; repeatable",
    )  # fmt: skip
    parser.add_argument("--formats", help="comma-separated formats (default: every format)")
    parser.add_argument("--no-measure", action="store_true", help="skip the measured columns")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Print the table (Markdown) or JSON."""
    chosen = [parse_policy(text) for text in args.policy]
    costs = [(text, cost(MLP.book(), p, batch=args.serve_batch)) for text, p in
             zip(args.policy, chosen, strict=True)]  # fmt: skip
    report = memory(
        batch=args.batch,
        serve_batch=args.serve_batch,
        policy=[p for p in chosen if not isinstance(p, LayerPolicy)],
        formats=args.formats.split(",") if args.formats else None,
        measure=not args.no_measure,
    )
    if args.json:
        out = report.as_dict()
        out["cost"] = {text: c.as_dict() for text, c in costs}
        print(json.dumps(out, indent=2))
        return 0
    print(report.table())
    for text, c in costs:
        print(
            f"\nServing cost of {text} per layer (mixprec.nn.cost: weight bytes as stored, "
            f"scales and float32 biases included; activations at batch {c.batch}):\n"
        )
        print(c.table())
    print(
        "\nBytes are exact (kB = 1000 B). The book's fp32 figures: 419,712 B of weights (420 KB), "
        "990,080 B to train at N=128 (1.0 MB), 423,360 B to serve at N=1 (printed as 424 KB: "
        "the book rounds up to the next kB). Policy rows add a float32 master copy when the "
        "policy keeps one; no row counts optimizer state."
    )
    return 0
