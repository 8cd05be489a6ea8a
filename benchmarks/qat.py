"""Quantization-aware training's epoch beside a plain fp32 training epoch, in one run.

Every round runs one epoch of each contender on Fashion-MNIST's 60,000 training images (batch
128, SGD momentum 0.9, the same lr for all): ``mixprec.train.train`` of the float book MLP
(``fp32``, the reference), then ``mixprec.quant.qat_train`` through each scheme's fake
quantization, starting from the same trained model. Each QAT epoch is divided by the fp32 epoch
of its round; the table shows the best of the rounds (a shared machine only slows things down),
the median, and the seconds of the best epoch. The load average is printed before and after.

Run: ``OPENBLAS_NUM_THREADS=1 python benchmarks/qat.py [--rounds 5] [--data-dir DIR]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from mixprec.data import load
from mixprec.nn import MLP
from mixprec.quant.qat_train import fake_quantized, qat_train
from mixprec.train import train

CONTENDERS = {  # label -> (scheme, options of fake_quantized)
    "W4A4 int4-per-channel": ("int4-per-channel", {}),
    "W4A4 + LSQ": ("int4-per-channel", {"learn_scales": True}),
    "int8-per-channel": ("int8-per-channel", {}),
    "int8 + A2Q, int16 accumulator": ("int8-per-channel", {"accumulator": 16}),
    "int4-weight-only:group=32": ("int4-weight-only:group=32", {}),
    "fp8_e4m3 (on the fp8 MAC)": ("fp8_e4m3", {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    data = load("fashion-mnist", data_dir=args.data_dir)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"OPENBLAS_NUM_THREADS={threads}; load average before: {os.getloadavg()}")
    base = MLP((784, 128, 32, 10), seed=0)
    train(base, data, epochs=2, seed=0, progress=False, eval_split=None)
    times: dict[str, list[float]] = {"fp32": [], **{label: [] for label in CONTENDERS}}
    for r in range(args.rounds):
        model = base.copy()
        start = time.perf_counter()
        train(model, data, epochs=1, lr=0.01, seed=r, progress=False, eval_split=None)
        times["fp32"].append(time.perf_counter() - start)
        for label, (scheme, options) in CONTENDERS.items():
            fq = fake_quantized(base.copy(), scheme, warmup_steps=20, **options)
            start = time.perf_counter()
            qat_train(fq, data.train, epochs=1, lr=0.01, seed=r, progress=False, eval_split=None)
            times[label].append(time.perf_counter() - start)
        print(f"  round {r + 1} of {args.rounds} done", flush=True)
    print(f"load average after: {os.getloadavg()}\n")
    print("| epoch (60,000 images) | best × fp32 | median × fp32 | best s |")
    print("|---|---:|---:|---:|")
    reference = np.array(times["fp32"])
    for label, values in times.items():
        ratio = np.array(values) / reference
        print(f"| {label} | {ratio.min():.2f} | {np.median(ratio):.2f} | {min(values):.2f} |")


if __name__ == "__main__":
    main()
