"""Run a sweep: check it, skip what the store holds, run the rest, store results as they come.

The parent process does all the writing: each finished cell's records are appended to the store
(``results.jsonl``) at once, so stopping a sweep (Ctrl-C, ``kill -9``, a crash) loses only the
cells that were running. Running the same sweep again resumes it. Each trained model is kept in
``models/`` (a ``mixprec.nn.save`` file, loadable by ``mixprec.nn.load``): serving it under
entries added to the sweep later needs no training, and a model missing there is trained again.
When the grid is done the reports are written (``report.md``, ``report.csv``, ``accuracy.png``,
or ``report-<tag>.md``... for a sweep other than the directory's own: see ``directory``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixprec._util.errors import describe_os_error
from mixprec._util.files import atomic_write_text
from mixprec._util.progress import progress_bar
from mixprec.experiments.cell import run_cell
from mixprec.experiments.dataset import resolve_dataset
from mixprec.experiments.directory import (
    load_trained,
    missing_models,
    model_path,
    record_sweep,
    report_suffix,
    save_model,
)
from mixprec.experiments.executors import Executor, LocalExecutor, Outcome
from mixprec.experiments.report import Reports, Row, summarize, write_reports
from mixprec.experiments.serve import check, train_cost
from mixprec.experiments.store import ResultStore, StoreProblem
from mixprec.experiments.sweep import Cell, CellOutput, Sweep

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
        unsaved: trained models whose file could not be written (the next run rebuilds them).
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
    unsaved: list[Path] = field(default_factory=list)
    problems: list[StoreProblem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every (train, serve, seed) of the grid has a record."""
        return len(self.records) == len(self.sweep.grid())


def _write_text(path: Path, text: str) -> None:
    """Write a file atomically (fsynced temporary file renamed over the target)."""
    atomic_write_text(path, text)


def run_sweep(
    sweep: Sweep,
    out: str | Path | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    cell_fn: Callable[[Cell], CellOutput | list[dict[str, Any]]] | None = None,
    check_names: bool = True,
    echo: Callable[[str], None] | None = None,
    rebuild_models: bool | None = None,
) -> SweepResult:
    """Run the cells of ``sweep`` that the store lacks, then write the reports.

    Nothing is written before the sweep can start: the entries are checked and the data is
    found (installed or downloaded where it can be: ``resolve_dataset``) first. The directory
    records what it holds (``mixprec.experiments.directory``): a sweep other than the
    directory's own writes its reports beside the directory's, never over them.

    Args:
        sweep: the sweep; ``dataset="auto"`` is resolved first (``resolve_dataset``).
        out: output directory (default ``runs/<name>``).
        executor: where cells run (default ``LocalExecutor()``: one process per core).
        progress: show a progress bar (tqdm, when installed) or, without it, a line per cell.
        cell_fn: the function run per cell (default ``run_cell``; a top-level function),
            returning a ``CellOutput`` or just its list of records.
        check_names: resolve every train and serve entry before running (``serve.check``).
        echo: where messages go (default: standard error).
        rebuild_models: train again the models missing from ``models/`` whose results are all
            stored (default: when ``cell_fn`` is the default, which keeps models).

    Returns:
        A ``SweepResult``.

    Raises:
        ValueError: a bad entry (before anything runs).
        DataNotFoundError: no data (before anything is written).
        RuntimeError: another sweep is writing to ``out``.
        OSError: the store cannot be written (results stored until then are kept).
        KeyboardInterrupt: after storing everything finished; rerun to resume.
    """
    started = time.perf_counter()
    say = echo or (lambda text: print(text, file=sys.stderr, flush=True))
    if check_names:
        check(sweep.train, sweep.serve)
    sweep = resolve_dataset(sweep, echo=say, progress=progress, require=cell_fn is None)
    run = cell_fn if cell_fn is not None else run_cell
    directory = Path(out) if out is not None else default_out(sweep)
    store = ResultStore(directory)
    result = SweepResult(sweep=sweep, directory=directory, records=[], rows=[], reports=None)
    result.problems = store.open()
    try:
        done = store.done_keys()
        result.problems += store.problems
        for problem in result.problems:
            say(f"{store.path}: {problem}")
        grid_keys = {sweep.key(t, s, seed) for t, s, seed in sweep.grid()}
        result.skipped = len(grid_keys & done)
        # longest first (a stable sort: seed by seed within a cost), so the workers end together
        cells = sorted(sweep.cells(done), key=lambda cell: -train_cost(cell.train))
        cells = [load_trained(cell, directory, say) for cell in cells]
        if rebuild_models if rebuild_models is not None else cell_fn is None:
            rebuild = missing_models(sweep, directory, done)
            if rebuild:
                say(f"{directory}: rebuilding {len(rebuild)} trained model(s) missing in models/")
            cells += rebuild
        if result.skipped:
            say(f"resuming {directory}: {result.skipped} of {len(grid_keys)} runs already stored")
        if cells:
            _run_cells(run, cells, executor or LocalExecutor(), store, result, progress, say)
    finally:
        store.close()
    result.records, result.rows, result.reports = report_sweep(sweep, directory)
    result.seconds = time.perf_counter() - started
    return result


def _run_cells(
    run: Callable[[Cell], Any],
    cells: list[Cell],
    executor: Executor,
    store: ResultStore,
    result: SweepResult,
    progress: bool,
    say: Callable[[str], None],
) -> None:
    """Run the cells on the executor, storing each outcome as it arrives."""
    bar = progress_bar(len(result.sweep.grid()), progress, initial=result.skipped, unit="run",
                       desc="sweep", dynamic_ncols=True)  # fmt: skip
    outcomes = executor.map_unordered(run, cells)
    try:
        for number, outcome in enumerate(outcomes, start=1):
            result.ran += _store_outcome(store, outcome, result, say)
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


def _store_outcome(
    store: ResultStore, outcome: Outcome[Cell], result: SweepResult, say: Callable[[str], None]
) -> int:
    """Append a finished cell's records and keep its model; log a failed one.

    Returns:
        The records appended.
    """
    cell, directory = outcome.item, result.directory
    if isinstance(outcome.error, KeyboardInterrupt):  # a worker got Ctrl-C: stop everything
        raise KeyboardInterrupt(f"{cell} was interrupted")
    if not outcome.ok:
        result.failures.append((cell, outcome.traceback))
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
        try:
            save_model(cell, output.trained, directory)
        except OSError as error:  # the results are stored; the next run trains it again
            path = model_path(directory, cell.sweep, cell.train, cell.seed)
            result.unsaved.append(path)
            say(
                f"{path}: the trained model could not be saved ({describe_os_error(error)}); "
                "its results are stored, and the next run of the same command trains it again"
            )
    return count


def report_sweep(
    sweep: Sweep, directory: str | Path
) -> tuple[list[dict[str, Any]], list[Row], Reports | None]:
    """Summarize the sweep's records in ``directory`` and write the reports.

    The directory's own sweep writes ``report.md`` (and ``sweep.json``); another sweep writes
    ``report-<tag>.md`` (and ``sweep-<tag>.json``) beside them (``directory.report_suffix``).
    Without any record of the sweep, nothing is written.

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
    suffix = report_suffix(sweep, directory)
    record_sweep(sweep, directory, _write_text)
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
    if suffix:
        preamble.append(
            f"Another sweep than this directory's own ({directory / 'sweep.json'}): this report "
            f"is {directory / f'report{suffix}.md'}, beside the directory's report.md."
        )
    reports = write_reports(rows, directory, f"Sweep {sweep.name}", preamble, suffix=suffix)
    return records, rows, reports
