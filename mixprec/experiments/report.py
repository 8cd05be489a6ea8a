"""Reports of a sweep: a Markdown table, a CSV file and a PNG plot, from the stored records.

One row per (train policy, serve configuration), over the seeds present:

- ``accuracy``: mean ± sample standard deviation over the seeds, in percent.
- ``Δ``: the mean over seeds of (accuracy − baseline accuracy of the same seed), in points. The
  baseline is the model trained at fp32 and served at fp32 (``baseline="fp32/fp32"``).
- ``p``: McNemar's test of the row against the baseline on the same test images, **pooled**: the
  discordant pairs (``b``: baseline right, row wrong; ``c``: the reverse) are summed over the
  seeds that have both, then tested once (``mixprec.experiments.significance``). Stars mark
  ``p < 0.05`` (*), ``< 0.01`` (**), ``< 0.001`` (***), with no correction for the number of
  rows compared. ``sig`` counts the seeds whose own test gives ``p < 0.05``.
  For a row with another train policy the test compares the classifiers actually trained; it
  cannot tell the effect of precision from the run-to-run variation of training, which the
  standard deviation over seeds shows.
- ``Δ serve``, ``p serve``: the same comparison against the same train policy served at fp32
  (the baseline's serve entry), seed by seed: the same trained model, so this isolates the
  effect of serving, and is the more sensitive test.
- ``agree``: share of test images where the row's prediction equals that of the same trained
  model served at fp32; ``logit err``: ``‖z − z_fp32‖ / ‖z_fp32‖`` over all test logits of the
  same model.
- ``events``: the serving events reported by ``mixprec.nn.evaluate`` (accumulator overflows,
  saturations, ...), mean over seeds, when any is non-zero.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mixprec._util.files import atomic_write_text
from mixprec.experiments.plot import PLOT_EXTRA_MESSAGE, plot_accuracy
from mixprec.experiments.significance import McNemar, mcnemar, mcnemar_counts, mean_std
from mixprec.experiments.store import decode_bits

__all__ = [
    "PLOT_EXTRA_MESSAGE",
    "Comparison",
    "Reports",
    "Row",
    "markdown_table",
    "plot_accuracy",
    "summarize",
    "write_csv",
    "write_reports",
]

ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """A row against a reference configuration, seed by seed on the same test images.

    Attributes:
        delta: mean and std over seeds of (row accuracy − reference accuracy).
        test: McNemar's test on the discordant pairs pooled over the seeds.
        significant_seeds: seeds whose own McNemar test gives p < 0.05.
        seeds: seeds compared (present in both).
    """

    delta: tuple[float, float]
    test: McNemar
    significant_seeds: int
    seeds: int

    @property
    def stars(self) -> str:
        """``*``, ``**`` or ``***`` for p below 0.05, 0.01, 0.001; empty otherwise."""
        return "*" * sum(self.test.p_value < a for a in (0.05, 0.01, 0.001))


@dataclass
class Row:
    """The summary of one (train, serve) configuration over its seeds (see the module doc).

    ``baseline`` compares with the baseline configuration (fp32/fp32); ``serving`` with the
    same train policy served at the baseline's serve entry (fp32): the effect of serving alone.
    Either is ``None`` when its reference is missing from the records.
    """

    train: str
    serve: str
    seeds: list[int]
    accuracy: tuple[float, float]  # mean, std (fractions)
    loss: tuple[float, float]
    agreement: tuple[float, float]
    logit_error: tuple[float, float]
    baseline: Comparison | None = None
    serving: Comparison | None = None
    events: dict[str, float] = field(default_factory=dict)
    train_time: float = math.nan
    serve_time: float = math.nan


def _correct(record: dict[str, Any]) -> np.ndarray:
    return decode_bits(record["correct"], int(record["n_test"]))


def _first_seen(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def summarize(
    records: Sequence[dict[str, Any]],
    train_order: Sequence[str] | None = None,
    serve_order: Sequence[str] | None = None,
    baseline: str = "fp32/fp32",
) -> list[Row]:
    """One ``Row`` per (train, serve) present in ``records``, train-major, in the given orders.

    Args:
        records: store records (``ResultStore.read()``); later duplicates of a key are ignored.
        train_order, serve_order: row order; names absent from them follow in record order.
        baseline: ``"TRAIN/SERVE"`` of the reference configuration for Δ and p.

    Raises:
        ValueError: a malformed ``baseline``, or paired records measured on different test
            sets (their ``test_fingerprint`` differs).
    """
    base_train, sep, base_serve = baseline.partition("/")
    if not sep:
        raise ValueError(f"baseline must be 'TRAIN/SERVE' such as 'fp32/fp32', got {baseline!r}.")
    by_config: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for record in records:
        by_config.setdefault((record["train"], record["serve"]), {}).setdefault(
            int(record["seed"]), record
        )
    trains = _first_seen([*(train_order or []), *(t for t, _ in by_config)])
    serves = _first_seen([*(serve_order or []), *(s for _, s in by_config)])
    rows = []
    for train in trains:
        for serve in serves:
            per_seed = by_config.get((train, serve))
            if not per_seed:
                continue
            row = _row(train, serve, per_seed)
            row.baseline = _compare(per_seed, by_config.get((base_train, base_serve), {}))
            row.serving = _compare(per_seed, by_config.get((train, base_serve), {}))
            rows.append(row)
    return rows


def _row(train: str, serve: str, per_seed: dict[int, dict[str, Any]]) -> Row:
    recs = [per_seed[s] for s in sorted(per_seed)]
    names = sorted({name for r in recs for name in r.get("events", {})})
    return Row(
        train=train,
        serve=serve,
        seeds=sorted(per_seed),
        accuracy=mean_std([r["accuracy"] for r in recs]),
        loss=mean_std([r["loss"] for r in recs]),
        agreement=mean_std([r["agreement"] for r in recs]),
        logit_error=mean_std([r["logit_rel_error"] for r in recs]),
        events={
            name: float(np.mean([r.get("events", {}).get(name, 0) for r in recs])) for name in names
        },
        train_time=float(np.mean([r.get("train_time_s", math.nan) for r in recs])),
        serve_time=float(np.mean([r.get("serve_time_s", math.nan) for r in recs])),
    )


def _compare(
    per_seed: dict[int, dict[str, Any]], reference: dict[int, dict[str, Any]]
) -> Comparison | None:
    """The records of one configuration against a reference's, seed by seed; pooled test."""
    paired = [seed for seed in sorted(per_seed) if seed in reference]
    if not paired:
        return None
    deltas, b, c, significant = [], 0, 0, 0
    for seed in paired:
        ours, theirs = per_seed[seed], reference[seed]
        if ours.get("test_fingerprint") != theirs.get("test_fingerprint"):
            raise ValueError(
                f"seed {seed}: {ours['train']}/{ours['serve']} and {theirs['train']}/"
                f"{theirs['serve']} were evaluated on different test sets (test_fingerprint "
                "differs); keep one dataset per output directory."
            )
        deltas.append(ours["accuracy"] - theirs["accuracy"])
        test = mcnemar(_correct(theirs), _correct(ours))
        b, c = b + test.b, c + test.c
        significant += test.is_significant(ALPHA)
    return Comparison(mean_std(deltas), mcnemar_counts(b, c), significant, len(paired))


# -- text --------------------------------------------------------------------------------------


def _pct(value: tuple[float, float], digits: int = 2) -> str:
    mean, std = value
    if math.isnan(mean):
        return "—"
    text = f"{100 * mean:.{digits}f}"
    return text if math.isnan(std) else f"{text} ± {100 * std:.{digits}f}"


def _number(value: float) -> str:
    if value == 0 or math.isnan(value):
        return f"{value:g}"
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e5 else f"{value:.2e}"


def _p(value: float) -> str:
    if value == 0:  # below the smallest float64
        return "<1e-300"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def _events(events: dict[str, float]) -> str:
    shown = [f"{name} {_number(value)}" for name, value in events.items() if value]
    return ", ".join(shown) if shown else ""


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (see the module doc for the columns)."""
    lines = [
        "| train | serve | seeds | accuracy % | Δ pts | p (b/c) | sig | Δ serve pts | p serve "
        "| agree % | logit err | events |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        base, serving = row.baseline, row.serving
        cells = ["—"] * 5
        if base is not None:
            cells[:3] = [
                f"{100 * base.delta[0]:+.2f}{base.stars}",
                f"{_p(base.test.p_value)} ({base.test.b}/{base.test.c})",
                f"{base.significant_seeds}/{base.seeds}",
            ]
        if serving is not None:
            cells[3:] = [f"{100 * serving.delta[0]:+.2f}{serving.stars}", _p(serving.test.p_value)]
        lines.append(
            f"| {row.train} | {row.serve} | {len(row.seeds)} | {_pct(row.accuracy)} | "
            + " | ".join(cells)
            + f" | {_pct(row.agreement)} | {_number(row.logit_error[0])} | {_events(row.events)} |"
        )
    return "\n".join(lines)


CSV_FIELDS = [
    "train", "serve", "seeds", "accuracy_mean", "accuracy_std", "loss_mean", "loss_std",
    "delta_mean", "delta_std", "mcnemar_b", "mcnemar_c", "p_value", "test", "significant_seeds",
    "compared_seeds", "serve_delta_mean", "serve_delta_std", "serve_mcnemar_b",
    "serve_mcnemar_c", "serve_p_value", "serve_significant_seeds", "agreement_mean",
    "agreement_std", "logit_rel_error_mean", "train_time_s_mean", "serve_time_s_mean",
]  # fmt: skip


def _comparison_cells(comparison: Comparison | None, seeds: bool) -> list[Any]:
    if comparison is None:
        return [""] * (8 if seeds else 6)
    test = comparison.test
    cells: list[Any] = [*comparison.delta, test.b, test.c, test.p_value]
    cells += (
        [test.method, comparison.significant_seeds, comparison.seeds]
        if seeds
        else [comparison.significant_seeds]
    )
    return cells


def write_csv(rows: Sequence[Row], path: str | Path) -> Path:
    """The rows as CSV (fractions, not percent; ``events.NAME`` columns for every event)."""
    path = Path(path)
    event_names = sorted({name for row in rows for name in row.events})
    file = io.StringIO(newline="")
    writer = csv.writer(file)
    writer.writerow(CSV_FIELDS + [f"events.{name}" for name in event_names])
    for row in rows:
        writer.writerow(
            [
                row.train, row.serve, " ".join(map(str, row.seeds)), *row.accuracy, *row.loss,
                *_comparison_cells(row.baseline, True),
                *_comparison_cells(row.serving, False),
                *row.agreement, row.logit_error[0], row.train_time, row.serve_time,
                *(row.events.get(name, 0) for name in event_names),
            ]
        )  # fmt: skip
    return atomic_write_text(path, file.getvalue())


# -- all of it ---------------------------------------------------------------------------------


@dataclass
class Reports:
    """What ``write_reports`` wrote: the Markdown text and the files."""

    markdown: str
    markdown_path: Path
    csv_path: Path
    plot_path: Path | None
    notes: list[str] = field(default_factory=list)


def write_reports(
    rows: Sequence[Row],
    directory: str | Path,
    title: str,
    preamble: Sequence[str] = (),
    baseline: str = "fp32/fp32",
    suffix: str = "",
) -> Reports:
    """Write ``report.md``, ``report.csv`` and ``accuracy.png`` (when matplotlib is present).

    Args:
        rows: from ``summarize``.
        directory: where to write.
        title: the report's heading and the plot's title.
        preamble: lines written between the heading and the table.
        baseline: the ``summarize`` baseline, named in the legend.
        suffix: put in each file name (``report-1a2b3c4d.md`` for ``"-1a2b3c4d"``), so that
            a sweep other than the directory's own writes beside its reports.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    notes = []
    plot_path = plot_accuracy(rows, directory / f"accuracy{suffix}.png", title) if rows else None
    if rows and plot_path is None:
        notes.append(PLOT_EXTRA_MESSAGE)
    legend = (
        f"Δ: accuracy minus the {baseline} baseline (train/serve) of the same seed, mean over "
        "seeds. "
        "p: McNemar's test against the baseline on the same test images, with the discordant "
        "pairs (b/c: images only the baseline gets right / only the row gets right) pooled over "
        "seeds; exact binomial below 25 discordant pairs, else chi-square with continuity "
        "correction; * p<0.05, ** p<0.01, *** p<0.001, uncorrected for multiple comparisons. "
        "sig: seeds whose own test gives p<0.05. A row trained with another policy is another "
        "model: its Δ mixes the effect of precision with the run-to-run variation of training "
        "(compare with the std over seeds). Δ serve, p serve: the same, against the same "
        "trained model served at fp32 (the effect of serving alone). agree, logit err: against "
        "that model too. events: serving events (e.g. accumulator overflows), mean per seed."
    )
    text = "\n\n".join([f"# {title}", *preamble, markdown_table(rows), legend]) + "\n"
    markdown_path = directory / f"report{suffix}.md"
    atomic_write_text(markdown_path, text)
    csv_path = write_csv(rows, directory / f"report{suffix}.csv")
    return Reports(text, markdown_path, csv_path, plot_path, notes)
