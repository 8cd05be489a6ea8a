"""``mixprec evaluate``: accuracy and loss of a saved model served under a precision policy."""

from __future__ import annotations

import argparse
import json

from mixprec.data import DATASETS, load
from mixprec.nn import Policy, evaluate
from mixprec.nn import load as load_model

HELP = "evaluate a saved model on a dataset's test split under a precision policy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mixprec evaluate`` to its parser."""
    parser.add_argument("model", help="a model file written by 'mixprec train'")
    parser.add_argument("--dataset", default="fashion-mnist", help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("--data-dir", metavar="DIR", help="read the IDX files from DIR only")
    parser.add_argument(
        "--policy", default="fp32", help=f"a preset: {', '.join(Policy.presets())} (default fp32)"
    )
    parser.add_argument(
        "--mac", metavar="SPEC", help="override the forward MAC, e.g. 'int8->int16:wrap'"
    )
    parser.add_argument("--batch-size", type=int, default=1000, help="serving batch (default 1000)")
    parser.add_argument("--split", default="test", choices=("test", "train"))
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Load, serve, print accuracy and loss."""
    model = load_model(args.model)
    policy = Policy.preset(args.policy)
    if args.mac:
        policy = policy.with_mac(forward=args.mac)
    normalize = model.metadata.get("normalize", "standard")
    data = load(args.dataset, data_dir=args.data_dir, download=False, normalize=normalize)
    result = evaluate(model, getattr(data, args.split), policy, batch_size=args.batch_size)
    if args.json:
        out = result.as_dict()
        out.update(model=args.model, dataset=data.name, split=args.split)
        print(json.dumps(out))
    else:
        print(
            f"{args.model} on {data.name} {args.split} ({result.n} images), "
            f"policy {result.policy}: accuracy {result.accuracy:.2%}, loss {result.loss:.4f}"
        )
        events = {k: v for k, v in result.events.get("forward", {}).items() if v}
        if events:
            print("forward MAC events: " + ", ".join(f"{k} {v:,}" for k, v in events.items()))
    return 0
