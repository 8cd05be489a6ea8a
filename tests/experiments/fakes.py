"""A fake cell function: records shaped like ``run_cell``'s, without training anything.

Top-level and importable (``tests.experiments.fakes.fake_cell``) so worker processes can run it.
Set ``MIXPREC_FAKE_SLEEP`` (seconds) to make each cell take that long.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import numpy as np

from mixprec.experiments.store import encode_bits
from mixprec.experiments.sweep import Cell

N_TEST = 200
FAIL_TRAIN = "explode"  # a train entry whose cell raises


def fake_correct(train: str, serve: str, seed: int, n: int = N_TEST) -> np.ndarray:
    """Deterministic per-image correctness: about 90 %, 75 % for serve entries named 'bad*'."""
    base = np.random.default_rng([seed, 1]).random(n) < 0.9
    if serve == "fp32" and train == "fp32":
        return base
    digest = hashlib.sha256(f"{train}/{serve}/{seed}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    flip = rng.random(n) < (0.2 if serve.startswith("bad") else 0.02)
    return base ^ flip


def fake_cell(cell: Cell) -> list[dict[str, Any]]:
    """Records for each serve entry of the cell, after ``MIXPREC_FAKE_SLEEP`` seconds."""
    time.sleep(float(os.environ.get("MIXPREC_FAKE_SLEEP", "0")))
    if cell.train == FAIL_TRAIN:
        raise RuntimeError("this cell fails on purpose")
    sweep = cell.sweep
    reference = fake_correct(cell.train, "fp32", cell.seed)
    records = []
    for serve in cell.serve:
        correct = fake_correct(cell.train, serve, cell.seed)
        records.append(
            {
                "key": sweep.key(cell.train, serve, cell.seed),
                "train": cell.train,
                "serve": serve,
                "seed": cell.seed,
                "accuracy": float(correct.mean()),
                "loss": float(1 - correct.mean()),
                "n_test": N_TEST,
                "correct": encode_bits(correct),
                "test_fingerprint": "fake",
                "agreement": float((correct == reference).mean()),
                "logit_rel_error": 0.0 if serve == "fp32" else 0.01,
                "events": {"overflow": 5} if serve.startswith("bad") else {},
                "train_time_s": 0.0,
                "serve_time_s": 0.0,
                "host": f"pid {os.getpid()}",
                "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            }
        )
    return records
