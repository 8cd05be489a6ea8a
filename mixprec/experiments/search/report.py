"""Reports of a search: ``search.md`` (Pareto table, chosen point, sensitivity), ``search.csv``
(every evaluated point) and ``pareto.png`` (cost against validation accuracy; matplotlib, the
optional extra ``plot``)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from mixprec.experiments.plot import PLOT_EXTRA_MESSAGE
from mixprec.experiments.report import _p
from mixprec.experiments.search.run import SearchResult
from mixprec.experiments.search.sensitivity import sensitivity_markdown

__all__ = ["SearchReports", "pareto_markdown", "plot_pareto", "write_search_reports"]

CSV_FIELDS = [
    "policy", "on_front", "chosen", "cost_bytes", "bops", "activation_bytes", "val_accuracy",
    "test_accuracy", "p_value", "mcnemar_b", "mcnemar_c",
]  # fmt: skip


def _pct(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{100 * value:.2f}"


def pareto_markdown(result: SearchResult) -> str:
    """The Pareto front as a Markdown table, with the baseline and the best uniform point."""
    base = result.baseline
    lines = [
        "| policy | bytes | × fp32 | BOPs | val % | test % | Δ test pts | p (b/c) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    shown = [base, *[p for p in result.front if p is not base]]
    if result.best_uniform is not None and result.best_uniform not in shown:
        shown.append(result.best_uniform)
    for p in shown:
        marks = " (chosen)" if p is result.chosen else ""
        marks += " (fp32 baseline)" if p is base else ""
        marks += " (best uniform)" if p is result.best_uniform and p is not base else ""
        delta = (
            "—"
            if p.test_accuracy is None or base.test_accuracy is None
            else f"{100 * (p.test_accuracy - base.test_accuracy):+.2f}"
        )
        test = "—" if p.p_value is None else f"{_p(p.p_value)} ({p.b}/{p.c})"
        lines.append(
            f"| `{p.policy}`{marks} | {p.cost_bytes:,} | {p.cost_bytes / base.cost_bytes:.3f} | "
            f"{p.bops:,} | {_pct(p.val_accuracy)} | {_pct(p.test_accuracy)} | {delta} | {test} |"
        )
    return "\n".join(lines)


def plot_pareto(result: SearchResult, path: str | Path, title: str = "") -> Path | None:
    """Every point's cost against validation accuracy, the front joined, the chosen marked.

    Returns:
        The PNG's path, or ``None`` when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    objective = result.config.objective
    figure, axes = plt.subplots(figsize=(7.0, 4.5))
    xs = [p.objective(objective) for p in result.points]
    axes.scatter(xs, [100 * p.val_accuracy for p in result.points], s=10, color="0.7",
                 label="evaluated")  # fmt: skip
    front = result.front
    axes.plot([p.objective(objective) for p in front], [100 * p.val_accuracy for p in front],
              "o-", color="C0", label="Pareto front (validation)")  # fmt: skip
    for p, color, label in ((result.chosen, "C3", "chosen"), (result.baseline, "k", "fp32")):
        if p is not None:
            axes.plot([p.objective(objective)], [100 * p.val_accuracy], "*", ms=14, color=color,
                      label=f"{label}: {p.policy}")  # fmt: skip
    floor = 100 * result.baseline.val_accuracy - result.config.tolerance
    axes.axhline(
        floor, color="C3", lw=0.8, ls="--", label=f"fp32 − {result.config.tolerance:g} pts"
    )
    best = max(100 * p.val_accuracy for p in result.points)
    axes.set_ylim(max(min(100 * p.val_accuracy for p in front) - 0.5, best - 8), best + 0.3)
    axes.set_xscale("log")
    axes.set_xlabel("stored weight bytes" if objective == "bytes" else "BOPs per sample")
    axes.set_ylabel("validation accuracy (%)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="lower right")
    if title:
        axes.set_title(title, fontsize="medium")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _csv(result: SearchResult, path: Path) -> Path:
    on_front = {id(p) for p in result.front}
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(CSV_FIELDS)
        for p in sorted(
            result.points, key=lambda p: (p.objective(result.config.objective), p.policy)
        ):
            d = p.as_dict()
            writer.writerow(
                [p.policy, id(p) in on_front, p is result.chosen]
                + ["" if d[k] is None else d[k] for k in CSV_FIELDS[3:]]
            )
    return path


@dataclass
class SearchReports:
    """What :func:`write_search_reports` wrote."""

    markdown: str
    markdown_path: Path
    csv_path: Path
    plot_path: Path | None
    notes: list[str] = field(default_factory=list)


def _summary(result: SearchResult, preamble: str) -> list[str]:
    config, base, chosen = result.config, result.baseline, result.chosen
    lines = [
        preamble,
        f"Candidates per layer: {', '.join(config.candidates)}; objective {config.objective}; "
        f"tolerance {config.tolerance:g} points of validation accuracy below fp32; "
        f"{result.plan.method} search, {len(result.points)} validation evaluations "
        f"({result.ran} run now), {result.seconds:.1f} s.",
    ]
    if chosen is None:
        lines.append("No evaluated point is within the tolerance of the baseline.")
    else:
        int8 = next(
            (p for p in result.points if p.assignment == ("int8",) * len(p.assignment)), None
        )
        ratio = f"{chosen.cost_bytes / base.cost_bytes:.3f} of fp32's bytes"
        if int8 is not None:
            ratio += f", {chosen.cost_bytes / int8.cost_bytes:.3f} of uniform int8's"
        lines.append(f"Chosen: `{chosen.policy}`, {chosen.cost_bytes:,} B ({ratio}).")
    if result.best_uniform is not None:
        lines.append(
            f"Best uniform assignment within the tolerance: `{result.best_uniform.policy}`."
        )
    return [line for line in lines if line]


def write_search_reports(
    result: SearchResult, directory: str | Path, title: str = "Precision search", preamble: str = ""
) -> SearchReports:
    """Write ``search.md``, ``search.csv`` and ``pareto.png`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    notes = []
    plot_path = plot_pareto(result, directory / "pareto.png", title)
    if plot_path is None:
        notes.append(PLOT_EXTRA_MESSAGE)
    legend = (
        "bytes: stored weight bytes (codes packed along the reduction axis, scales, float32 "
        "biases; mixprec.nn.cost). BOPs: MACs x weight bits x activation bits per sample. "
        "val: the held-out validation split (which chose the front); test: the test split, "
        "which only confirms it. p: McNemar's test against fp32 on the test images (b/c: images "
        "only fp32 / only the row gets right), uncorrected for the number of rows."
    )
    parts = [f"# {title}", *_summary(result, preamble), "## Pareto front", pareto_markdown(result),
             legend, "## Per-layer sensitivity (validation; other layers fp32)",
             sensitivity_markdown(result.sensitivity)]  # fmt: skip
    text = "\n\n".join(parts) + "\n"
    markdown_path = directory / "search.md"
    markdown_path.write_text(text, encoding="utf-8")
    csv_path = _csv(result, directory / "search.csv")
    return SearchReports(text, markdown_path, csv_path, plot_path, notes)
