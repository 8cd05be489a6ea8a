"""``mixprec export``: write a float or integer-only (int8, W4A4, W4A8) model as ONNX, and check
it in ONNX Runtime."""

from __future__ import annotations

import argparse
import json

import numpy as np

from mixprec.cli._checks import count
from mixprec.nn.model import MLP
from mixprec.quant import LayeredQuantizedMLP, QuantizedMLP
from mixprec.quant import load as load_model
from mixprec.quant.requant import Requantization

HELP = "export a model file (float, int8, W4A4, W4A8) as ONNX; optionally check it in ONNX Runtime"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``mixprec export`` to its parser."""
    parser.add_argument("model", help="a model file ('mixprec train' or 'mixprec quantize')")
    parser.add_argument("--onnx", required=True, metavar="PATH", help="the ONNX file to write")
    parser.add_argument(
        "--requantization", default="gemmlowp", choices=[r.value for r in Requantization],
        help="integer models: gemmlowp fixed-point multiplier (default; bit-identical to mixprec's "
        "integer path) or ONNX Runtime's float requantization",
    )  # fmt: skip
    parser.add_argument(
        "--activations", default="int8", choices=("int8", "uint8"),
        help="integer models: activation codes as int8 (default; exact everywhere) or uint8 (+128: "
        "faster in ONNX Runtime on x86, exact with weights in -64..64 or on VNNI CPUs)",
    )  # fmt: skip
    parser.add_argument(
        "--check", type=count(0), default=256, metavar="N",
        help="run N random inputs in ONNX Runtime and compare with mixprec (0: skip; default 256)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Export; with ``--check``, return 1 if ONNX Runtime disagrees with mixprec."""
    from mixprec.quant.onnx_export import export_onnx, onnx_predict, require_onnx

    require_onnx()
    model = load_model(args.model)
    if isinstance(model, LayeredQuantizedMLP):
        raise ValueError(
            f"{args.model}: a scheme per layer ({model.scheme}) has no ONNX export yet; export a "
            "model quantized with one scheme"
        )
    path = export_onnx(model, args.onnx, args.requantization, args.activations)
    out: dict[str, object] = {"model": args.model, "onnx": str(path)}
    status = 0
    if args.check > 0:
        x = np.random.default_rng(0).standard_normal((args.check, model.sizes[0]))
        x = x.astype(np.float32)
        runtime = onnx_predict(path, x)
        if isinstance(model, QuantizedMLP):
            expected = model.predict(x, requantization=args.requantization)
            identical = bool(np.array_equal(runtime, expected))
            out.update(check=args.check, identical=identical)
            status = 0 if identical else 1
        else:
            assert isinstance(model, MLP)
            expected = model.forward(x)
            scale = max(1.0, float(np.abs(expected).max()))
            error = float(np.abs(runtime - expected).max()) / scale
            out.update(check=args.check, max_relative_error=error)
            status = 0 if error < 1e-4 else 1
    if args.json:
        print(json.dumps(out))
        return status
    kind = str(model.scheme) if isinstance(model, QuantizedMLP) else "fp32"
    line = f"wrote {path} ({kind}"
    if isinstance(model, QuantizedMLP):
        line += f", {args.requantization} requantization, {args.activations} activations"
    print(line + ")")
    if "identical" in out:
        verdict = "bit-identical" if out["identical"] else "DIFFERENT"
        print(f"ONNX Runtime vs mixprec on {args.check} random inputs: {verdict}")
    elif "max_relative_error" in out:
        print(
            f"ONNX Runtime vs mixprec on {args.check} random inputs: max relative error "
            f"{out['max_relative_error']:.2e}"
        )
    return status
