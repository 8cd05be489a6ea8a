"""The table of ``mixprec sweep tensor-cores``: each tensor-core row against ideal accumulation.

``mixprec sweep`` reports every row against fp32/fp32. This compares each tensor-core serve
entry ``IN->fp32:GPU[...]`` with the ideal MAC of the same input format (``IN->fp32``) on the
same trained models and test images: Δ is the mean over seeds of the accuracy difference, p is
McNemar's test on the discordant images pooled over the seeds. Usage::

    mixprec sweep tensor-cores --out runs/tc
    python tools/tensor_core_table.py runs/tc/results.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mixprec.experiments import mcnemar_counts
from mixprec.experiments.store import decode_bits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results.jsonl of the sweep")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    by_serve: dict[str, dict[int, dict]] = {}
    for r in records:
        by_serve.setdefault(r["serve"], {})[int(r["seed"])] = r
    print(f"{'serve':<34} {'accuracy %':>16} {'Δ vs ideal':>11} {'b':>4} {'c':>4} {'p':>8}")
    for serve, seeds in by_serve.items():
        accuracy = np.array([seeds[s]["accuracy"] for s in sorted(seeds)]) * 100
        spread = accuracy.std(ddof=1) if len(accuracy) > 1 else 0.0
        line = f"{serve:<34} {accuracy.mean():>8.2f} ± {spread:>4.2f}"
        head = serve.split(":")[0]
        ideal = by_serve.get(head) if serve != head and "->" in serve else None
        if ideal is None:
            print(line)
            continue
        deltas, b, c = [], 0, 0
        for s in sorted(seeds):
            mine, base = seeds[s], ideal[s]
            n = int(mine["n_test"])
            ok, ok_base = decode_bits(mine["correct"], n), decode_bits(base["correct"], n)
            deltas.append(100 * (mine["accuracy"] - base["accuracy"]))
            b += int(np.count_nonzero(ok_base & ~ok))
            c += int(np.count_nonzero(~ok_base & ok))
        test = mcnemar_counts(b, c)
        print(f"{line} {np.mean(deltas):>+11.2f} {b:>4} {c:>4} {test.p_value:>8.3g}")
    print("Δ, b, c, p: against the ideal MAC of the same input format (head of the entry)")


if __name__ == "__main__":
    main()
