"""The measurements of issue 16 on Fashion-MNIST: PTQ vs QAT, weight-only methods, accumulators.

Run by hand (minutes per table), after training the fp32 base models once per seed::

    for s in 0 1 2; do mixprec train --epochs 10 --seed $s --out DIR/model-s$s.npz; done
    python tools/quant_measurements.py DIR [--tables qat,weights,accumulators] [--seeds 0,1,2]

Every row is served on the 10,000 test images of each seed's model and compared with that
model's fp32 predictions by McNemar's test on the pooled 30,000 pairs (3 seeds). Calibration:
1,000 training images (``numpy.random.default_rng(0).choice``, as ``mixprec quantize``).
QAT: SGD momentum 0.9, lr 0.01, cosine, batch 128, seed = the model's seed, moving min/max
activation observers frozen after 100 steps; W4A4/W4A8 rows are one 5-epoch run per seed,
served after its epochs 1, 2 and 5; A2Q QAT rows one 1-epoch run (``--qat-bits``). Results
are printed as Markdown tables and written to ``DIR/results-TABLES.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from mixprec.data import load
from mixprec.experiments.significance import mcnemar
from mixprec.nn.model import MLP
from mixprec.quant import load as load_model
from mixprec.quant import quantize
from mixprec.quant.qat import FakeQuantMLP
from mixprec.quant.qat_train import export, qat_epochs, qat_train
from mixprec.quant.refine import refine
from mixprec.quant.weights import quantize_weights

LR = 0.01


def fake_quant_predictions(fq: FakeQuantMLP, images: np.ndarray) -> np.ndarray:
    return fq.forward(images)[0].argmax(axis=1)


def weight_only_predictions(model: MLP, images: np.ndarray, cal: np.ndarray, fmt: str,
                            method: str, group: int | None) -> np.ndarray:  # fmt: skip
    """Dequantized weights, float32 activations; GPTQ sees the inputs of the layers so far."""
    weights, h = [], cal
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        q = quantize_weights(w, fmt, method=method, group_size=group, inputs=h)
        weights.append(q.dequantize())
        h = h @ weights[-1] + (0 if b is None else b)
        h = np.maximum(h, 0) if i < model.n_layers - 1 else h
    return MLP.from_arrays(weights, model.biases).forward(images).argmax(axis=1)


def qat_rows(models: dict[int, MLP], data: Any, cal: np.ndarray) -> dict[str, dict[int, Any]]:
    rows: dict[str, dict[int, Any]] = {}
    for act in ("int4", "int8"):
        name = f"W4A{act[3:]}"
        for seed, model in models.items():
            for observer in ("minmax", "percentile", "mse"):
                fq = FakeQuantMLP(model.copy(), "int4", act)
                fq.calibrate(cal, observer)
                rows.setdefault(f"{name} PTQ {observer}", {})[seed] = fake_quant_predictions(
                    fq, data.test.images
                )
            fq = FakeQuantMLP(model.copy(), "int4", act)
            for history in qat_epochs(fq, data, epochs=5, lr=LR, seed=seed):
                if history.epochs in (1, 2, 5):
                    rows.setdefault(f"{name} QAT, epoch {history.epochs} of 5", {})[seed] = (
                        fake_quant_predictions(fq, data.test.images)
                    )
            print(f"  {name} seed {seed} done ({time.strftime('%X')})", flush=True)
    return rows


def weight_rows(models: dict[int, MLP], data: Any, cal: np.ndarray) -> dict[str, dict[int, Any]]:
    rows: dict[str, dict[int, Any]] = {}
    for fmt in ("int4", "int3", "int2"):
        for seed, model in models.items():
            for label, method, group in (
                ("RTN per-channel", "rtn", None), ("RTN group 32", "rtn", 32),
                ("RTN group 128", "rtn", 128), ("GPTQ per-channel", "gptq", None),
                ("GPTQ group 128", "gptq", 128),
            ):  # fmt: skip
                preds = weight_only_predictions(model, data.test.images, cal, fmt, method, group)
                rows.setdefault(f"{fmt} weight-only {label}", {})[seed] = preds
        print(f"  {fmt} done ({time.strftime('%X')})", flush=True)
    return rows


def accumulator_rows(models: dict[int, MLP], data: Any, cal: np.ndarray, bits_list: tuple[int, ...],
                     qat_bits: tuple[int, ...]) -> dict[str, dict[int, Any]]:  # fmt: skip
    rows: dict[str, dict[int, Any]] = {}
    images = data.test.images
    for seed, model in models.items():
        plain = quantize(model, cal, "int8-per-channel")
        for bits in bits_list:
            mac = f"int8->int{bits}:wrap"
            candidates = {"plain PTQ": plain}
            if bits < 32:
                candidates["A2Q+ PTQ"] = refine(
                    quantize(model, cal, "int8-per-channel"), model, cal, accumulator=bits
                )
            if bits in qat_bits:
                fq = FakeQuantMLP(model.copy(), "int8", "int8", accumulator=bits)
                qat_train(fq, data, epochs=1, lr=LR, seed=seed)
                candidates["A2Q+ QAT 1 ep"] = export(fq, "int8-per-channel")
            for label, q in candidates.items():
                logits, events = q.predict(images, mac=mac, stats=True)
                rows.setdefault(f"int8 per-channel {label}, int{bits} acc", {})[seed] = (
                    logits.argmax(axis=1),
                    events.as_dict()["forward"]["wraps"],
                )
            print(f"  seed {seed} int{bits} done ({time.strftime('%X')})", flush=True)
    return rows


def cached(directory: Path, table: str, seed: int, compute: Any) -> dict[str, Any]:
    """One seed's rows of a table: loaded from ``DIR/rows-TABLE-sSEED.npz`` if a previous run
    stored them, else computed and stored (so seeds can run in separate processes)."""
    path = directory / f"rows-{table}-s{seed}.npz"
    if path.exists():
        stored = np.load(path)
        names = json.loads(str(stored["names"]))
        return {
            name: (stored[f"p{i}"], int(stored[f"w{i}"])) if f"w{i}" in stored else stored[f"p{i}"]
            for i, name in enumerate(names)
        }
    rows = compute()
    arrays: dict[str, Any] = {"names": np.array(json.dumps(list(rows)))}
    for i, value in enumerate(rows.values()):
        if isinstance(value, tuple):
            arrays[f"p{i}"], arrays[f"w{i}"] = value[0], np.array(value[1])
        else:
            arrays[f"p{i}"] = value
    np.savez(path, **arrays)
    return rows


def gather(directory: Path, table: str, models: dict[int, MLP], compute: Any) -> dict[str, Any]:
    """``{row: {seed: predictions}}`` over the seeds, each seed computed (or loaded) alone."""
    rows: dict[str, dict[int, Any]] = {}
    for seed, model in models.items():
        one = cached(directory, table, seed, lambda m=model, s=seed: {
            name: by_seed[s] for name, by_seed in compute({s: m}).items()
        })  # fmt: skip
        for name, value in one.items():
            rows.setdefault(name, {})[seed] = value
    return rows


def report(rows: dict[str, dict[int, Any]], fp32: dict[int, np.ndarray], labels: np.ndarray,
           title: str) -> list[dict[str, Any]]:  # fmt: skip
    print(f"\n### {title}\n")
    print(f"| row | accuracy (mean ± sd, {len(fp32)} seeds) | Δ vs fp32 (points) | McNemar p "
          "| wraps per seed |")  # fmt: skip
    print("|---|---|---|---|---|")
    out = []
    base_correct = np.concatenate([fp32[s] == labels for s in sorted(fp32)])
    base_acc = [float(np.mean(fp32[s] == labels)) for s in sorted(fp32)]
    print(f"| fp32 | {100 * np.mean(base_acc):.2f} ± {100 * np.std(base_acc):.2f} | — | — | — |")
    for name, by_seed in rows.items():
        seeds = sorted(by_seed)
        preds = [by_seed[s][0] if isinstance(by_seed[s], tuple) else by_seed[s] for s in seeds]
        wraps = [by_seed[s][1] for s in seeds] if isinstance(by_seed[seeds[0]], tuple) else None
        acc = [float(np.mean(p == labels)) for p in preds]
        correct = np.concatenate([p == labels for p in preds])
        p = mcnemar(base_correct, correct).p_value
        delta = 100 * (np.mean(acc) - np.mean(base_acc))
        wrap_text = "—" if wraps is None else f"{int(np.mean(wraps)):,}"
        print(f"| {name} | {100 * np.mean(acc):.2f} ± {100 * np.std(acc):.2f} | {delta:+.2f} "
              f"| {p:.2g} | {wrap_text} |")  # fmt: skip
        out.append(dict(row=name, accuracy=acc, delta_points=delta, p=p, wraps=wraps))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--tables", default="qat,weights,accumulators")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--bits", default="12,14,16,18,20,32")
    parser.add_argument("--qat-bits", default="16", help="accumulators that also get A2Q QAT")
    args = parser.parse_args()
    data = load("fashion-mnist")
    rows = np.sort(np.random.default_rng(0).choice(len(data.train), size=1000, replace=False))
    cal = data.train.images[rows]
    seeds = [int(s) for s in args.seeds.split(",")]
    models = {s: load_model(args.directory / f"model-s{s}.npz") for s in seeds}
    fp32 = {s: m.forward(data.test.images).argmax(axis=1) for s, m in models.items()}
    labels = np.asarray(data.test.labels)
    results: dict[str, Any] = {}
    tables = args.tables.split(",")
    d = args.directory
    if "qat" in tables:
        rows = gather(d, "qat", models, lambda m: qat_rows(m, data, cal))
        results["qat"] = report(rows, fp32, labels, "W4A4 / W4A8")
    if "weights" in tables:
        rows = gather(d, "weights", models, lambda m: weight_rows(m, data, cal))
        results["weights"] = report(rows, fp32, labels, "weight-only")
    if "accumulators" in tables:
        bits = tuple(int(b) for b in args.bits.split(","))
        qat_bits = tuple(int(b) for b in args.qat_bits.split(",") if b)
        rows = gather(d, "accumulators", models,
                      lambda m: accumulator_rows(m, data, cal, bits, qat_bits))  # fmt: skip
        results["accumulators"] = report(rows, fp32, labels, "accumulators, int8->intP:wrap")
    out = args.directory / f"results-{'-'.join(tables)}.json"
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
