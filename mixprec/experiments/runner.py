"""Run a sweep: check it, skip what the store holds, run the rest, store results as they come.

The parent process does all the writing: each finished cell's records are appended to the store
(``results.jsonl``) at once, so stopping a sweep (Ctrl-C, ``kill -9``, a crash) loses only the
cells that were running. Running the same sweep again resumes it. Each trained model is kept in
``models/`` (a ``mixprec.nn.save`` file, loadable by ``mixprec.nn.load``): serving it under
entries added to the sweep later needs no training. When the grid is done the reports are
written (``report.md``, ``report.csv``, ``accuracy.png``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixprec._util.files import atomic_write_text
from mixprec._util.progress import progress_bar
from mixprec.experiments.executors import Executor, LocalExecutor, Outcome
from mixprec.experiments.report import Reports, Row, summarize, write_reports
from mixprec.experiments.serve import train_cost, train_policy
from mixprec.experiments.store import ResultStore, StoreProblem
from mixprec.experiments.sweep import Cell, CellOutput, Sweep, TrainedModel

__all__ = [
    "SweepResult",
    "default_out",
    "model_path",
    "report_sweep",
    "resolve_dataset",
    "run_sweep",
]


def default_out(sweep: Sweep) -> Path:
    """The default output directory of a sweep: ``runs/<name>``."""
    return Path("runs") / sweep.name


def resolve_dataset(
    sweep: Sweep, download: bool = True, echo: Callable[[str], None] | None = None
) -> Sweep:
    """Replace ``dataset="auto"``: Fashion-MNIST when present, else MNIST (downloaded if possible).

    The data is looked for as ``mixprec.data.find`` does (``sweep.data_dir`` alone when set).
    MNIST is downloaded into the cache only when ``download`` is true and no ``data_dir`` is set.

    Raises:
        DataNotFoundError: neither is present nor downloadable; the message says how to get each.
    """
    from mixprec.data import DataNotFoundError, find
    from mixprec.data import download as fetch
    from mixprec.data.locate import how_to_get

    if sweep.dataset != "auto":
        return sweep
    for name in ("fashion-mnist", "mnist"):
        if find(name, sweep.data_dir) is not None:
            return sweep.replace(dataset=name)
    if download and sweep.data_dir is None:
        if echo is not None:
            echo("neither Fashion-MNIST nor MNIST found; trying to download MNIST")
        try:
            fetch("mnist", progress=echo is not None, timeout=10.0)
        except (OSError, ValueError):
            pass
        else:
            return sweep.replace(dataset="mnist")
    raise DataNotFoundError(
        "this sweep needs Fashion-MNIST or MNIST, and neither was found"
        + (" nor could MNIST be downloaded" if download and sweep.data_dir is None else "")
        + ".\n  "
        + how_to_get("fashion-mnist", sweep.data_dir)
        + "\n  "
        + how_to_get("mnist", sweep.data_dir)
    )


@dataclass
class SweepResult:
    """What a sweep run did and found.

    Attributes:
        sweep: the sweep as run (``dataset`` resolved).
        directory: its output directory.
        records: the records of the sweep's grid found in the store at the end.
        rows: the report rows (``summarize``).
        reports: the files written (``None`` when no record exists yet).
        ran: records computed by this run; skipped: those already in the store.
        failures: (cell, traceback) of each cell that raised.
        problems: store lines ignored or repaired.
        seconds: wall time of the run.
    """

    sweep: Sweep
    directory: Path
    records: list[dict[str, Any]]
    rows: list[Row]
    reports: Reports | None
    ran: int = 0
    skipped: int = 0
    failures: list[tuple[Cell, str]] = field(default_factory=list)
    problems: list[StoreProblem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every (train, serve, seed) of the grid has a record."""
        return len(self.records) == len(self.sweep.grid())


def _write_json(path: Path, value: Any) -> None:
    """Write JSON atomically (fsynced temporary file renamed over the target)."""
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def run_sweep(
    sweep: Sweep,
    out: str | Path | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    cell_fn: Callable[[Cell], CellOutput | list[dict[str, Any]]] | None = None,
    check_names: bool = True,
    echo: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run the cells of ``sweep`` that the store lacks, then write the reports.

    Args:
        sweep: the sweep; ``dataset="auto"`` is resolved first (``resolve_dataset``).
        out: output directory (default ``runs/<name>``).
        executor: where cells run (default ``LocalExecutor()``: one process per core).
        progress: show a progress bar (tqdm, when installed) or, without it, a line per cell.
        cell_fn: the function run per cell (default ``run_cell``; a top-level function),
            returning a ``CellOutput`` or just its list of records.
        check_names: resolve every train and serve entry before running (``serve.check``).
        echo: where messages go (default: standard error).

    Returns:
        A ``SweepResult``.

    Raises:
        ValueError: a bad entry (before anything runs).
        DataNotFoundError: no data.
        RuntimeError: another sweep is writing to ``out``.
        KeyboardInterrupt: after storing everything finished; rerun to resume.
    """
    started = time.perf_counter()
    say = echo or (lambda text: print(text, file=sys.stderr, flush=True))
    if check_names:
        from mixprec.experiments.serve import check

        check(sweep.train, sweep.serve)
    sweep = resolve_dataset(sweep, echo=say if progress else None)
    from mixprec.experiments.cell import run_cell

    run = cell_fn if cell_fn is not None else run_cell
    directory = Path(out) if out is not None else default_out(sweep)
    store = ResultStore(directory)
    ran = 0
    failures: list[tuple[Cell, str]] = []
    problems = store.open()
    try:
        done = store.done_keys()
        problems += store.problems
        for problem in problems:
            say(f"{store.path}: {problem}")
        _write_json(directory / "sweep.json", sweep.as_dict())
        grid_keys = {sweep.key(t, s, seed) for t, s, seed in sweep.grid()}
        skipped = len(grid_keys & done)
        # longest first (a stable sort: seed by seed within a cost), so the workers end together
        cells = sorted(sweep.cells(done), key=lambda cell: -train_cost(cell.train))
        cells = [_with_trained_model(cell, directory, say) for cell in cells]
        if skipped:
            say(f"resuming {directory}: {skipped} of {len(grid_keys)} runs already stored")
        if cells:
            executor = executor or LocalExecutor()
            bar = progress_bar(len(grid_keys), progress, initial=skipped, unit="run", desc="sweep",
                               dynamic_ncols=True)  # fmt: skip
            outcomes = executor.map_unordered(run, cells)
            try:
                for number, outcome in enumerate(outcomes, start=1):
                    ran += _store_outcome(store, outcome, failures, directory, say)
                    if bar is not None:
                        bar.update(len(outcome.item.serve))
                        bar.set_postfix_str(str(outcome.item), refresh=False)
                    elif progress:
                        status = "done" if outcome.ok else "FAILED"
                        say(f"[{number}/{len(cells)}] {outcome.item}: {status}")
            finally:
                getattr(outcomes, "close", lambda: None)()
                if bar is not None:
                    bar.close()
    finally:
        store.close()
    records, rows, reports = report_sweep(sweep, directory)
    return SweepResult(
        sweep=sweep,
        directory=directory,
        records=records,
        rows=rows,
        reports=reports,
        ran=ran,
        skipped=skipped,
        failures=failures,
        problems=problems,
        seconds=time.perf_counter() - started,
    )


def _store_outcome(
    store: ResultStore,
    outcome: Outcome[Cell],
    failures: list[tuple[Cell, str]],
    directory: Path,
    say: Callable[[str], None],
) -> int:
    """Append a finished cell's records; log a failed one. Returns the records appended."""
    cell = outcome.item
    if isinstance(outcome.error, KeyboardInterrupt):  # a worker got Ctrl-C: stop everything
        raise KeyboardInterrupt(f"{cell} was interrupted")
    if not outcome.ok:
        failures.append((cell, outcome.traceback))
        with open(directory / "errors.log", "a", encoding="utf-8") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {cell}\n{outcome.traceback}\n")
        say(f"{cell} failed: {outcome.error!r} (traceback in {directory / 'errors.log'})")
        return 0
    expected = {cell.sweep.key(cell.train, s, cell.seed) for s in cell.serve}
    output = outcome.result
    records = output.records if isinstance(output, CellOutput) else output
    count = 0
    for record in records:
        if record.get("key") not in expected:
            raise RuntimeError(
                f"{cell}: the cell function returned a record with key {record.get('key')!r}, "
                "which is not one of the cell's; records must carry sweep.key(train, serve, seed)."
            )
        store.append(record)
        count += 1
    if isinstance(output, CellOutput) and output.trained is not None and cell.trained is None:
        _save_model(cell, output.trained, directory)
    return count


# -- trained models: DIR/models/<train>-seed<seed>-<key>.npz (``mixprec.nn.save`` files) ------


def model_path(directory: str | Path, sweep: Sweep, train: str, seed: int) -> Path:
    """Where a sweep keeps the model trained with ``train`` and ``seed``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", train)
    return Path(directory) / "models" / f"{name}-seed{seed}-{sweep.model_key(train, seed)[:8]}.npz"


def _save_model(cell: Cell, trained: TrainedModel, directory: Path) -> None:
    """Keep a trained model, so that serving it under more entries later needs no training."""
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


def _with_trained_model(cell: Cell, directory: Path, say: Callable[[str], None]) -> Cell:
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
    except (ValueError, KeyError, TypeError) as error:
        say(f"{path}: not used ({error}); the model is trained again")
        return cell
    return dataclasses.replace(cell, trained=trained)


def report_sweep(
    sweep: Sweep, directory: str | Path
) -> tuple[list[dict[str, Any]], list[Row], Reports | None]:
    """Summarize the sweep's records in ``directory`` and write the reports.

    Returns:
        The grid's records, the rows, and the reports (``None`` without any record).
    """
    directory = Path(directory)
    wanted = {sweep.key(t, s, seed) for t, s, seed in sweep.grid()}
    seen: set[str] = set()
    records = []
    for record in ResultStore(directory).read():
        if record["key"] in wanted and record["key"] not in seen:
            seen.add(record["key"])
            records.append(record)
    if not records:
        return records, [], None
    rows = summarize(records, sweep.train, sweep.serve)
    limits, t = [], sweep.training
    if sweep.train_limit:
        limits.append(f"first {sweep.train_limit} training images")
    if sweep.test_limit:
        limits.append(f"first {sweep.test_limit} test images")
    preamble = [
        (sweep.description + "\n\n" if sweep.description else "")
        + f"Dataset {sweep.dataset}"
        + (f" ({', '.join(limits)})" if limits else "")
        + f"; model {sweep.model}; {t.epochs} epoch{'s' * (t.epochs != 1)}, batch "
        f"{t.batch_size}, "
        f"{t.optimizer_name} lr {t.resolved_lr:g} ({t.schedule.value} schedule) momentum "
        f"{t.momentum:g}; seeds "
        f"{', '.join(map(str, sweep.seeds))}. Records: {len(records)} of {len(wanted)}"
        + ("." if len(records) == len(wanted) else " (incomplete: rerun to finish).")
    ]
    reports = write_reports(rows, directory, f"Sweep {sweep.name}", preamble)
    return records, rows, reports
