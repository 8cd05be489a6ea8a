"""The block-scaled PTQ table of issue 13 on Fashion-MNIST (README, "Block formats").

Run by hand, after training the fp32 base models once per seed::

    for s in 0 1 2; do mixprec train --epochs 10 --seed $s --out DIR/model-s$s.npz; done
    python tools/block_ptq_measurements.py DIR [--seeds 0,1,2]

Each row serves the 10,000 test images with a model quantized from each seed's fp32 model
(calibration: 1,000 training images, ``numpy.random.default_rng(0).choice``, as ``mixprec
quantize``), and compares it with that model's fp32 predictions by McNemar's test on the pooled
30,000 pairs (3 seeds). Bytes: the arrays of the quantized model file (``QuantizedMLP.nbytes``,
what ``mixprec.nn.cost`` counts; the ``.npz`` adds its header), against the 419,712 bytes of the
fp32 parameters. For contrast, the ``mxfp4`` and ``nvfp4`` policy presets (no PTQ: NVFP4's tensor
scale from each batch of 1,000) serve the fp32 model. Prints a Markdown table; each seed's rows
are cached in ``DIR/block-rows-sSEED.npz`` (delete them to recompute).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mixprec.data import load
from mixprec.experiments.significance import mcnemar
from mixprec.nn import MLP, predict
from mixprec.quant import load as load_model
from mixprec.quant import quantize

SCHEMES = (
    "int8-per-channel", "mxfp8", "mxfp8-weight-only", "mxfp4", "mxfp4-weight-only", "nvfp4",
    "nvfp4-weight-only",
)  # fmt: skip
PRESETS = ("mxfp4", "nvfp4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    correct: dict[str, list[np.ndarray]] = {}
    nbytes: dict[str, int] = {}
    for seed in seeds:
        cached = args.dir / f"block-rows-s{seed}.npz"
        if cached.exists():  # delete to recompute
            with np.load(cached) as npz:
                for name in npz.files:
                    kind, label = name.split(":", 1)
                    if kind == "bytes":
                        nbytes[label] = int(npz[name])
                    else:
                        correct.setdefault(label, []).append(npz[name])
            continue
        model = load_model(args.dir / f"model-s{seed}.npz")
        assert isinstance(model, MLP)
        data = load("fashion-mnist", normalize=model.metadata.get("normalize", "standard"))
        labels = data.test.labels
        rows = np.sort(np.random.default_rng(0).choice(len(data.train.labels), 1000, False))
        calibration = data.train.images[rows]
        nbytes["fp32"] = sum(p.nbytes for p in model.parameters())
        found = {"fp32": predict(model, data.test.images)}
        for preset in PRESETS:
            found[f"policy {preset}"] = predict(model, data.test.images, policy=preset)
        for scheme in SCHEMES:
            q = quantize(model, calibration, scheme=scheme)
            found[f"ptq {scheme}"] = q.predict(data.test.images)
            nbytes[f"ptq {scheme}"] = q.nbytes
        record = {f"correct:{k}": v.argmax(axis=1) == labels for k, v in found.items()}
        for label, value in record.items():
            correct.setdefault(label.split(":", 1)[1], []).append(value)
        np.savez(cached, **record, **{f"bytes:{k}": np.int64(v) for k, v in nbytes.items()})
        print(f"seed {seed}: done", flush=True)
    base = np.concatenate(correct["fp32"])
    print("| served | accuracy % (mean ± sd) | Δ pts | McNemar p (b/c) | bytes | vs fp32 "
          "| vs int8-per-channel |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for label, per_seed in correct.items():
        accuracies = [100 * c.mean() for c in per_seed]
        ddof = min(1, len(accuracies) - 1)  # the sample sd (0 for one seed)
        pooled = np.concatenate(per_seed)
        test = mcnemar(base, pooled)
        delta = 100 * (pooled.mean() - base.mean())
        size = nbytes.get(label)
        ratio = f"{nbytes['fp32'] / size:.2f}x" if size else ""
        vs_int8 = f"{nbytes['ptq int8-per-channel'] / size:.2f}x" if size else ""
        print(
            f"| {label} | {np.mean(accuracies):.2f} ± {np.std(accuracies, ddof=ddof):.2f} "
            f"| {delta:+.2f} | {test.p_value:.3g} ({test.b}/{test.c}) "
            f"| {f'{size:,}' if size else ''} | {ratio} | {vs_int8} |"
        )


if __name__ == "__main__":
    main()
