"""Reports from a small hand-made store: the numbers, the Markdown table, CSV and plot."""

from __future__ import annotations

import builtins
import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mixprec.experiments.report import (
    PLOT_EXTRA_MESSAGE,
    markdown_table,
    summarize,
    write_reports,
)
from mixprec.experiments.store import encode_bits


def record(train: str, serve: str, seed: int, correct: list[int], **extra: Any) -> dict:
    flags = np.array(correct, dtype=bool)
    return {
        "key": f"{train}/{serve}/{seed}",
        "train": train,
        "serve": serve,
        "seed": seed,
        "accuracy": float(flags.mean()),
        "loss": 0.5,
        "n_test": len(flags),
        "correct": encode_bits(flags),
        "test_fingerprint": "t",
        "agreement": extra.pop("agreement", 1.0),
        "logit_rel_error": extra.pop("logit_rel_error", 0.0),
        "events": extra.pop("events", {}),
        **extra,
    }


BASE = [[1, 1, 1, 1, 0, 1, 1, 1, 0, 1], [1, 1, 0, 1, 1, 1, 1, 1, 1, 0]]  # 8/10, 8/10
INT8 = [[1, 0, 0, 1, 0, 1, 1, 0, 0, 1], [0, 1, 0, 1, 1, 0, 1, 0, 1, 0]]  # 5/10, 5/10


@pytest.fixture
def records() -> list[dict]:
    out = []
    for seed in (0, 1):
        out.append(record("fp32", "fp32", seed, BASE[seed]))
        out.append(record("fp32", "int8", seed, INT8[seed], agreement=0.7,
                          logit_rel_error=0.02, events={"overflow": 10 * (seed + 1)}))  # fmt: skip
    out.append(record("bf16", "fp32", 0, BASE[0]))  # one seed only
    return out


def test_summary_numbers(records: list[dict]) -> None:
    rows = summarize(records, train_order=["fp32", "bf16"], serve_order=["fp32", "int8"])
    assert [(r.train, r.serve) for r in rows] == [("fp32", "fp32"), ("fp32", "int8"),
                                                   ("bf16", "fp32")]  # fmt: skip
    base, int8, bf16 = rows
    assert base.accuracy == (0.8, 0.0) and base.baseline.delta == (0.0, 0.0)
    assert base.baseline.test.p_value == 1.0 and base.serving == base.baseline
    assert int8.accuracy[0] == pytest.approx(0.5)
    assert int8.baseline.delta[0] == pytest.approx(-0.3)
    # baseline right, int8 wrong: seed 0 at images 1, 2, 7; seed 1 at 0, 5, 7; never the reverse
    test = int8.baseline.test
    assert (test.b, test.c) == (6, 0)
    assert test.method == "exact" and test.p_value == pytest.approx(2 / 64)
    assert int8.baseline.seeds == 2 and int8.baseline.significant_seeds == 0  # p = 0.25 each
    assert int8.serving == int8.baseline  # trained at fp32: the same reference
    assert int8.events == {"overflow": 15.0} and int8.agreement[0] == 0.7
    assert bf16.seeds == [0] and np.isnan(bf16.accuracy[1]) and bf16.baseline.delta[0] == 0.0
    assert bf16.serving.seeds == 1 and bf16.serving.test.discordant == 0


def test_no_baseline_means_no_test(records: list[dict]) -> None:
    rows = summarize([r for r in records if r["serve"] != "fp32"])
    assert rows[0].baseline is None and rows[0].serving is None
    assert "| fp32 | int8 | 2 | 50.00 ± 0.00 | — | — | — | — | — |" in markdown_table(rows)
    with pytest.raises(ValueError, match="TRAIN/SERVE"):
        summarize(records, baseline="fp32")


def test_different_test_sets_are_refused(records: list[dict]) -> None:
    records[1]["test_fingerprint"] = "other"
    with pytest.raises(ValueError, match="different test sets"):
        summarize(records)


def test_markdown_csv_plot(records: list[dict], tmp_path: Path) -> None:
    rows = summarize(records)
    reports = write_reports(rows, tmp_path, "Sweep t", ["a preamble line"])
    text = reports.markdown
    assert text.startswith("# Sweep t\n\na preamble line\n\n| train | serve |")
    assert (
        "| fp32 | int8 | 2 | 50.00 ± 0.00 | -30.00* | 0.031 (6/0) | 0/2 | -30.00* | 0.031 "
        "| 70.00 ± 0.00 |" in text
    )
    assert "overflow 15" in text and "McNemar" in text
    assert reports.markdown_path.read_text() == text
    with open(reports.csv_path, newline="") as file:
        table = list(csv.DictReader(file))
    assert [(r["train"], r["serve"]) for r in table] == [("fp32", "fp32"), ("fp32", "int8"),
                                                          ("bf16", "fp32")]  # fmt: skip
    assert float(table[1]["delta_mean"]) == pytest.approx(-0.3)
    assert table[1]["mcnemar_b"] == "6" and table[1]["events.overflow"] == "15.0"
    assert table[2]["p_value"] == "1.0" and table[2]["seeds"] == "0"
    assert table[1]["serve_mcnemar_b"] == "6" and table[0]["serve_p_value"] == "1.0"
    assert reports.plot_path is not None and reports.plot_path.read_bytes()[:4] == b"\x89PNG"


def test_plot_skipped_without_matplotlib(
    records: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    reports = write_reports(summarize(records), tmp_path, "t")
    assert reports.plot_path is None and not (tmp_path / "accuracy.png").exists()
    assert reports.notes == [PLOT_EXTRA_MESSAGE] and "mixprec[plot]" in PLOT_EXTRA_MESSAGE
