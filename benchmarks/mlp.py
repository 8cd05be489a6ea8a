"""Training the book's MLP under each precision preset, beside the plain-numpy reference.

In one run, for each seed: the plain-numpy MLP (``benchmarks/plain_mlp.py``) and
``mixprec.nn.train`` under each preset, on Fashion-MNIST (batch 128, SGD momentum 0.9, lr 0.01).
Prints the median seconds per training epoch, its ratio to plain numpy measured in the same run
(the runs interleave, so machine load affects all alike), and the test accuracy after the last
epoch (mean ± standard deviation over seeds). Also checks that the ``fp32`` preset reproduces
plain numpy bit for bit.

Run: ``python benchmarks/mlp.py [--epochs 10] [--seeds 3] [--presets fp32,bf16,fp16-amp,fp8]
[--data-dir DIR] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import plain_mlp  # noqa: E402

import mixprec  # noqa: E402
from mixprec.data import load  # noqa: E402
from mixprec.nn import MLP, train  # noqa: E402

TARGETS = {"fp32": (1.3, 0.0), "bf16": (2.5, 0.5), "fp16-amp": (3.0, 0.5), "fp8": (3.0, 1.5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--presets", default="fp32,bf16,fp16-amp,fp8")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    presets = args.presets.split(",")
    data = load("fashion-mnist", data_dir=args.data_dir)
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(
        f"numpy {np.__version__} ({blas.get('name')} {blas.get('version')}, "
        f"OPENBLAS_NUM_THREADS={threads}), mixprec {mixprec.__version__}, Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{args.epochs} epochs, {args.seeds} seeds, Fashion-MNIST "
        f"{len(data.train)}/{len(data.test)}",
        flush=True,
    )
    seconds: dict[str, list[float]] = {name: [] for name in ["plain", *presets]}
    ratios: dict[str, list[float]] = {name: [] for name in presets}
    accuracy: dict[str, list[float]] = {name: [] for name in ["plain", *presets]}
    identical = []
    for seed in range(args.seeds):
        weights, biases, plain_seconds = plain_mlp.train(
            data.train.images, data.train.labels, args.epochs, seed
        )
        plain = float(np.median(plain_seconds))
        seconds["plain"].append(plain)
        acc = plain_mlp.accuracy(weights, biases, data.test.images, data.test.labels)
        accuracy["plain"].append(acc)
        print(f"seed {seed} plain: {plain:.3f} s/epoch, accuracy {acc:.2%}", flush=True)
        for name in presets:
            model = MLP.book(seed=seed)
            history = train(model, data, name, epochs=args.epochs, seed=seed, progress=False)
            median = float(np.median(history.seconds))
            seconds[name].append(median)
            ratios[name].append(median / plain)
            accuracy[name].append(history.accuracy[-1])
            skipped = sum(history.skipped_steps)
            print(
                f"seed {seed} {name}: {median:.3f} s/epoch ({median / plain:.2f}x plain), "
                f"accuracy {history.accuracy[-1]:.2%}, skipped steps {skipped}, final loss "
                f"scale {history.loss_scale[-1]:g}",
                flush=True,
            )
            if name == "fp32":
                same = all(
                    np.array_equal(a, b) for a, b in zip(weights, model.weights, strict=True)
                )
                identical.append(same)
    print()
    print(
        "| policy | s/epoch (median of seeds) | x plain numpy (target) | test accuracy (target) |"
    )
    print("|---|---|---|---|")
    base = np.mean(accuracy.get("fp32", accuracy["plain"]))
    rows = {}
    for name in ["plain", *presets]:
        acc = np.array(accuracy[name]) * 100
        ratio = np.median(ratios[name]) if name in ratios else 1.0
        target_ratio, margin = TARGETS.get(name, (None, None))
        ratio_text = f"{ratio:.2f}" + (f" (<= {target_ratio})" if target_ratio else "")
        if name == "fp32":
            acc_target = " (>= 88.0)"
        elif margin:
            acc_target = f" (>= {base * 100 - margin:.2f})"
        else:
            acc_target = ""
        print(
            f"| {name} | {np.median(seconds[name]):.3f} | {ratio_text} | "
            f"{acc.mean():.2f} ± {acc.std():.2f} %{acc_target} |"
        )
        rows[name] = dict(seconds=seconds[name], ratios=ratios.get(name), accuracy=accuracy[name])
    if identical:
        print(f"\nfp32 preset identical to plain numpy, bit for bit: {all(identical)}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(epochs=args.epochs, results=rows), indent=2))


if __name__ == "__main__":
    main()
