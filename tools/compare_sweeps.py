"""Compare two sweep stores record by record and their trained models bit for bit.

    python tools/compare_sweeps.py BEFORE_DIR AFTER_DIR

Records are matched by key; when the key sets differ (a renamed setting changes the key
derivation), by (train, serve, seed), and the script says so. Per record it compares the
per-image correctness bitmask (``correct``), ``accuracy``, ``loss``, the logit errors, the
agreement and the training summary's final loss, steps and skipped steps; per model file (matched
by train policy and seed) every array, bit for bit. It prints ``identical`` or each difference,
and exits 1 when there is one. Timings, hosts, versions and dates are not compared.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

FIELDS = ("correct", "accuracy", "loss", "logit_max_abs_error", "logit_rel_error", "agreement")
TRAINING = ("final_loss", "final_train_accuracy", "final_loss_scale", "steps", "skipped_steps")


def _records(directory: Path) -> list[dict[str, Any]]:
    lines = (directory / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _index(records: list[dict[str, Any]], by_key: bool) -> dict[Any, dict[str, Any]]:
    if by_key:
        return {r["key"]: r for r in records}
    return {(r["train"], r["serve"], r["seed"]): r for r in records}


def compare_records(before: Path, after: Path) -> tuple[list[str], str]:
    """The differences between the records of two stores, and how records were matched."""
    old, new = _records(before), _records(after)
    by_key = {r["key"] for r in old} == {r["key"] for r in new}
    how = "by key" if by_key else "by (train, serve, seed): the key sets differ"
    a, b = _index(old, by_key), _index(new, by_key)
    problems = [f"record {k} only before" for k in sorted(set(a) - set(b), key=str)]
    problems += [f"record {k} only after" for k in sorted(set(b) - set(a), key=str)]
    for k in sorted(set(a) & set(b), key=str):
        x, y = a[k], b[k]
        name = f"{x['train']}/{x['serve']}/seed {x['seed']}"
        for field in FIELDS:
            if x.get(field) != y.get(field):
                problems.append(f"{name}: {field} {x.get(field)!r} -> {y.get(field)!r}")
        for field in TRAINING:
            p, q = x["training"].get(field), y["training"].get(field)
            if p != q:
                problems.append(f"{name}: training.{field} {p!r} -> {q!r}")
    return problems, how


def _models(directory: Path) -> dict[str, Path]:
    """Model files by ``<train>-seed<seed>`` (the key suffix of the name left out)."""
    return {p.name.rsplit("-", 1)[0]: p for p in sorted((directory / "models").glob("*.npz"))}


def compare_models(before: Path, after: Path) -> tuple[list[str], int]:
    """The differences between the arrays of the model files, and how many were compared."""
    a, b = _models(before), _models(after)
    problems = [f"model {k} only before" for k in sorted(set(a) - set(b))]
    problems += [f"model {k} only after" for k in sorted(set(b) - set(a))]
    for k in sorted(set(a) & set(b)):
        with np.load(a[k], allow_pickle=False) as x, np.load(b[k], allow_pickle=False) as y:
            arrays = sorted(n for n in set(x.files) | set(y.files) if n != "metadata")
            for n in arrays:
                if n not in x.files or n not in y.files:
                    problems.append(f"model {k}: array {n} in one file only")
                elif x[n].dtype != y[n].dtype or x[n].tobytes() != y[n].tobytes():
                    problems.append(f"model {k}: array {n} differs")
    return problems, len(set(a) & set(b))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    before, after = Path(argv[0]), Path(argv[1])
    records, how = compare_records(before, after)
    models, n_models = compare_models(before, after)
    n_records = len(_records(before))
    print(f"{n_records} records matched {how}; {n_models} model files compared array by array")
    problems = records + models
    for problem in problems:
        print(problem)
    print("identical" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
