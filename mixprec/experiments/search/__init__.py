"""The precision search: the cheapest precision per layer that keeps a model accurate.

Modules: ``forward`` (serving many per-layer assignments, shared prefixes computed once; SQNR),
``space`` (exhaustive, or the exact front of a separable proxy), ``pareto`` (the front and the
chosen point), ``sensitivity`` (per layer: SQNR and validation drop), ``task`` (the picklable
unit the executors run, and its store records), ``run`` (``run_search``), ``report`` (Markdown,
CSV, plot).
"""

from mixprec.experiments.search.forward import Served, layer_output, serve_assignments, sqnr
from mixprec.experiments.search.pareto import cheapest_within, dominates, pareto_front
from mixprec.experiments.search.run import (
    OBJECTIVES,
    Point,
    SearchConfig,
    SearchPlan,
    SearchResult,
    run_search,
)
from mixprec.experiments.search.sensitivity import layer_sqnr, sensitivity_table
from mixprec.experiments.search.space import exhaustive, proxy_front, single_layer
from mixprec.experiments.search.task import DataSpec, SearchTask, run_task

__all__ = [
    "OBJECTIVES",
    "DataSpec",
    "Point",
    "SearchConfig",
    "SearchPlan",
    "SearchResult",
    "SearchTask",
    "Served",
    "cheapest_within",
    "dominates",
    "exhaustive",
    "layer_output",
    "layer_sqnr",
    "pareto_front",
    "proxy_front",
    "run_search",
    "run_task",
    "sensitivity_table",
    "serve_assignments",
    "single_layer",
    "sqnr",
]
