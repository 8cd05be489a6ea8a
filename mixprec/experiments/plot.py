"""The sweep's plot: accuracy by serve configuration, one series per train policy (matplotlib).

matplotlib is the optional extra ``plot``: without it ``plot_accuracy`` returns ``None`` and the
reports say ``PLOT_EXTRA_MESSAGE``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mixprec.experiments.report import Row

__all__ = ["FOCUS_POINTS", "PLOT_EXTRA_MESSAGE", "plot_accuracy"]

PLOT_EXTRA_MESSAGE = "plot skipped: matplotlib is not installed (pip install 'mixprec[plot]')"

FOCUS_POINTS = 5.0  # the plot zooms on configurations within this many points of the best


def plot_accuracy(rows: Sequence[Row], path: str | Path, title: str = "") -> Path | None:
    """Accuracy by serve configuration, one series per train policy, error bars of ±1 std.

    The y axis spans the configurations within ``FOCUS_POINTS`` of the best one, so that small
    differences stay visible; a configuration far below (an overflowing accumulator, say) is
    drawn as a triangle on the bottom edge, labelled with its accuracy.

    Returns:
        The PNG's path, or ``None`` when matplotlib is missing (optional extra ``plot``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    serves = list(dict.fromkeys(row.serve for row in rows))
    trains = list(dict.fromkeys(row.train for row in rows))
    means_all = [100 * r.accuracy[0] for r in rows if not math.isnan(r.accuracy[0])]
    best = max(means_all, default=100.0)
    focus = [
        (100 * r.accuracy[0], 100 * np.nan_to_num(r.accuracy[1]))
        for r in rows
        if 100 * r.accuracy[0] >= best - FOCUS_POINTS
    ]
    low = min((m - s for m, s in focus), default=0.0)
    high = max((m + s for m, s in focus), default=100.0)
    margin = max(0.2, 0.08 * (high - low))
    bottom, top = low - margin, high + margin
    width = 0.8 / max(1, len(trains))
    figure, axes = plt.subplots(figsize=(max(6.0, 1.1 * len(serves) + 2), 4.5))
    for i, train in enumerate(trains):
        series = {row.serve: row for row in rows if row.train == train}
        points = [
            (j + (i - (len(trains) - 1) / 2) * width, 100 * series[s].accuracy[0],
             100 * np.nan_to_num(series[s].accuracy[1]))
            for j, s in enumerate(serves) if s in series
        ]  # fmt: skip
        inside = [p for p in points if p[1] >= bottom]
        line = axes.errorbar(
            [p[0] for p in inside], [p[1] for p in inside], yerr=[p[2] for p in inside],
            fmt="o", capsize=3, label=f"train {train}",
        )  # fmt: skip
        for x, mean, _ in (p for p in points if p[1] < bottom):
            color = line.lines[0].get_color()
            axes.plot([x], [bottom], marker="v", color=color, clip_on=False, zorder=3)
            axes.annotate(f"{mean:.1f}", (x, bottom), textcoords="offset points",
                          xytext=(0, 6), ha="center", fontsize="x-small", color=color)  # fmt: skip
    axes.set_ylim(bottom, top)
    axes.set_xticks(range(len(serves)), serves, rotation=30, ha="right")
    axes.set_xlabel("serve configuration")
    axes.set_ylabel("test accuracy (%)")
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize="small")
    if title:
        axes.set_title(title, fontsize="medium")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
