"""Training the book's MLP under each precision preset, beside the plain-numpy reference.

For each seed, the plain-numpy MLP (``benchmarks/plain_mlp.py``) and ``mixprec.train.train`` under
each preset run side by side on Fashion-MNIST with ``mixprec.train.train``'s default recipe (batch
128, SGD momentum 0.9, lr 0.05 with a cosine decay per epoch; the plain MLP gets the same rate
each epoch): epoch by epoch, round robin (``mixprec.train.train_epochs``), so that the load of a
shared machine weighs on all of them alike. Each epoch's time is divided by the plain epoch of the
same round; the table shows the median of those ratios over all epochs and seeds, the median
seconds per epoch, and the test accuracy after the last epoch (mean ± standard deviation over
seeds). It also checks that the ``fp32`` preset reproduces plain numpy bit for bit.

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
import plain_mlp

import mixprec
from mixprec.data import load
from mixprec.nn import MLP
from mixprec.train import History, train_epochs

TARGETS = {"fp32": (1.3, 0.0), "bf16": (2.5, 0.5), "fp16-amp": (3.0, 0.5), "fp8": (3.0, 1.5)}


def history_of(run) -> History:
    """The history of a finished ``train_epochs`` run (its return value)."""
    try:
        next(run)
    except StopIteration as finished:
        return finished.value
    raise RuntimeError("the run has epochs left")


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
    images, labels = data.train.images, data.train.labels
    for seed in range(args.seeds):
        plain = plain_mlp.PlainMLP(seed)
        models = {name: MLP.book(seed=seed) for name in presets}
        runs = {
            name: train_epochs(
                models[name], data, name, epochs=args.epochs, seed=seed, progress=False
            )
            for name in presets
        }
        for epoch in range(args.epochs):
            plain_seconds = plain.epoch(
                images, labels, lr=plain_mlp.cosine_lr(plain.lr, epoch, args.epochs)
            )
            seconds["plain"].append(plain_seconds)
            line = [f"seed {seed} epoch {epoch + 1}: plain {plain_seconds:.3f} s"]
            for name, run in runs.items():
                history = next(run)
                seconds[name].append(history.seconds[-1])
                ratios[name].append(history.seconds[-1] / plain_seconds)
                line.append(f"{name} {history.seconds[-1]:.3f} s ({ratios[name][-1]:.2f}x)")
            print(", ".join(line), flush=True)
        acc = plain_mlp.accuracy(plain.weights, plain.biases, data.test.images, data.test.labels)
        accuracy["plain"].append(acc)
        summary = [f"seed {seed} accuracy: plain {acc:.2%}"]
        for name in presets:
            accuracy[name].append(history_of(runs[name]).accuracy[-1])
            summary.append(f"{name} {accuracy[name][-1]:.2%}")
            if name == "fp32":
                identical.append(all(
                    np.array_equal(a, b)
                    for a, b in zip(plain.weights, models[name].weights, strict=True)
                ))  # fmt: skip
        print(", ".join(summary), flush=True)
    print()
    print("| policy | s/epoch (median) | x plain numpy (median of rounds) | test accuracy |")
    print("|---|---|---|---|")
    base = np.mean(accuracy.get("fp32", accuracy["plain"]))
    rows = {}
    for name in ["plain", *presets]:
        acc = np.array(accuracy[name]) * 100
        ratio = np.median(ratios[name]) if name in ratios else 1.0  # per round, then median
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
