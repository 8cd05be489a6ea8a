"""``mixprec evaluate``: accuracy and loss of a saved model served under a precision policy."""

from __future__ import annotations

import argparse
import json

from mixprec.cli._checks import positive
from mixprec.data import DATASETS, load
from mixprec.nn import Policy, evaluate
from mixprec.nn.layered import parse_policy
from mixprec.quant import QuantizedMLP
from mixprec.quant import load as load_model

HELP = "evaluate a saved model on a dataset's test split under a precision policy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mixprec evaluate`` to its parser."""
    parser.add_argument(
        "model", help="a model file written by 'mixprec train' or 'mixprec quantize'"
    )
    parser.add_argument("--dataset", default="fashion-mnist", help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("--data-dir", metavar="DIR", help="read the IDX files from DIR only")
    parser.add_argument(
        "--policy", default="fp32",
        help=f"a preset ({', '.join(Policy.presets())}; default fp32), a format, or a policy "
        "per layer BASE@LAYER=ENTRY such as fp8@1=bf16@3=bf16 (what 'mixprec search' prints)",
    )  # fmt: skip
    parser.add_argument(
        "--mac", metavar="SPEC", help="override the forward MAC, e.g. 'int8->int16:wrap'"
    )
    parser.add_argument(
        "--path", choices=("integer", "fake_quant"),
        help="quantized models: integer-only (int8 default) or float-simulated serving",
    )  # fmt: skip
    parser.add_argument(
        "--requantization", choices=("gemmlowp", "float"), default="gemmlowp",
        help="quantized int8 models: fixed-point (default) or ONNX Runtime's float requantization",
    )  # fmt: skip
    parser.add_argument(
        "--batch-size", type=positive, default=1000, help="serving batch (default 1000)"
    )
    parser.add_argument("--split", default="test", choices=("test", "train", "validation"))
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Load, serve, print accuracy and loss."""
    model = load_model(args.model)
    normalize = model.metadata.get("normalize", "standard")
    held_out = int(model.metadata.get("validation", 0) or 0)  # the examples it did not learn
    data = load(
        args.dataset, data_dir=args.data_dir, download=False, normalize=normalize,
        validation=held_out, seed=int(model.metadata.get("validation_seed", 0) or 0),
    )  # fmt: skip
    if args.split == "validation" and data.validation is None:
        raise ValueError(f"{args.model} was trained without a validation split (--validation)")
    split = getattr(data, args.split)
    if isinstance(model, QuantizedMLP):  # its scheme is its policy; --mac picks the MAC unit
        if args.policy != "fp32":
            raise ValueError(f"{args.model} is quantized ({model.scheme}); drop --policy")
        result = model.evaluate(
            split, path=args.path, mac=args.mac, requantization=args.requantization,
            batch_size=args.batch_size,
        )  # fmt: skip
    else:
        policy = parse_policy(args.policy)
        if args.mac:
            if not isinstance(policy, Policy):
                raise ValueError(f"--mac changes a preset's MAC; for {args.policy!r} write the "
                                 "MAC in the policy, e.g. fp32@2=int8->int16:wrap")  # fmt: skip
            policy = policy.with_mac(forward=args.mac)
        result = evaluate(model, split, policy, batch_size=args.batch_size)
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
