"""``mixprec quantize``: post-training quantization of a saved model, calibrated on images."""

from __future__ import annotations

import argparse
import json

import numpy as np

from mixprec.cli.qat import parse_accumulator
from mixprec.data import DATASETS, load
from mixprec.nn.model import MLP
from mixprec.quant import SCHEMES, QuantizedMLP, quantize, save
from mixprec.quant import load as load_model
from mixprec.quant.a2q import BOUNDS
from mixprec.quant.observers import OBSERVERS
from mixprec.quant.refine import refine
from mixprec.quant.weights import METHODS

HELP = "quantize a trained model (int8, fp8, int4) calibrated on training images; save it (.npz)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mixprec quantize`` to its parser."""
    parser.add_argument("model", help="a float model file written by 'mixprec train'")
    parser.add_argument(
        "--scheme", default="int8-per-channel",
        help=f"one of {', '.join(SCHEMES)}; or one per layer, BASE@LAYER=SCHEME such as "
        "int4-weight-only@1=int8-per-channel@3=int8-per-channel",
    )  # fmt: skip
    parser.add_argument(
        "--observer", default="minmax", help=f"activation ranges: {', '.join(OBSERVERS)}"
    )
    parser.add_argument(
        "--weight-observer", metavar="NAME", help="weight ranges (default: --observer)"
    )
    parser.add_argument(
        "--percentile", type=float, default=99.99, help="the percentile observer's (99.99)"
    )
    parser.add_argument(
        "--calibration", type=int, default=1000, metavar="N",
        help="calibration images, drawn from the training split (default 1000)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="which calibration images (seed)")
    parser.add_argument("--dataset", default="fashion-mnist", help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("--data-dir", metavar="DIR", help="read the IDX files from DIR only")
    parser.add_argument(
        "--method", default="rtn", choices=METHODS,
        help="weight rounding: rtn (round to nearest) or gptq (Frantar et al. 2022)",
    )  # fmt: skip
    parser.add_argument(
        "--accumulator", metavar="intP",
        help="bound the weights so a P-bit accumulator cannot overflow (A2Q; e.g. int16)",
    )  # fmt: skip
    parser.add_argument("--bound", default="a2q+", choices=BOUNDS, help="A2Q bound (a2q+)")
    parser.add_argument("--out", required=True, help="the quantized model file (.npz)")
    parser.add_argument(
        "--evaluate", action="store_true", help="also report test accuracy, float and quantized"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Load, calibrate, quantize, save; print sizes (and accuracies with --evaluate)."""
    model = load_model(args.model)
    if not isinstance(model, MLP):
        raise ValueError(
            f"{args.model} holds a {type(model).__name__}; quantize the float model it came from"
        )
    if args.calibration < 1:
        raise ValueError(f"--calibration must be >= 1, got {args.calibration}")
    normalize = model.metadata.get("normalize", "standard")
    data = load(
        args.dataset, data_dir=args.data_dir, download=args.data_dir is None, normalize=normalize
    )
    n_train = len(data.train.labels)
    count = min(args.calibration, n_train)
    rows = np.sort(np.random.default_rng(args.seed).choice(n_train, size=count, replace=False))
    options = {"percentile": args.percentile} if "percentile" in (
        args.observer, args.weight_observer
    ) else {}  # fmt: skip
    qmodel = quantize(
        model, data.train.images[rows], scheme=args.scheme, observer=args.observer,
        weight_observer=args.weight_observer, **options,
    )  # fmt: skip
    accumulator = parse_accumulator(args.accumulator)
    if args.method != "rtn" or accumulator is not None:
        if not isinstance(qmodel, QuantizedMLP):
            raise ValueError(
                f"--method {args.method} / --accumulator take one scheme for every layer, not "
                f"{args.scheme!r}; use --method rtn without --accumulator for a scheme per layer"
            )
        refine(qmodel, model, data.train.images[rows], args.method, accumulator, args.bound)
    qmodel.metadata.update(dataset=data.name, calibration_seed=args.seed, source=str(args.model))
    save(qmodel, args.out, metadata=qmodel.metadata)
    float_bytes = sum(p.nbytes for p in model.parameters())
    out = {
        "model": args.model, "out": args.out, "scheme": str(qmodel.scheme),
        "observer": qmodel.observer, "calibration_images": count, "bytes": qmodel.nbytes,
        "float_bytes": float_bytes,
    }  # fmt: skip
    if args.evaluate:
        from mixprec.nn.evaluate import evaluate

        out["float_accuracy"] = evaluate(model, data.test).accuracy
        result = qmodel.evaluate(data.test)
        out["accuracy"] = result.accuracy
        out["events"] = result.events.get("forward", {})
    if args.json:
        print(json.dumps(out))
        return 0
    print(
        f"{args.out}: {qmodel.scheme}, {qmodel.observer} observer, {count} calibration images; "
        f"{qmodel.nbytes:,} B ({float_bytes / qmodel.nbytes:.2f}x smaller than the "
        f"{float_bytes:,} B float model)"
    )
    if args.evaluate:
        print(
            f"test accuracy: float {out['float_accuracy']:.2%}, quantized {out['accuracy']:.2%} "
            f"({result.policy})"
        )
    return 0
