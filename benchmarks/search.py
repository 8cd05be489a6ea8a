"""The precision search on Fashion-MNIST, the book MLP trained in fp32, over seeds (README).

    python benchmarks/search.py --dir runs/search-bench --seeds 3
    python benchmarks/search.py --dir runs/search-bench --formats fp32,bf16,fp8_e4m3,int8,int4

For each seed it trains the book MLP in fp32 with 10,000 training images held out (``mixprec
train --validation 10000``; skipped when the model file exists), runs ``mixprec search`` on it
(wall time measured around the command, load average printed), and then prints: the seed-0
Pareto table, the chosen point of every seed (bytes as a fraction of uniform int8 and of fp32,
validation and test accuracy, McNemar's p against fp32), the best uniform assignment beside it,
and the per-layer sensitivity averaged over the seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _run(command: list[str]) -> tuple[str, float]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return done.stdout, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default="runs/search-bench", type=Path)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--formats", default="fp32,bf16,fp8_e4m3,int8,int4,mxfp4")
    parser.add_argument("--validation", default="10000", help="held-out training images")
    parser.add_argument("--tolerance", default="0.5")
    parser.add_argument("--jobs", default="2")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    mixprec = [sys.executable, "-m", "mixprec"]
    results = []
    for seed in range(args.seeds):
        model = args.dir / f"model{seed}.npz"
        if not model.exists():
            _run([*mixprec, "train", "--epochs", "10", "--seed", str(seed), "--validation",
                  args.validation, "--out", str(model), "--no-progress"])  # fmt: skip
        out = args.dir / f"search-{args.formats.replace(',', '_')}-seed{seed}"
        before = _load()
        stdout, seconds = _run([*mixprec, "search", str(model), "--formats", args.formats,
                                "--tolerance", args.tolerance, "--out", str(out), "--json",
                                "--jobs", args.jobs])  # fmt: skip
        result = json.loads(stdout.strip().splitlines()[-1])
        result["wall"], result["load"] = seconds, f"{before} -> {_load()}"
        results.append(result)
        if seed == 0:
            print(stdout.rsplit("\n", 2)[0].split("\nchosen:")[0], "\n")
    print(
        "| seed | evaluations | wall s | load (1, 5, 15 min) | chosen | bytes | / int8 | / fp32 "
        "| val % | test % | Δ test | p | best uniform | its bytes | its test % | its p |"
    )
    print("|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for seed, r in enumerate(results):
        base, c, u = r["baseline"], r["chosen"], r["best_uniform"] or {}
        int8 = 105_420  # uniform int8 of the book's MLP (mixprec.nn.cost)
        print(f"| {seed} | {r['evaluations']} | {r['wall']:.0f} | {r['load']} | `{c['policy']}` | "
              f"{c['cost_bytes']:,} | {c['cost_bytes'] / int8:.3f} | "
              f"{c['cost_bytes'] / base['cost_bytes']:.3f} | {100 * c['val_accuracy']:.2f} | "
              f"{100 * c['test_accuracy']:.2f} | "
              f"{100 * (c['test_accuracy'] - base['test_accuracy']):+.2f} | {c['p_value']:.3f} | "
              f"`{u.get('policy')}` | {u.get('cost_bytes', 0):,} | "
              f"{100 * u.get('test_accuracy', float('nan')):.2f} | "
              f"{u.get('p_value', float('nan')):.3f} |")  # fmt: skip
    fp32 = [100 * r["baseline"]["test_accuracy"] for r in results]
    print("\nfp32 test accuracy by seed: " + ", ".join(f"{a:.2f}" for a in fp32))
    rows: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for r in results:
        for row in r["sensitivity"]:
            db = np.inf if row["sqnr_db"] is None else row["sqnr_db"]
            rows.setdefault((row["layer"], row["candidate"]), []).append((db, row["drop_points"]))
    layers = sorted({k[0] for k in rows})
    print("\n| candidate | " + " | ".join(f"L{i} SQNR dB | L{i} drop pts" for i in layers) + " |")
    print("|---|" + "---:|" * (2 * len(layers)))
    for name in dict.fromkeys(k[1] for k in rows):
        cells = []
        for layer in layers:
            values = np.array(rows[(layer, name)])
            cells += [f"{values[:, 0].mean():.1f}", f"{values[:, 1].mean():+.2f}"]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
