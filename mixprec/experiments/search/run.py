"""``run_search``: the cheapest precision per layer that keeps a model as accurate as fp32.

1. **Validation.** Serve the trained float model under the assignments of the search space
   (:mod:`mixprec.experiments.search.space`) on a validation split held out of the training
   set, through an executor (local processes by default, or Dask), one store line per
   evaluation as each task finishes; evaluations already in the store are not run again, so a
   stopped search resumes.
2. **Front.** Cost each assignment (:func:`mixprec.nn.cost.cost`; ``objective`` ``"bytes"``:
   stored weight bytes, or ``"bops"``) and keep the Pareto front of cost against validation
   accuracy. The *chosen* point is the cheapest whose validation accuracy is at least the
   baseline's minus ``tolerance`` percentage points.
3. **Test.** Serve the front, the baseline and the best uniform assignment on the test split,
   and compare each with the baseline (fp32) by McNemar's test on the same test images.

The test split never chooses anything: it only confirms what validation chose.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixprec._util.progress import progress_bar
from mixprec.experiments.executors import Executor, LocalExecutor
from mixprec.experiments.search.pareto import cheapest_within, pareto_front
from mixprec.experiments.search.results import (
    OBJECTIVES,
    Point,
    SearchConfig,
    SearchPlan,
    SearchResult,
)
from mixprec.experiments.search.space import exhaustive, proxy_front, single_layer, thin
from mixprec.experiments.search.task import SearchTask, run_task, search_key
from mixprec.experiments.significance import mcnemar
from mixprec.experiments.store import ResultStore, decode_bits
from mixprec.nn.cost import cost
from mixprec.nn.layered import LayerPolicy

__all__ = ["OBJECTIVES", "Point", "SearchConfig", "SearchPlan", "SearchResult", "run_search"]

Assignment = tuple[str, ...]


@dataclass
class _Context:
    """What the phases of one search share."""

    config: SearchConfig
    model: Any
    weights: tuple[Any, ...]
    biases: tuple[Any, ...]
    digest: str
    sources: dict[str, Any]  # split -> DataSpec or Split
    fingerprints: dict[str, str]
    store: ResultStore
    records: dict[str, dict[str, Any]]
    executor: Executor | None
    progress: bool
    say: Callable[[str], None]
    ran: int = 0

    def key(self, split: str, assignment: Assignment) -> str:
        policy = str(LayerPolicy.uniform(assignment))
        return search_key(
            self.digest, self.fingerprints[split], split, policy, self.config.batch_size
        )

    def missing(self, split: str, assignments: Sequence[Assignment]) -> list[Assignment]:
        return [a for a in dict.fromkeys(assignments) if self.key(split, a) not in self.records]

    def record(self, split: str, assignment: Assignment) -> dict[str, Any]:
        return self.records[self.key(split, assignment)]


def _tasks(ctx: _Context, split: str, todo: Sequence[Assignment]) -> list[SearchTask]:
    """One task per first-layer entry (its first layer is computed once)."""
    groups: dict[str, list[Assignment]] = {}
    for a in todo:
        groups.setdefault(a[0], []).append(a)
    return [
        SearchTask(
            ctx.weights,
            ctx.biases,
            ctx.digest,
            ctx.fingerprints[split],
            split,
            ctx.sources[split],
            tuple(group),
            ctx.config.batch_size,
        )  # fmt: skip
        for group in groups.values()
    ]


def _evaluate(ctx: _Context, split: str, assignments: Sequence[Assignment]) -> None:
    """Run the evaluations the store lacks; append each record as its task finishes."""
    todo = ctx.missing(split, assignments)
    if not todo:
        return
    executor = ctx.executor or LocalExecutor()
    tasks = _tasks(ctx, split, todo)
    bar = progress_bar(len(todo), ctx.progress, unit="eval", desc=f"search {split}",
                       dynamic_ncols=True)  # fmt: skip
    outcomes = executor.map_unordered(run_task, tasks)
    try:
        for outcome in outcomes:
            if not outcome.ok:
                raise RuntimeError(
                    f"search task {outcome.item} failed: {outcome.error!r}\n{outcome.traceback}"
                )
            for record in outcome.result:
                ctx.store.append(record)
                ctx.records[record["key"]] = record
                ctx.ran += 1
            if bar is not None:
                bar.update(len(outcome.result))
            elif ctx.progress:
                ctx.say(f"search {split}: {outcome.item} done")
    finally:
        getattr(outcomes, "close", lambda: None)()
        if bar is not None:
            bar.close()


def _point(ctx: _Context, assignment: Assignment) -> Point:
    c = cost(ctx.model, list(assignment), batch=ctx.config.cost_batch)
    return Point(
        policy=str(LayerPolicy.uniform(assignment)),
        assignment=assignment,
        cost_bytes=c.weight_bytes,
        bops=c.bops,
        activation_bytes=c.activation_bytes,
        val_accuracy=float(ctx.record("validation", assignment)["accuracy"]),
    )


def _confirm(ctx: _Context, points: Sequence[Point], baseline: Point) -> None:
    """Serve the points on the test split and test each against the baseline."""
    _evaluate(ctx, "test", [baseline.assignment] + [p.assignment for p in points])
    base = ctx.record("test", baseline.assignment)
    base_correct = decode_bits(base["correct"], int(base["n"]))
    for p in [baseline, *points]:
        record = ctx.record("test", p.assignment)
        p.test_accuracy = float(record["accuracy"])
        test = mcnemar(base_correct, decode_bits(record["correct"], int(record["n"])))
        p.p_value, p.b, p.c = test.p_value, test.b, test.c


def plan_search(config: SearchConfig, n_layers: int) -> tuple[str, int, list[Assignment]]:
    """The method, the size of the space and the first validation assignments."""
    space = len(config.candidates) ** n_layers
    if space <= config.max_evaluations:
        return "exhaustive", space, exhaustive(config.candidates, n_layers)
    base = config.baseline
    return "proxy", space, single_layer(config.candidates, n_layers, base)


def _proxy_assignments(ctx: _Context, n_layers: int) -> list[Assignment]:
    """The proxy front (see ``space``) from the single-layer evaluations."""
    config = ctx.config
    base = (config.baseline,) * n_layers
    base_accuracy = float(ctx.record("validation", base)["accuracy"])
    costs, drops = [], []
    for layer in range(n_layers):
        layer_costs: dict[str, float] = {}
        layer_drops: dict[str, float] = {}
        for c in config.candidates:
            a = base[:layer] + (c,) + base[layer + 1 :]
            layer_cost = cost(ctx.model, list(a), batch=config.cost_batch).layers[layer]
            layer_costs[c] = (
                layer_cost.weight_bytes if config.objective == "bytes" else layer_cost.bops
            )
            layer_drops[c] = base_accuracy - float(ctx.record("validation", a)["accuracy"])
        costs.append(layer_costs)
        drops.append(layer_drops)
    return thin(proxy_front(costs, drops), config.max_evaluations)


def _validate(
    ctx: _Context, method: str, first: list[Assignment], n_layers: int
) -> list[Assignment]:
    """Evaluate the space on validation (the proxy's front after its sensitivities)."""
    _evaluate(ctx, "validation", first)
    evaluated = list(dict.fromkeys(first))
    if method == "proxy":
        more = _proxy_assignments(ctx, n_layers)
        _evaluate(ctx, "validation", more)
        evaluated = list(dict.fromkeys([*evaluated, *more]))
    return evaluated


def _choose(
    points: list[Point], baseline: Point, config: SearchConfig
) -> tuple[list[Point], Point | None, Point | None]:
    """The Pareto front, the chosen point and the best uniform point (validation only)."""

    def objective(p: Point) -> float:
        return p.objective(config.objective)

    def accuracy(p: Point) -> float:
        return p.val_accuracy

    floor = baseline.val_accuracy - config.tolerance / 100
    uniform = [p for p in points if len(set(p.assignment)) == 1]
    return (
        pareto_front(points, objective, accuracy),
        cheapest_within(points, objective, accuracy, floor),
        cheapest_within(uniform, objective, accuracy, floor),
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_search(
    model: Any,
    validation: Any,
    test: Any,
    config: SearchConfig,
    out: str | Path,
    executor: Executor | None = None,
    progress: bool = True,
    dry_run: bool = False,
    echo: Callable[[str], None] | None = None,
) -> SearchPlan | SearchResult:
    """Search the precision per layer of ``model`` (see the module docstring).

    Args:
        model: the trained float ``MLP``.
        validation, test: the two splits, each a ``DataSpec`` (loaded by the workers) or a
            ``Split``. The validation examples must not be test examples.
        config: the candidates, tolerance, objective, ...
        out: the directory of the store (``results.jsonl``) and the reports.
        executor: where the evaluations run (default ``LocalExecutor()``).
        progress: a progress bar (tqdm) or a line per task.
        dry_run: only plan: return the ``SearchPlan`` (nothing runs, nothing is written).
        echo: where messages go (default standard error).

    Returns:
        The ``SearchPlan`` (``dry_run``) or the ``SearchResult``; reports are written by
        :func:`mixprec.experiments.search.report.write_search_reports`.

    Raises:
        ValueError: a bad candidate or configuration.
        RuntimeError: an evaluation failed, or another search writes to ``out``.
        KeyboardInterrupt: after storing what finished; run again to resume.
    """
    import time

    from mixprec.experiments.search.sensitivity import sensitivity_table
    from mixprec.experiments.search.task import fingerprint, load_split, model_digest

    started = time.perf_counter()
    say = echo or _say
    weights, biases = tuple(model.weights), tuple(model.biases)
    n_layers = len(weights)
    method, space, first = plan_search(config, n_layers)
    sources = {"validation": validation, "test": test}
    splits = {name: load_split(source) for name, source in sources.items()}
    ctx = _Context(
        config, model, weights, biases, model_digest(weights, biases), sources,
        {name: fingerprint(split) for name, split in splits.items()},
        ResultStore(Path(out)), {}, executor, progress, say,
    )  # fmt: skip
    ctx.records = {r["key"]: r for r in ctx.store.read() if r.get("kind") == "search"}
    stored = len(first) - len(ctx.missing("validation", first))
    planned = (
        len(first) if method == "exhaustive" else len(first) + min(space, config.max_evaluations)
    )
    plan = SearchPlan(method, space, planned, stored)
    if dry_run:
        return plan
    if stored:
        say(f"resuming {out}: {stored} of {len(first)} validation evaluations already stored")
    base = (config.baseline,) * n_layers
    ctx.store.open()
    try:
        evaluated = _validate(ctx, method, [base, *first], n_layers)
        points = [_point(ctx, a) for a in evaluated]
        baseline = next(p for p in points if p.assignment == base)
        front, chosen, best_uniform = _choose(points, baseline, config)
        confirm = {id(p): p for p in [*front, *([best_uniform] if best_uniform else [])]}
        _confirm(ctx, [p for p in confirm.values() if p is not baseline], baseline)
    finally:
        ctx.store.close()
    table = sensitivity_table(model, splits["validation"], config.candidates, points, baseline,
                              config.batch_size)  # fmt: skip
    plan.stored = stored
    return SearchResult(
        config=config, plan=plan, baseline=baseline, points=points, front=front, chosen=chosen,
        best_uniform=best_uniform, sensitivity=table, ran=ctx.ran,
        seconds=time.perf_counter() - started,
    )  # fmt: skip
