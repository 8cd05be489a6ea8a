"""The measurements of issue 16 on Fashion-MNIST: W4A4/W4A8 PTQ vs QAT, weight-only methods,
accumulators.

Run by hand, after training the fp32 base models once per seed::

    for s in 0 1 2; do mixprec train --epochs 10 --seed $s --out DIR/model-s$s.npz; done
    python tools/quant_measurements.py DIR [--tables qat,weights,accumulators] [--seeds 0,1,2]

Every row is a quantized model served on the 10,000 test images of each seed's model and
compared with that model's fp32 predictions by McNemar's test on the pooled 30,000 pairs (3
seeds). Calibration: 1,000 training images (``numpy.random.default_rng(0).choice``, as
``mixprec quantize``). Integer-only schemes are served on the integer path (``mixprec
evaluate``'s default) and, in rows marked ``fake quant``, on the float32 fake-quant path.

* ``qat``: ``int4-per-channel`` (W4A4), ``int4-per-channel-asym`` and ``int4-per-channel-a8``
  (W4A8): PTQ with each observer; QAT (SGD momentum 0.9, cosine, batch 128, seed = the model's
  seed) from the MSE-calibrated activation ranges (frozen), lr 0.001, one run each of 1, 2 and
  5 epochs; QAT from moving min/max (100 warm-up steps), lr 0.01, 5 epochs (the first recipe).
  Each QAT model is the ``export``ed quantized model. (LSQ learned steps were tried on seed 0
  only, by hand: no gain over the MSE ranges, at 3x the time.)
* ``weights``: int4/int3/int2 weight-only, per-channel RTN, groups of 32 and 128
  (``:group=N``), GPTQ per channel and per group (``mixprec.quant.refine``).
* ``accumulators``: ``int8-per-channel`` served on ``int8->intP:wrap``: plain PTQ, A2Q+ PTQ,
  and A2Q+ QAT (1 epoch, lr 0.01, moving min/max) for ``--qat-bits``.

Results are printed as Markdown tables and written to ``DIR/results-TABLES.json``; each seed's
rows are cached in ``DIR/rows-TABLE-sSEED.npz`` (delete them to recompute).
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
from mixprec.quant import QuantizedMLP, quantize
from mixprec.quant import load as load_model
from mixprec.quant.qat_train import export, fake_quantized, qat_train
from mixprec.quant.refine import refine

OBSERVERS = ("minmax", "percentile", "mse")


def served(q: QuantizedMLP, images: np.ndarray, label: str, rows: dict[str, Any]) -> None:
    """Predictions of ``q`` on its default path (and on fake quant for integer schemes)."""
    rows[label] = q.predict(images).argmax(axis=1)
    if q.scheme.is_integer:
        rows[f"{label} (fake quant)"] = q.predict(images, path="fake_quant").argmax(axis=1)


def qat_rows(models: dict[int, MLP], data: Any, cal: np.ndarray) -> dict[str, dict[int, Any]]:
    out: dict[str, dict[int, Any]] = {}
    images = data.test.images
    for seed, model in models.items():
        rows: dict[str, Any] = {}
        for scheme in ("int4-per-channel", "int4-per-channel-asym", "int4-per-channel-a8"):
            for observer in OBSERVERS:
                served(quantize(model, cal, scheme, observer=observer), images,
                       f"{scheme} PTQ {observer}", rows)  # fmt: skip
            recipes: list[tuple[str, int, dict[str, Any]]] = [
                (f"QAT mse ranges lr 0.001 {e} ep", e, {}) for e in (1, 2, 5)
            ]
            recipes += [("QAT moving min/max lr 0.01 5 ep", 5, {"lr": 0.01})]
            for label, epochs, extra in recipes:
                fq = fake_quantized(model.copy(), scheme, learn_scales=extra.get("lsq", False))
                if "moving" not in label:
                    fq.calibrate(cal, "mse")
                qat_train(fq, data, epochs=epochs, lr=extra.get("lr", 0.001), seed=seed)
                served(export(fq, scheme), images, f"{scheme} {label}", rows)
            print(f"  {scheme} seed {seed} done ({time.strftime('%X')})", flush=True)
        for name, value in rows.items():
            out.setdefault(name, {})[seed] = value
    return out


def weight_rows(models: dict[int, MLP], data: Any, cal: np.ndarray) -> dict[str, dict[int, Any]]:
    out: dict[str, dict[int, Any]] = {}
    for seed, model in models.items():
        for bits in ("int4", "int3", "int2"):
            for group in ("", ":group=32", ":group=128"):
                scheme = f"{bits}-weight-only{group}"
                label = group[1:].replace("=", " ") if group else "per-channel"
                for method in ("rtn", "gptq"):
                    q = quantize(model, cal, scheme)
                    if method == "gptq":
                        refine(q, model, cal, method="gptq")
                    name = f"{bits} weight-only {method.upper()} {label}"
                    out.setdefault(name, {})[seed] = q.predict(data.test.images).argmax(axis=1)
            print(f"  {bits} seed {seed} done ({time.strftime('%X')})", flush=True)
    return out


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
                fq = fake_quantized(model.copy(), "int8-per-channel", accumulator=bits)
                qat_train(fq, data, epochs=1, lr=0.01, seed=seed)
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
    parser.add_argument(
        "--qat-bits", default="12,14,16,18,20", help="accumulators that also get A2Q QAT"
    )
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
