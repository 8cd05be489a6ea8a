"""Precision sweeps: train at precision A, serve at precision B, measure what changes.

>>> from mixprec.experiments import load_experiment
>>> sweep = load_experiment("accumulators")
>>> sweep.train, "int8->int16:wrap" in sweep.serve
(('fp32',), True)

A ``Sweep`` (a TOML file, a shipped experiment such as ``book`` or ``accumulators``, or built in
code) expands to train policies x seeds trained models, each served under every serve
configuration. ``run_sweep`` runs the cells that its output directory's ``ResultStore`` lacks,
locally (``LocalExecutor``) or on Dask (``DaskExecutor``), appends one JSON line per (train,
serve, seed) as results arrive, keeps each trained model in ``models/``, and writes
``report.md``, ``report.csv`` and ``accuracy.png`` with McNemar's test of each configuration
against the fp32 baseline.

Modules: ``sweep`` (definition, grid, TOML), ``serve`` (what a train/serve entry means),
``cell`` (the worker function), ``executors``, ``store``, ``stats`` (McNemar), ``report``, ``plot``,
``runner`` (``run_sweep``).
"""

from mixprec.experiments.cell import run_cell
from mixprec.experiments.executors import (
    DASK_WORKER_ENVIRON,
    DaskExecutor,
    Executor,
    LocalExecutor,
    Outcome,
    make_executor,
)
from mixprec.experiments.report import (
    Comparison,
    Reports,
    Row,
    markdown_table,
    plot_accuracy,
    summarize,
    write_reports,
)
from mixprec.experiments.runner import (
    SweepResult,
    default_out,
    model_path,
    report_sweep,
    run_sweep,
)
from mixprec.experiments.serve import ServeConfig, check, parse_serve, serve_policy, train_policy
from mixprec.experiments.significance import McNemar, mcnemar, mcnemar_counts
from mixprec.experiments.store import ResultStore, decode_bits, encode_bits, record_key
from mixprec.experiments.sweep import (
    Cell,
    CellOutput,
    Sweep,
    TrainedModel,
    list_experiments,
    load_experiment,
)

__all__ = [
    "DASK_WORKER_ENVIRON",
    "Cell",
    "CellOutput",
    "Comparison",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "McNemar",
    "Outcome",
    "Reports",
    "ResultStore",
    "Row",
    "ServeConfig",
    "Sweep",
    "SweepResult",
    "TrainedModel",
    "check",
    "decode_bits",
    "default_out",
    "encode_bits",
    "list_experiments",
    "load_experiment",
    "make_executor",
    "markdown_table",
    "mcnemar",
    "mcnemar_counts",
    "model_path",
    "parse_serve",
    "plot_accuracy",
    "record_key",
    "report_sweep",
    "run_cell",
    "run_sweep",
    "serve_policy",
    "summarize",
    "train_policy",
    "write_reports",
]
