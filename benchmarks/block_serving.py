"""Accuracy of the book MLP trained in fp32 and served in block-scaled formats, by hand.

    python benchmarks/block_serving.py [--seeds 3] [--epochs 10]

Fashion-MNIST (found as ``mixprec.data.load`` finds it), the book MLP trained with the default
``TrainConfig`` in fp32, one model per seed. Each model is then served (the 10,000 test images):

* ``fp32``: ``MLP.forward`` (the baseline);
* block formats (``mxfp8_e4m3``, ``mxfp6_e2m3``, ``mxfp4``, ``nvfp4``, the RCEIL rule too,
  ``nvfp4:tensor_scale=none``): every layer through the exact block MAC ``FMT->fp32``
  (:class:`mixprec.mac.BlockMAC`): weights and activations quantized by the MAC with blocks
  along each matmul's reduction axis (columns of the activations, rows of the weights), nearest
  even, the bias the accumulator's initial value; NVFP4's activation tensor scale is the
  batch's (dynamic, batches of 1000);
* per-tensor ``fp4_e2m1`` and ``fp8_e4m3`` for contrast: each weight matrix and each batch of
  activations divided by ``amax / max_elem`` (float64), rounded to the format, multiplied back,
  then a float64 matmul.

Prints accuracy (mean ± std over seeds), the mean difference from fp32 serving in points, and
McNemar's test against fp32 serving on the pooled paired outcomes of all seeds (and the largest
per-seed p). Not a sweep entry yet: block formats are not policy roles (see the README).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from mixprec.experiments.stats import mcnemar

import mixprec as mp
from mixprec.mac import MAC
from mixprec.train import train

BLOCK_SERVE = [
    "mxfp8_e4m3", "mxfp8_e4m3:rceil", "mxfp6_e2m3", "mxfp4", "mxfp4:rceil", "nvfp4",
    "nvfp4:tensor_scale=none",
]  # fmt: skip
PER_TENSOR = ["fp4_e2m1", "fp8_e4m3"]


def serve_block(model: mp.nn.MLP, images: np.ndarray, fmt: str, batch: int = 1000) -> np.ndarray:
    mac = MAC.parse(f"{fmt}->fp32")
    out = []
    for lo in range(0, images.shape[0], batch):
        h = images[lo : lo + batch]
        for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
            h = mac.affine(h, w, b)
            if i < model.n_layers - 1:
                h = np.maximum(h, 0)
        out.append(h)
    return np.concatenate(out)


def _per_tensor(x: np.ndarray, fmt: str) -> np.ndarray:
    amax = float(np.abs(x).max())
    if amax == 0:
        return x.astype(np.float64)
    scale = amax / mp.get_format(fmt).max
    return mp.quantize(x.astype(np.float64) / scale, fmt) * scale


def serve_per_tensor(
    model: mp.nn.MLP, images: np.ndarray, fmt: str, batch: int = 1000
) -> np.ndarray:
    weights = [_per_tensor(w, fmt) for w in model.weights]
    out = []
    for lo in range(0, images.shape[0], batch):
        h = images[lo : lo + batch]
        for i, (w, b) in enumerate(zip(weights, model.biases, strict=True)):
            h = _per_tensor(h, fmt) @ w + (0.0 if b is None else b)
            if i < model.n_layers - 1:
                h = np.maximum(h, 0)
        out.append(h)
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    data = mp.data.load("fashion-mnist", download=False)
    test = data.test
    correct: dict[str, list[np.ndarray]] = {}
    start = time.perf_counter()
    for seed in range(args.seeds):
        model = mp.nn.MLP.book(seed=seed)
        train(model, data, "fp32", epochs=args.epochs, seed=seed, progress=False, eval_split=None)
        outputs = {"fp32": model.forward(test.images)}
        for fmt in BLOCK_SERVE:
            outputs[fmt] = serve_block(model, test.images, fmt)
        for fmt in PER_TENSOR:
            outputs[f"{fmt} (per tensor)"] = serve_per_tensor(model, test.images, fmt)
        for name, logits in outputs.items():
            correct.setdefault(name, []).append(np.argmax(logits, axis=1) == test.labels)
        print(f"seed {seed} done after {time.perf_counter() - start:.0f} s", flush=True)
    base = correct["fp32"]
    print(
        f"\nFashion-MNIST test, {args.seeds} seeds, {args.epochs} epochs fp32 training; "
        f"load average {os.getloadavg()[0]:.2f}\n"
    )
    print(
        "| served in | accuracy % (mean ± std) | Δ points | McNemar p (pooled) | max p per seed |"
    )
    print("|---|---|---|---|---|")
    for name, runs in correct.items():
        acc = np.array([r.mean() * 100 for r in runs])
        delta = acc - np.array([r.mean() * 100 for r in base])
        pooled = mcnemar(np.concatenate(base), np.concatenate(runs)).p_value
        worst = max(mcnemar(b, r).p_value for b, r in zip(base, runs, strict=True))
        print(
            f"| {name} | {acc.mean():.2f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.2f} | "
            f"{delta.mean():+.2f} | {pooled:.3g} | {worst:.3g} |"
        )


if __name__ == "__main__":
    main()
