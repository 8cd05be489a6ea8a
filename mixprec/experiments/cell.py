"""The work of one cell, run in a worker: train one model, serve it under every configuration.

``run_cell(cell)`` is a pure top-level function of a picklable ``Cell``, so local worker
processes and Dask workers can run it. The cell carries the dataset's name and directory, not its
arrays: each worker process loads the data once and keeps it (``dataset``).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import socket
import time
from datetime import datetime, timezone
from typing import Any

import numpy as np

from mixprec._util.version import __version__
from mixprec.experiments.serve import parse_serve, train_policy
from mixprec.experiments.store import encode_bits
from mixprec.experiments.sweep import Cell, CellOutput, Sweep, TrainedModel

__all__ = ["SCHEMA", "dataset", "run_cell", "versions"]

SCHEMA = 1  # version of the record layout


@functools.lru_cache(maxsize=2)
def dataset(name: str, data_dir: str | None, normalize: str) -> tuple[Any, str]:
    """The loaded dataset and a fingerprint of its test split, cached per process."""
    from mixprec.data import load

    data = load(name, data_dir=data_dir, normalize=normalize)
    digest = hashlib.sha256(data.test.labels.tobytes())
    digest.update(data.test.images.tobytes())
    return data, digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Versions of mixprec, numpy, ml_dtypes and Python."""
    import ml_dtypes

    return {
        "mixprec": __version__,
        "numpy": np.__version__,
        "ml_dtypes": ml_dtypes.__version__,
        "python": platform.python_version(),
    }


def _model(sweep: Sweep, seed: int) -> Any:
    from mixprec.nn import MLP

    return MLP.book(seed=seed) if sweep.model == "book" else MLP(sweep.sizes, seed=seed)


def _splits(sweep: Sweep) -> tuple[Any, Any, str]:
    data, fingerprint = dataset(sweep.dataset, sweep.data_dir, sweep.normalize)
    train = data.train if sweep.train_limit is None else data.train[: sweep.train_limit]
    test = data.test if sweep.test_limit is None else data.test[: sweep.test_limit]
    if sweep.test_limit is not None:
        digest = hashlib.sha256(test.labels.tobytes())
        digest.update(test.images.tobytes())
        fingerprint = digest.hexdigest()[:16]
    return train, test, fingerprint


def _events(evaluation: Any) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """The non-zero forward MAC event counts: in total, and by layer (``layer1``, ...)."""
    events = getattr(evaluation, "events", None) or {}
    total = {k: int(v) for k, v in events.get("forward", {}).items() if v}
    by_layer = {
        name.split(".")[0]: nonzero
        for name, counts in events.items()
        if name.endswith(".forward") and (nonzero := {k: int(v) for k, v in counts.items() if v})
    }
    return total, by_layer


def _trained(cell: Cell, train_split: Any) -> tuple[Any, TrainedModel]:
    """The cell's model: rebuilt from ``cell.trained``, or trained now."""
    from mixprec.nn import MLP
    from mixprec.train import train

    if cell.trained is not None:
        model = MLP.from_arrays(cell.trained.weights, cell.trained.biases)
        return model, cell.trained
    sweep = cell.sweep
    model = _model(sweep, cell.seed)
    start = time.perf_counter()
    history = train(
        model,
        train_split,
        policy=train_policy(cell.train),
        config=sweep.training.replace(seed=cell.seed),
        progress=False,
        eval_split=None,
    )
    trained = TrainedModel(
        weights=tuple(w.copy() for w in model.weights),
        biases=tuple(None if b is None else b.copy() for b in model.biases),
        training=_history_summary(history),
        train_time=round(time.perf_counter() - start, 4),
    )
    return model, trained


def run_cell(cell: Cell) -> CellOutput:
    """Train the cell's model (unless ``cell.trained`` has it), serve it under each entry.

    The model is also served at fp32 (the ``fp32`` preset) as the reference of ``agreement``
    (share of equal predictions) and ``logit_rel_error`` (``‖z − z_fp32‖ / ‖z_fp32‖``).

    Returns:
        A ``CellOutput``: one record (a JSON-ready dict, see ``mixprec.experiments.store``) per
        serve entry, and the trained model.
    """
    from mixprec.nn import Policy, evaluate

    sweep = cell.sweep
    train_split, test, fingerprint = _splits(sweep)
    policy = train_policy(cell.train)
    model, trained = _trained(cell, train_split)
    reference = evaluate(model, test, policy=Policy.preset("fp32"))
    ref_logits = np.asarray(reference.logits, dtype=np.float64)
    ref_norm = float(np.linalg.norm(ref_logits))
    records = []
    for text in cell.serve:
        config = parse_serve(text)
        start = time.perf_counter()
        if config.quantized is not None:  # ptq: and qat: entries
            served_model: Any = config.quantized.build(model, train_split, cell.seed)
            serving = config.quantized.serving(served_model)
            evaluation = evaluate(serving, test)
            served_policy = f"{served_model!r} {serving}"
        else:
            evaluation = evaluate(model, test, policy=config.policy)
            served_policy = str(config.policy)
        serve_time = time.perf_counter() - start
        predictions = np.asarray(evaluation.predictions)
        logits = np.asarray(evaluation.logits, dtype=np.float64)
        difference = logits - ref_logits
        events, events_by_layer = _events(evaluation)
        records.append(
            {
                "schema": SCHEMA,
                "key": sweep.key(cell.train, text, cell.seed),
                "experiment": sweep.name,
                "train": cell.train,
                "serve": text,
                "seed": cell.seed,
                "inputs": sweep.inputs(),
                "train_policy": str(policy),
                "serve_policy": served_policy,
                "serve_kind": config.kind,
                "accuracy": float(evaluation.accuracy),
                "loss": float(evaluation.loss),
                "n_test": int(len(predictions)),
                "correct": encode_bits(predictions == test.labels),
                "test_fingerprint": fingerprint,
                "agreement": float(np.mean(predictions == reference.predictions)),
                "logit_rel_error": float(np.linalg.norm(difference) / ref_norm)
                if ref_norm > 0
                else float(np.linalg.norm(difference)),
                "logit_max_abs_error": float(np.max(np.abs(difference), initial=0.0)),
                "events": events,
                "events_by_layer": events_by_layer,
                "training": trained.training,
                "train_time_s": trained.train_time,
                "model_reused": cell.trained is not None,
                "serve_time_s": round(serve_time, 4),
                "versions": versions(),
                "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")
                or os.environ.get("OMP_NUM_THREADS"),
                "host": f"{socket.gethostname()}:{os.getpid()}",
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        )
    return CellOutput(records, trained)


def _history_summary(history: Any) -> dict[str, Any]:
    """The training numbers worth keeping beside each record: final loss, skipped steps, ..."""
    return {
        "epochs": len(history.loss),
        "steps": int(history.steps),
        "final_loss": float(history.loss[-1]) if history.loss else None,
        "final_train_accuracy": (
            float(history.train_accuracy[-1]) if history.train_accuracy else None
        ),
        "skipped_steps": int(sum(history.skipped_steps)),
        "final_loss_scale": float(history.loss_scale[-1]) if history.loss_scale else None,
        "seconds": round(float(sum(history.seconds)), 4),
    }
