"""The README's tables below 8 bits, from a ``mixprec sweep quantization`` report.

Run::

    mixprec sweep quantization --out DIR
    python tools/quant_tables.py DIR/report.csv

Each cell is the sweep's Δ in points against the same seeds' fp32 models (mean over seeds) and
McNemar's p on the pooled paired predictions; accumulator cells add the serving MAC's wraps
(mean per seed, every layer and test image). A row the sweep did not run prints ``—``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

MSE = "qat:{scheme},observer=mse"
W4 = [  # (row label, serve entry with {scheme})
    ("PTQ, min-max", "ptq:{scheme},observer=minmax"),
    ("PTQ, percentile 99.99", "ptq:{scheme},observer=percentile"),
    ("PTQ, MSE", "ptq:{scheme},observer=mse"),
    ("QAT from the MSE ranges, lr 0.001, 1 epoch", MSE + ",epochs=1"),
    ("… 2 epochs", MSE + ",epochs=2"),
    ("… 5 epochs", MSE + ",epochs=5"),
    ("QAT from the MSE ranges, lr 0.01, 10 epochs", MSE + ",lr=0.01,epochs=10"),
    ("QAT from the MSE ranges + LSQ, lr 0.01, 2 epochs", MSE + ",lsq,lr=0.01,epochs=2"),
    ("… 5 epochs", MSE + ",lsq,lr=0.01,epochs=5"),
    ("… 10 epochs", MSE + ",lsq,lr=0.01,epochs=10"),
    ("QAT from moving min/max, lr 0.01, 5 epochs", "qat:{scheme},lr=0.01,epochs=5"),
]
W4_SCHEMES = {"W4A4": "int4-per-channel", "W4A4 asymmetric": "int4-per-channel-asym",
              "W4A8": "int4-per-channel-a8"}  # fmt: skip
WEIGHT_ONLY = [
    ("RTN per channel", "ptq:{bits}-weight-only"),
    ("RTN groups of 32", "ptq:{bits}-weight-only:group=32"),
    ("RTN groups of 128", "ptq:{bits}-weight-only:group=128"),
    ("GPTQ per channel", "ptq:{bits}-weight-only,method=gptq"),
    ("GPTQ groups of 32", "ptq:{bits}-weight-only:group=32,method=gptq"),
    ("GPTQ groups of 128", "ptq:{bits}-weight-only:group=128,method=gptq"),
]
WRAP = ",mac=int8->int{p}:wrap"
ACCUMULATORS = [
    ("plain PTQ", "ptq:int8-per-channel" + WRAP),
    ("A2Q+ PTQ", "ptq:int8-per-channel,accumulator=int{p}" + WRAP),
    ("A2Q+ QAT, 1 epoch", "qat:int8-per-channel,accumulator=int{p},epochs=1,lr=0.01" + WRAP),
]


def fmt_p(p: float) -> str:
    """McNemar's p as the report prints it, with a typographic minus."""
    if p < 1e-300:
        return "<1e−300"
    text = f"{p:.2g}" if p < 0.001 else f"{p:.3f}".rstrip("0").rstrip(".")
    return text.replace("e-0", "e−").replace("e-", "e−")


def cell(row: dict[str, str] | None, wraps: bool = False) -> str:
    """``Δ (p)`` of one report row (``—`` when the sweep did not run it), and its wraps."""
    if row is None:
        return "—"
    delta = 100 * float(row["delta_mean"])
    text = f"{delta:+.2f} ({fmt_p(float(row['p_value']))})".replace("-", "−")
    if wraps:
        w = float(row.get("events.wraps") or 0)
        text += " / " + (f"{w / 1e6:.3g}M" if w >= 1e6 else f"{w:,.0f}")
    return text


def table(
    head: str,
    columns: dict[str, str],
    rows: list[tuple[str, str]],
    by: dict[str, dict[str, str]],
    key: str,
    wraps: bool = False,
) -> list[str]:
    """A Markdown table: one column per ``columns`` value put into each row's entry as ``key``."""
    lines = [f"| {head} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label, pattern in rows:
        cells = [cell(by.get(pattern.format(**{key: v})), wraps) for v in columns.values()]
        if any(c != "—" for c in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def main(path: Path) -> None:
    with path.open(newline="") as handle:
        by = {row["serve"]: row for row in csv.DictReader(handle) if row["train"] == "fp32"}
    widths = {b: b for b in ("int4", "int3", "int2")}
    ps = {("P = 12" if p == 12 else str(p)): str(p) for p in (12, 14, 16, 18, 20, 32)}
    out = table("W4 per channel, activations per tensor: Δ (p), integer-only", W4_SCHEMES, W4,
                by, "scheme")  # fmt: skip
    out += [""] + table("weight-only (float activations): Δ (p)", widths, WEIGHT_ONLY, by, "bits")
    out += [""] + table("int8 per channel, served `int8->intP:wrap`: Δ (p) / wraps per seed",
                        ps, ACCUMULATORS, by, "p", wraps=True)  # fmt: skip
    fp32 = by["fp32"]
    mean, std = 100 * float(fp32["accuracy_mean"]), 100 * float(fp32["accuracy_std"])
    print(f"fp32: {mean:.2f} ± {std:.2f} %")
    print("\n".join(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
