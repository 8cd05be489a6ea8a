"""Serving quantized models: accuracy, size and ONNX Runtime agreement of each PTQ scheme, then
throughput of int8 serving beside the fp32 policy, in one run.

Part 1 quantizes a trained float model (by default one trained here: the book's MLP, fp32
policy, 10 epochs, batch 128, seed 0; or ``--model FILE`` from ``mixprec train``) with every
scheme, calibrated on 1000 training images, and prints for each: test accuracy, its difference
to fp32, the model's bytes, the MAC's overflow events (int8->int16 accumulators wrap or
saturate), and the agreement of ONNX Runtime with mixprec (int8: bit-identical logits; fp32:
largest relative difference and argmax agreement).

Part 2 serves the 10k test images at batch 1 (the first ``--single`` images, one at a time) and
batch 256, and prints images/s for the fp32 policy (``mixprec.nn.predict``), plain numpy
(``MLP.forward``), the int8 integer-only path, the int8 fake-quant path and ONNX Runtime (fp32;
int8 with either requantization), each with its ratio to the fp32 policy measured in the same
run. The servers take turns for ``--repeat`` rounds (a burst of load on a shared machine hits
them alike); each one's best round counts.

Run: ``python benchmarks/serving.py [--model FILE] [--data-dir DIR] [--single 300]
[--repeat 5] [--threads N] [--json FILE]``. For single-threaded figures on a shared machine, also
set ``OPENBLAS_NUM_THREADS=1`` (numpy) and pass ``--threads 1`` (ONNX Runtime).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import mixprec
from mixprec.data import load
from mixprec.nn.evaluate import evaluate, predict
from mixprec.nn.model import MLP
from mixprec.quant import QuantizedMLP, quantize
from mixprec.quant import load as load_model
from mixprec.train import train

ROWS: list[tuple[str, str, dict[str, Any]]] = [
    # (scheme, observer, predict options)
    ("int8-per-tensor", "minmax", {}),
    ("int8-per-tensor", "percentile", {}),
    ("int8-per-tensor", "mse", {}),
    ("int8-per-tensor-asym", "minmax", {}),
    ("int8-per-channel", "minmax", {}),
    ("int8-per-channel", "minmax", {"requantization": "float"}),
    ("int8-per-channel", "minmax", {"path": "fake_quant"}),
    ("int8-per-channel", "minmax", {"mac": "int8->int16"}),
    ("int8-per-channel", "minmax", {"mac": "int8->int16:saturate"}),
    ("int8-per-channel-asym", "minmax", {}),
    ("fp8_e4m3", "minmax", {}),
    ("fp8_e4m3-per-channel", "minmax", {}),
    ("fp8_e5m2", "minmax", {}),
    ("fp8_e5m2-per-channel", "minmax", {}),
    ("int4-weight-only", "minmax", {}),
    ("int4-weight-only", "mse", {}),
]


def best_rate(serve: Callable[[], Any], images: int, repeat: int) -> float:
    """Images per second of the fastest of ``repeat`` runs of ``serve``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        serve()
        best = min(best, time.perf_counter() - start)
    return images / best


def onnx_tools() -> Any:
    try:
        from mixprec.quant import onnx_export

        onnx_export.require_onnx()
        return onnx_export
    except ImportError as error:
        print(f"(ONNX Runtime comparisons skipped: {error})")
        return None


def accuracy_table(model: MLP, data: Any, calibration: np.ndarray, ox: Any) -> list[dict]:
    test = data.test
    rows = []
    fp32 = evaluate(model, test, "fp32")
    row: dict[str, Any] = dict(
        model="fp32 (policy)", accuracy=fp32.accuracy, delta=0.0,
        bytes=sum(p.nbytes for p in model.parameters()), events="",
    )  # fmt: skip
    if ox is not None:
        runtime = ox.onnx_predict(model, test.images)
        relative = np.abs(runtime - fp32.logits).max() / np.abs(fp32.logits).max()
        agree = np.mean(runtime.argmax(axis=1) == fp32.predictions)
        row["onnx"] = f"max rel. diff {relative:.1e}, argmax {agree:.2%} equal"
    rows.append(row)
    int8_policy = evaluate(model, test, "int8")
    rows.append(dict(
        model="int8 policy (dynamic per-batch scales)", accuracy=int8_policy.accuracy,
        delta=int8_policy.accuracy - fp32.accuracy, bytes=None, events="", onnx="",
    ))  # fmt: skip
    quantized: dict[tuple[str, str], QuantizedMLP] = {}
    for scheme, observer, options in ROWS:
        key = (scheme, observer)
        if key not in quantized:
            quantized[key] = quantize(model, calibration, scheme=scheme, observer=observer)
        q = quantized[key]
        result = q.evaluate(test, **options)
        totals = result.events.get("forward", {})
        events = ", ".join(
            f"{name} {totals[name]:,}" for name in ("wraps", "saturations", "overflows")
            if totals.get(name)
        )  # fmt: skip
        row = dict(
            model=f"{scheme} ({observer}) {result.policy[len(scheme):]}",
            accuracy=result.accuracy, delta=result.accuracy - fp32.accuracy, bytes=q.nbytes,
            events=events or ("none" if totals else ""), onnx="",
        )  # fmt: skip
        if ox is not None and q.scheme.is_integer and options.get("path") != "fake_quant":
            if "mac" in options:
                row["onnx"] = "(ONNX Runtime accumulates in int32)"
            else:
                requantization = options.get("requantization", "gemmlowp")
                proto = ox.to_onnx(q, requantization)
                runtime = ox.onnx_predict(proto, test.images)
                same = np.array_equal(runtime, result.logits)
                row["onnx"] = f"{'bit-identical' if same else 'DIFFERENT'} ({requantization})"
        rows.append(row)
    if ox is not None:  # ONNX Runtime's own u8s8 kernels (int16 pair sums on x86 without VNNI)
        q = quantized[("int8-per-channel", "minmax")]
        reference = q.predict(test.images)
        runtime = ox.onnx_predict(ox.to_onnx(q, activations="uint8"), test.images)
        accuracy = float(np.mean(runtime.argmax(axis=1) == test.labels))
        differing = np.mean(np.any(runtime != reference, axis=1))
        rows.append(dict(
            model="int8-per-channel (minmax) in ONNX Runtime, uint8 activations",
            accuracy=accuracy, delta=accuracy - fp32.accuracy, bytes=q.nbytes, events="",
            onnx=("bit-identical" if differing == 0 else
                  f"logits differ on {differing:.1%} of images (u8s8 int16 saturation)"),
        ))  # fmt: skip
    return rows


def onnx_server(session: Any) -> Callable[[np.ndarray], Any]:
    """A function serving a batch through an ONNX Runtime session."""

    def serve(x: np.ndarray) -> Any:
        return session.run(["logits"], {"images": x})[0]

    return serve


def throughput_table(
    model: MLP,
    q: QuantizedMLP,
    images: np.ndarray,
    single: int,
    repeat: int,
    ox: Any,
    threads: int | None = None,
) -> list[dict]:
    servers: list[tuple[str, Callable[[np.ndarray], Any]]] = [
        ("fp32 policy (mixprec.nn.predict)", lambda x: predict(model, x, "fp32", len(x))),
        ("plain numpy float32 (MLP.forward)", model.forward),
        ("int8 integer-only (int8->int32, gemmlowp)", lambda x: q.predict(x, batch_size=len(x))),
        ("int8 fake quant (float32)", lambda x: q.predict(x, "fake_quant", batch_size=len(x))),
    ]
    if ox is not None:
        for name, source in (
            ("fp32", model),
            ("int8 (gemmlowp requantization)", ox.to_onnx(q, "gemmlowp")),
            ("int8 (float requantization)", ox.to_onnx(q, "float")),
            ("int8 (float requantization, uint8 activations)", ox.to_onnx(q, "float", "uint8")),
        ):
            session = ox.onnx_session(source, threads=threads)
            servers.append((f"ONNX Runtime {name}", onnx_server(session)))
    for _, serve in servers:
        serve(images[:256])  # warm up
    rates = {name: {"batch1": 0.0, "batch256": 0.0} for name, _ in servers}
    for _ in range(repeat):  # round robin: a load burst on the machine hits every server alike
        for name, serve in servers:
            one = best_rate(lambda: [serve(images[i : i + 1]) for i in range(single)], single, 1)
            batched = best_rate(
                lambda: [serve(images[i : i + 256]) for i in range(0, len(images), 256)],
                len(images), 1,
            )  # fmt: skip
            rates[name]["batch1"] = max(rates[name]["batch1"], one)
            rates[name]["batch256"] = max(rates[name]["batch256"], batched)
    return [dict(server=name, **rate) for name, rate in rates.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a float model file (default: train one here)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--calibration", type=int, default=1000)
    parser.add_argument("--single", type=int, default=300, help="images served at batch 1")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the speed test")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime's threads")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    ox = onnx_tools()
    if args.model:
        model = load_model(args.model)
        normalize = model.metadata.get("normalize", "standard")
    else:
        model, normalize = MLP.book(seed=0), "standard"
    data = load("fashion-mnist", data_dir=args.data_dir, normalize=normalize)
    if not args.model:
        print("training the book's MLP: fp32 policy, 10 epochs, batch 128, seed 0 ...", flush=True)
        train(model, data, policy="fp32", epochs=10, batch_size=128, seed=0, progress=False)
    blas = np.__config__.CONFIG.get("Build Dependencies", {}).get("blas", {})
    versions = f"numpy {np.__version__} ({blas.get('name', '?')} {blas.get('version', '')})"
    if ox is not None:
        import onnxruntime

        versions += f", onnxruntime {onnxruntime.__version__}"
    print(
        f"mixprec {mixprec.__version__}, {versions}, Python {platform.python_version()}, "
        f"{platform.machine()}; Fashion-MNIST {len(data.train)}/{len(data.test)}; "
        f"calibration: the first {args.calibration} training images",
        flush=True,
    )
    calibration = data.train.images[: args.calibration]
    accuracy = accuracy_table(model, data, calibration, ox)
    print("\n| model (scheme, observer, [path, MAC, requantization]) | test accuracy | vs fp32 "
          "| bytes | MAC overflow events | ONNX Runtime |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for r in accuracy:
        size = f"{r['bytes']:,}" if r["bytes"] else "—"
        print(
            f"| {r['model']} | {r['accuracy']:.2%} | {100 * r['delta']:+.2f} pt | {size} "
            f"| {r['events']} | {r.get('onnx', '')} |"
        )
    q = quantize(model, calibration, scheme="int8-per-channel")
    speed = throughput_table(model, q, data.test.images, args.single, args.repeat, ox, args.threads)
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"\nthreads: OpenBLAS {blas_threads}, ONNX Runtime {args.threads or 'default'}")
    base1, base256 = speed[0]["batch1"], speed[0]["batch256"]
    print("| server | batch 1 (images/s) | ratio | batch 256 (images/s) | ratio |")
    print("|---|---|---|---|---|")
    for r in speed:
        print(
            f"| {r['server']} | {r['batch1']:,.0f} | {r['batch1'] / base1:.2f} "
            f"| {r['batch256']:,.0f} | {r['batch256'] / base256:.2f} |"
        )
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({"accuracy": accuracy, "throughput": speed}, stream, indent=1)


if __name__ == "__main__":
    main()
