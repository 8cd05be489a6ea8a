"""Per-layer sensitivity: how much one layer in one format hurts, the other layers in fp32.

For each layer ``l`` and candidate ``c``:

* **SQNR** of the layer's output, ``20 log10(‖y‖ / ‖y − ŷ‖)`` dB (:func:`sqnr`), where ``y`` is
  layer ``l``'s output before its ReLU in fp32 and ``ŷ`` the same layer served under ``c``,
  both from the *same* fp32 input (the fp32 model's output of layer ``l - 1`` on the validation
  split): the error this layer adds, not the error it inherits;
* **validation-accuracy drop**, in percentage points: the baseline's validation accuracy minus
  that of the assignment with only layer ``l`` in ``c`` (the search's own evaluation of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mixprec.experiments.search.forward import sqnr
from mixprec.nn.layered import layer_output

__all__ = ["layer_sqnr", "sensitivity_markdown", "sensitivity_table", "sqnr"]


def layer_sqnr(
    model: Any, images: np.ndarray, candidates: Sequence[str], baseline: str = "fp32",
    batch_size: int = 1000,
) -> list[dict[str, float]]:  # fmt: skip
    """Per layer, ``{candidate: SQNR in dB}`` of its output (see the module docstring)."""
    h = np.asarray(images, np.float32)
    out = []
    last = model.n_layers
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        reference = layer_output(baseline, i + 1, w, b, h, True, batch_size)
        out.append(
            {
                c: sqnr(reference, layer_output(c, i + 1, w, b, h, True, batch_size))
                for c in candidates
            }
        )
        if i + 1 < last:
            h = np.maximum(reference, 0, out=reference)
    return out


def sensitivity_table(
    model: Any, split: Any, candidates: Sequence[str], points: Sequence[Any], baseline: Any,
    batch_size: int = 1000,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per (layer, candidate): SQNR, the single-layer validation accuracy and drop.

    ``points`` are the search's evaluated points; a single-layer assignment it did not
    evaluate gets ``None`` for its accuracy and drop.
    """
    base_entry = baseline.assignment[0]
    by_assignment = {p.assignment: p for p in points}
    ratios = layer_sqnr(model, split.images, candidates, base_entry, batch_size)
    rows = []
    for layer, per_candidate in enumerate(ratios):
        for c, db in per_candidate.items():
            a = baseline.assignment[:layer] + (c,) + baseline.assignment[layer + 1 :]
            point = by_assignment.get(a)
            accuracy = None if point is None else point.val_accuracy
            rows.append(
                {
                    "layer": layer + 1,
                    "candidate": c,
                    "sqnr_db": db,
                    "val_accuracy": accuracy,
                    "drop_points": None
                    if accuracy is None
                    else 100 * (baseline.val_accuracy - accuracy),
                }
            )
    return rows


def sensitivity_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The table as Markdown: one row per candidate, SQNR and drop per layer."""
    layers = sorted({r["layer"] for r in rows})
    candidates = list(dict.fromkeys(r["candidate"] for r in rows))
    by = {(r["layer"], r["candidate"]): r for r in rows}
    head = " | ".join(f"L{layer} SQNR dB | L{layer} drop pts" for layer in layers)
    lines = [f"| candidate | {head} |", "|---|" + "---:|" * (2 * len(layers))]
    for c in candidates:
        cells = []
        for layer in layers:
            r = by.get((layer, c))
            db = (
                "—"
                if r is None
                else ("inf" if r["sqnr_db"] == float("inf") else f"{r['sqnr_db']:.1f}")
            )
            drop = "—" if r is None or r["drop_points"] is None else f"{r['drop_points']:+.2f}"
            cells += [db, drop]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
