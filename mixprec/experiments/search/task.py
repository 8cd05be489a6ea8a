"""The work of a search, in picklable pieces that local processes or Dask workers run.

A :class:`SearchTask` serves one model under a list of assignments on one split and returns one
record per assignment (a JSON-ready dict for :class:`mixprec.experiments.store.ResultStore`).
The search groups the assignments by their first layer's entry, so each task computes its
first layer once (see :mod:`mixprec.experiments.search.forward`).

The split travels as a :class:`DataSpec` (the dataset's name, directory and held-out
validation), loaded once per worker process, or as the ``Split`` itself (for data made in
memory; it is pickled with the task).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixprec.experiments.search.forward import serve_assignments
from mixprec.experiments.store import encode_bits, record_key
from mixprec.nn.layered import LayerPolicy

__all__ = [
    "SCHEMA",
    "DataSpec",
    "SearchTask",
    "fingerprint",
    "load_split",
    "run_task",
    "search_key",
]

SCHEMA = 1  # version of the search record layout


@dataclass(frozen=True)
class DataSpec:
    """Where a split comes from: ``mixprec.data.load(name, data_dir, validation=, seed=)``.

    Attributes:
        name: the dataset (``"fashion-mnist"``).
        data_dir: the directory of its IDX files, or ``None`` (the usual places).
        validation: training examples held out as the validation split.
        seed: the seed of the permutation that picks them.
        normalize: the model's input normalization.
        split: ``"validation"`` or ``"test"``.
    """

    name: str
    data_dir: str | None
    validation: int
    seed: int
    normalize: str
    split: str

    def __post_init__(self) -> None:
        if self.split not in ("validation", "test"):
            raise ValueError(f"split={self.split!r}: a search uses 'validation' or 'test'")

    def with_split(self, split: str) -> DataSpec:
        """The same data, another split."""
        return DataSpec(self.name, self.data_dir, self.validation, self.seed, self.normalize, split)


@functools.lru_cache(maxsize=2)
def _dataset(name: str, data_dir: str | None, validation: int, seed: int, normalize: str) -> Any:
    from mixprec.data import load

    return load(
        name, data_dir=data_dir, download=False, validation=validation, seed=seed,
        normalize=normalize,
    )  # fmt: skip


def load_split(spec: DataSpec | Any) -> Any:
    """The ``Split`` of a spec (cached per process), or the ``Split`` given."""
    if not isinstance(spec, DataSpec):
        return spec
    data = _dataset(spec.name, spec.data_dir, spec.validation, spec.seed, spec.normalize)
    split = getattr(data, spec.split)
    if split is None:
        raise ValueError(f"{spec.name} has no validation split: pass validation > 0")
    return split


def fingerprint(split: Any) -> str:
    """16 hex digits of SHA-256 over a split's labels and images (which examples were used)."""
    digest = hashlib.sha256(np.ascontiguousarray(split.labels).tobytes())
    digest.update(np.ascontiguousarray(split.images).tobytes())
    return digest.hexdigest()[:16]


def model_digest(weights: tuple[np.ndarray, ...], biases: tuple[np.ndarray | None, ...]) -> str:
    """16 hex digits of SHA-256 over a model's parameters (which model was served)."""
    digest = hashlib.sha256()
    for array in (*weights, *biases):
        digest.update(b"none" if array is None else np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def search_key(model: str, data: str, split: str, policy: str, batch_size: int) -> str:
    """The store key of one evaluation: the model, the data, the split, the policy, the batch."""
    return record_key(
        {
            "kind": "search",
            "model": model,
            "data": data,
            "split": split,
            "policy": policy,
            "batch_size": batch_size,
        }
    )


@dataclass(frozen=True)
class SearchTask:
    """Serve a model under ``assignments`` on a split: the unit the executors run.

    Attributes:
        weights, biases: the float model.
        model: its digest; data: the split's fingerprint (both part of each record's key).
        split: ``"validation"`` or ``"test"``; source: a ``DataSpec`` or the ``Split``.
        assignments: entry tuples, one entry per layer.
        batch_size: the serving batch (per-tensor activation scales are per batch).
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray | None, ...]
    model: str
    data: str
    split: str
    source: Any
    assignments: tuple[tuple[str, ...], ...]
    batch_size: int = 1000

    def __str__(self) -> str:
        first = self.assignments[0][0] if self.assignments else "-"
        return f"{self.split} layer 1 = {first} ({len(self.assignments)} policies)"


def run_task(task: SearchTask) -> list[dict[str, Any]]:
    """The records of a task (a top-level function, so workers can run it)."""
    split = load_split(task.source)
    served = serve_assignments(
        list(task.weights), list(task.biases), split.images, split.labels,
        list(task.assignments), task.batch_size,
    )  # fmt: skip
    records = []
    for result in served:
        policy = str(LayerPolicy.uniform(result.assignment))
        records.append(
            {
                "schema": SCHEMA,
                "key": search_key(task.model, task.data, task.split, policy, task.batch_size),
                "kind": "search",
                "policy": policy,
                "assignment": list(result.assignment),
                "split": task.split,
                "model": task.model,
                "data": task.data,
                "batch_size": task.batch_size,
                "accuracy": result.accuracy,
                "loss": result.loss,
                "n": int(len(result.correct)),
                "correct": encode_bits(result.correct),
            }
        )
    return records
