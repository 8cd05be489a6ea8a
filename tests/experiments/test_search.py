"""The precision search: the Pareto front, the proxy front, a known answer, resuming, SQNR."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixprec.data import Split
from mixprec.experiments.executors import LocalExecutor, Outcome
from mixprec.experiments.search import (
    SearchConfig,
    dominates,
    pareto_front,
    proxy_front,
    run_search,
    serve_assignments,
    sqnr,
)
from mixprec.experiments.search.report import write_search_reports
from mixprec.nn import MLP, evaluate

points_strategy = st.lists(
    st.tuples(st.integers(0, 20), st.integers(0, 20).map(lambda a: a / 20)), max_size=30
)


@settings(max_examples=80, deadline=None)
@given(points_strategy)
def test_pareto_front_is_non_dominated_and_complete(points: list[tuple[int, float]]) -> None:
    front = pareto_front(points, cost=lambda p: p[0], accuracy=lambda p: p[1])
    assert not any(dominates(q, p) for p in front for q in points)
    for p in points:  # every other point is dominated by, or equal to, a point of the front
        assert p in front or any(dominates(f, p) or f == p for f in front)
    assert len(set(front)) == len(front)
    assert [p[0] for p in front] == sorted(p[0] for p in front)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from("abc"), st.tuples(st.integers(1, 9), st.integers(0, 9)), min_size=1
        ),
        min_size=1,
        max_size=3,
    )
)
def test_proxy_front_is_the_exact_front_of_the_sums(
    layers: list[dict[str, tuple[int, int]]],
) -> None:
    costs = [{k: float(v[0]) for k, v in layer.items()} for layer in layers]
    drops = [{k: float(v[1]) for k, v in layer.items()} for layer in layers]
    found = proxy_front(costs, drops)

    def sums(a: tuple[str, ...]) -> tuple[float, float]:
        return (
            sum(c[k] for c, k in zip(costs, a, strict=True)),
            sum(d[k] for d, k in zip(drops, a, strict=True)),
        )

    brute = [sums(a) for a in itertools.product(*[list(layer) for layer in layers])]
    # the brute-force front, with accuracy = -drop
    expected = pareto_front(brute, cost=lambda p: p[0], accuracy=lambda p: -p[1])
    assert sorted(sums(a) for a in found) == sorted(expected)


# -- serving many assignments is evaluate(), bit for bit --------------------------------------


@pytest.mark.parametrize(
    "entry",
    ["fp32", "bf16", "fp8", "fp8_e4m3", "int8", "int4", "mxfp4", "nvfp4", "mxfp8_e4m3"],
)
def test_serve_assignments_equals_evaluate(entry: str) -> None:
    from mixprec.nn.layered import LayerPolicy, entry_policy, parse_policy

    rng = np.random.default_rng(5)
    model = MLP((40, 9, 6, 4), seed=3)  # K = 40: a full block of 32 and a padded one
    split = Split(rng.standard_normal((57, 40)).astype(np.float32), rng.integers(0, 4, 57))
    mixed = ("int8", entry, "fp32")
    served, served_mixed = serve_assignments(
        model.weights, model.biases, split.images, split.labels, [(entry,) * 3, mixed],
        batch_size=16,
    )  # fmt: skip
    reference = evaluate(model, split, policy=entry_policy(entry), batch_size=16)
    np.testing.assert_array_equal(served.correct, reference.predictions == split.labels)
    assert served.accuracy == reference.accuracy and served.loss == reference.loss
    layered = parse_policy(str(LayerPolicy.uniform(mixed)))
    reference = evaluate(model, split, policy=layered, batch_size=16)
    np.testing.assert_array_equal(served_mixed.correct, reference.predictions == split.labels)
    assert served_mixed.loss == reference.loss


# -- a problem with a known answer ---------------------------------------------------------------


def known_problem(n: int = 200) -> tuple[MLP, Split]:
    """Class = sign of x[0]. Layer 1 is exact in every format; layer 2 carries the signal in
    weights of 1 beside weights of 100 (a per-tensor int4 scale of 7/100 rounds the 1s to 0:
    every logit ties and the class is always 0), which int8 (127/100) keeps.
    The cheapest assignment at full accuracy is therefore int4 in layer 1, int8 in layer 2.
    """
    rng = np.random.default_rng(0)
    u = rng.uniform(0.5, 1.0, n) * rng.choice([-1.0, 1.0], n)
    images = np.stack([u, np.zeros(n)], axis=1).astype(np.float32)
    labels = (u < 0).astype(np.int64)
    w1 = np.array([[1, -1, 0], [0, 0, 0]], np.float32)
    b1 = np.array([0, 0, 1], np.float32)
    w2 = np.array([[1, 0], [0, 1], [100, 100]], np.float32)
    return MLP.from_arrays([w1, w2], [b1, None]), Split(images, labels)


def test_search_finds_the_known_answer(tmp_path: Path) -> None:
    model, split = known_problem()
    config = SearchConfig(("fp32", "int8", "int4"), tolerance=0.5)
    result = run_search(model, split[:100], split[100:], config, tmp_path,
                        LocalExecutor(in_process=True), progress=False)  # fmt: skip
    assert result.plan.method == "exhaustive" and len(result.points) == 9
    assert result.baseline.val_accuracy == 1.0
    assert result.chosen is not None and result.chosen.policy == "int4@2=int8"
    assert result.chosen.test_accuracy == 1.0 and result.chosen.p_value == 1.0
    assert [p.policy for p in result.front] == ["int4", "int4@2=int8"]
    assert result.front[0].val_accuracy < 0.75  # int4 in layer 2: always class 0
    assert result.best_uniform is not None and result.best_uniform.policy == "int8"
    reports = write_search_reports(result, tmp_path)
    assert "`int4@2=int8` (chosen)" in reports.markdown
    assert reports.csv_path.read_text().count("\n") == 10


def test_search_with_a_block_candidate_finds_the_known_answer(tmp_path: Path) -> None:
    """MXFP4 as a candidate. Layer 1 (K = 2, one partial block per column): its inputs u lie in
    [0.5, 1), an E8M0 scale of 2**-3 puts them on E2M1's 4 and 6, signs kept, weights of +-1
    and 0 exact: full accuracy, and MXFP4 is layer 1's cheapest candidate (3 B of codes + 3
    scale bytes < int4's 3 B + a 4 B scale). Layer 2 (K = 3): each column holds 100 beside
    1, the block scale 2**(6 - 2) sends 1/16 to 0 (below half of E2M1's smallest 0.5), as
    int4 does: only int8 and fp32 keep the signal there, int8 the cheaper.
    """
    from mixprec.nn.cost import cost

    model, split = known_problem()
    config = SearchConfig(("fp32", "int8", "int4", "mxfp4"), tolerance=0.5)
    result = run_search(model, split[:100], split[100:], config, tmp_path,
                        LocalExecutor(in_process=True), progress=False)  # fmt: skip
    assert result.plan.method == "exhaustive" and len(result.points) == 16
    assert result.chosen is not None and result.chosen.policy == "mxfp4@2=int8"
    assert result.chosen.val_accuracy == 1.0 and result.chosen.test_accuracy == 1.0
    assert result.chosen.cost_bytes == cost(model, ["mxfp4", "int8"]).weight_bytes
    by_policy = {p.policy: p for p in result.points}
    assert by_policy["mxfp4"].val_accuracy < 0.75 and by_policy["int4@2=mxfp4"].val_accuracy < 0.75
    assert by_policy["mxfp4"].cost_bytes < by_policy["int4"].cost_bytes
    sensitivity = {(r["layer"], r["candidate"]): r for r in result.sensitivity}
    assert sensitivity[(1, "mxfp4")]["drop_points"] == 0.0
    assert sensitivity[(2, "mxfp4")]["drop_points"] > 25
    assert math.isfinite(sensitivity[(2, "mxfp4")]["sqnr_db"])


def test_proxy_search_finds_the_known_answer(tmp_path: Path) -> None:
    model, split = known_problem()
    config = SearchConfig(("fp32", "int8", "int4"), max_evaluations=8)  # 9 > 8: proxy
    result = run_search(model, split[:100], split[100:], config, tmp_path,
                        LocalExecutor(in_process=True), progress=False)  # fmt: skip
    assert result.plan.method == "proxy"
    assert result.chosen is not None and result.chosen.policy == "int4@2=int8"


# -- resuming ------------------------------------------------------------------------------------


class Interrupting:
    """Runs tasks in this process; raises KeyboardInterrupt after ``after`` of them, counts."""

    workers = 1

    def __init__(self, after: int | None = None) -> None:
        self.after, self.evaluated = after, 0

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Outcome]:
        for number, item in enumerate(items):
            if self.after is not None and number == self.after:
                raise KeyboardInterrupt
            self.evaluated += len(item.assignments)
            yield Outcome(item, result=fn(item))

    def close(self) -> None:
        pass


def test_a_killed_search_resumes_without_evaluating_again(tmp_path: Path) -> None:
    model, split = known_problem()
    config = SearchConfig(("fp32", "int8", "int4"))
    full = run_search(model, split[:100], split[100:], config, tmp_path / "full",
                      Interrupting(), progress=False)  # fmt: skip
    first = Interrupting(after=2)  # two of three first-layer groups, then Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        run_search(model, split[:100], split[100:], config, tmp_path / "cut", first, progress=False)
    assert first.evaluated == 6
    lines = (tmp_path / "cut" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 6
    second = Interrupting()
    resumed = run_search(model, split[:100], split[100:], config, tmp_path / "cut", second,
                         progress=False)  # fmt: skip
    # the 3 missing validation evaluations, and the test split of fp32, int4, int4@2=int8, int8
    assert second.evaluated == 3 + 4
    assert resumed.as_dict() | {"seconds": 0, "ran": 0} == full.as_dict() | {"seconds": 0, "ran": 0}
    third = Interrupting()
    run_search(model, split[:100], split[100:], config, tmp_path / "cut", third, progress=False)
    assert third.evaluated == 0


def test_dry_run_counts_and_runs_nothing(tmp_path: Path) -> None:
    model, split = known_problem()
    plan = run_search(model, split[:100], split[100:], SearchConfig(("fp32", "int4")), tmp_path,
                      Interrupting(after=0), dry_run=True)  # fmt: skip
    assert (plan.method, plan.space, plan.validation, plan.stored) == ("exhaustive", 4, 4, 0)
    assert not (tmp_path / "results.jsonl").exists()


# -- SQNR ------------------------------------------------------------------------------------------


def test_sqnr() -> None:
    y = np.array([[3.0, 4.0], [0.0, 0.0]])
    assert sqnr(y, y) == math.inf
    assert sqnr(y, y * 1.1) == pytest.approx(20.0)  # ‖y‖ / ‖0.1 y‖ = 10
    assert sqnr(np.zeros(2), np.ones(2)) == -math.inf
    assert math.isnan(sqnr(y, np.full_like(y, np.nan)))
    with pytest.raises(ValueError, match="one shape"):
        sqnr(np.zeros(2), np.zeros(3))
