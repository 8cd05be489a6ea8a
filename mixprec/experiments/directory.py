"""A sweep's output directory: what it holds, whose reports are whose, the trained models.

A directory records what it holds. ``sweep.json`` describes the directory's own sweep: the
first sweep that stored a result there (``runs/book`` belongs to the ``book`` experiment), or
a later one whose grid holds all of its grid (the same sweep, extended). Any other sweep that
stores results in the same directory (a sub-grid from the command line, other epochs, another
dataset) is recorded beside it, in ``sweep-<tag>.json``, and writes its reports beside the
directory's own: ``report-<tag>.md``, ``report-<tag>.csv``, ``accuracy-<tag>.png``, where
``<tag>`` is 8 hex digits of a hash of its grid's record keys. A sweep never writes over
another's reports, and a sweep that stored nothing (it could not start) writes no file at all.

Trained models are kept in ``models/<train>-seed<seed>-<key>.npz`` (``mixprec.nn.save`` files);
a model missing there (removed, or lost to a failed save) is trained again on the next run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mixprec.experiments.serve import train_policy
from mixprec.experiments.store import ResultStore, record_key
from mixprec.experiments.sweep import Cell, Sweep, TrainedModel

__all__ = [
    "SWEEP_FILE",
    "load_trained",
    "missing_models",
    "model_path",
    "record_sweep",
    "report_suffix",
    "save_model",
    "stored_dataset",
]

SWEEP_FILE = "sweep.json"


def _grid_keys(values: dict[str, Any]) -> frozenset[str] | None:
    """The record keys of a sweep given as ``Sweep.as_dict()``; ``None`` if it is not one."""
    try:
        sweep = Sweep.from_dict({k: v for k, v in values.items() if k != "name"})
    except (TypeError, ValueError):
        return None
    return frozenset(sweep.key(t, s, seed) for t, s, seed in sweep.grid())


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def report_suffix(sweep: Sweep, directory: str | Path) -> str:
    """``""`` when ``sweep`` is the directory's own, else ``"-<tag>"`` (see the module).

    The sweep is the directory's own when the directory has no ``sweep.json`` yet, or when the
    sweep's grid holds all of the one that ``sweep.json`` describes (the same sweep, or the
    same extended: it takes the directory over). When ``sweep.json`` cannot be read as a sweep
    (damaged, or written by another version), the sweep is the directory's own if its grid
    holds every stored record. Otherwise (a sub-grid, other settings) the suffix keeps the
    directory's own reports as they are.
    """
    path = Path(directory) / SWEEP_FILE
    keys = frozenset(sweep.key(t, s, seed) for t, s, seed in sweep.grid())
    if not path.exists():
        return ""
    owner = _read_json(path)
    owner_keys = None if owner is None else _grid_keys(owner)
    if owner_keys is None:  # unreadable (or from another version): own it if it holds only ours
        owner_keys = frozenset(record["key"] for record in ResultStore(Path(directory)).read())
    if owner_keys <= keys:
        return ""
    return "-" + record_key({"grid": sorted(keys)})[:8]


def record_sweep(sweep: Sweep, directory: str | Path, write: Callable[[Path, str], Any]) -> Path:
    """Write the sweep's description (``sweep.json``, or ``sweep-<tag>.json`` for a guest).

    Args:
        sweep: the sweep (dataset resolved).
        directory: its output directory.
        write: ``write(path, text)`` writes a file atomically.

    Returns:
        The file written.
    """
    path = Path(directory) / f"sweep{report_suffix(sweep, directory)}.json"
    write(path, json.dumps(sweep.as_dict(), indent=2) + "\n")
    return path


def stored_dataset(directory: str | Path) -> str | None:
    """The dataset the directory's own sweep ran on (from ``sweep.json``), if it says."""
    owner = _read_json(Path(directory) / SWEEP_FILE)
    dataset = None if owner is None else owner.get("dataset")
    return dataset if isinstance(dataset, str) and dataset != "auto" else None


# -- trained models ----------------------------------------------------------------------------


def model_path(directory: str | Path, sweep: Sweep, train: str, seed: int) -> Path:
    """Where a sweep keeps the model trained with ``train`` and ``seed``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", train)
    return Path(directory) / "models" / f"{name}-seed{seed}-{sweep.model_key(train, seed)[:8]}.npz"


def missing_models(sweep: Sweep, directory: str | Path, done: set[str]) -> list[Cell]:
    """Cells that only rebuild a model: every result of (train, seed) is stored, the model not."""
    cells = []
    for seed in sweep.seeds:
        for train in sweep.train:
            finished = all(sweep.key(train, serve, seed) in done for serve in sweep.serve)
            if finished and not model_path(directory, sweep, train, seed).is_file():
                cells.append(Cell(sweep=sweep, train=train, seed=seed, serve=()))
    return cells


def save_model(cell: Cell, trained: TrainedModel, directory: str | Path) -> Path:
    """Keep a trained model, so that serving it under more entries later needs no training.

    Raises:
        OSError: the file could not be written (the caller reports it; a later run rebuilds).
    """
    from mixprec.nn import MLP, save

    path = model_path(directory, cell.sweep, cell.train, cell.seed)
    path.parent.mkdir(exist_ok=True)
    metadata = {
        "training": trained.training,
        "train_time_s": trained.train_time,
        "seed": cell.seed,
        "sweep_inputs": cell.sweep.inputs(),
        "model_key": cell.sweep.model_key(cell.train, cell.seed),
    }
    model = MLP.from_arrays(trained.weights, trained.biases)
    save(model, path, policy=train_policy(cell.train), metadata=metadata)
    return path


def load_trained(cell: Cell, directory: str | Path, say: Callable[[str], None]) -> Cell:
    """The cell with its model from an earlier run, when one was kept."""
    path = model_path(directory, cell.sweep, cell.train, cell.seed)
    if not path.is_file():
        return cell
    from mixprec.nn import load

    try:
        model = load(path)
        metadata = model.metadata
        if metadata.get("model_key") != cell.sweep.model_key(cell.train, cell.seed):
            raise ValueError("it was trained with other settings")
        trained = TrainedModel(
            weights=tuple(model.weights),
            biases=tuple(model.biases),
            training=dict(metadata.get("training", {})),
            train_time=float(metadata.get("train_time_s", math.nan)),
        )
    except (ValueError, KeyError, TypeError, OSError) as error:
        say(f"{path}: not used ({error}); the model is trained again")
        return cell
    return dataclasses.replace(cell, trained=trained)
