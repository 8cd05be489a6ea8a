"""The assignments a search evaluates: all of them, or the front of a separable proxy.

**Exhaustive** (``method="exhaustive"``): every assignment of ``C`` candidates to ``L`` layers,
``C**L`` of them (216 for six candidates and the book's three layers). It is used whenever
``C**L`` is at most the search's ``max_evaluations``.

**Proxy front** (``method="proxy"``), for larger spaces: first the *sensitivities*, the
``L * (C - 1)`` assignments that change one layer from the baseline; the drop of validation
accuracy of layer ``l`` under candidate ``c`` is ``d[l][c]``. The proxy of an assignment is the
sum of its layers' drops (separable: it assumes the layers' errors add up, as HAWQ's and
ModelOpt's sensitivity sums do), and its cost is the sum of its layers' costs (exact: bytes and
BOPs are sums over layers). :func:`proxy_front` solves the bi-objective knapsack *exactly*: the
set of assignments that no other assignment beats in both summed cost and summed proxy, by
dynamic programming over the layers with dominated partial sums pruned (a partial assignment
beaten on both sums by another is beaten by it on every completion). Those assignments (at most
``max_evaluations``, thinned evenly along the front when more) are then *measured*: the proxy
only picks what to evaluate, never the reported accuracy.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

__all__ = ["exhaustive", "proxy_front", "single_layer", "thin"]

Assignment = tuple[str, ...]


def exhaustive(candidates: Sequence[str], n_layers: int) -> list[Assignment]:
    """Every assignment, in lexicographic order of the candidates' positions."""
    return [tuple(a) for a in itertools.product(candidates, repeat=n_layers)]


def single_layer(candidates: Sequence[str], n_layers: int, baseline: str) -> list[Assignment]:
    """The baseline everywhere, and each assignment that changes one layer from it."""
    base = (baseline,) * n_layers
    out = [base]
    for layer in range(n_layers):
        for c in candidates:
            if c != baseline:
                out.append(base[:layer] + (c,) + base[layer + 1 :])
    return out


def proxy_front(
    costs: Sequence[dict[str, float]], drops: Sequence[dict[str, float]]
) -> list[Assignment]:
    """The exact Pareto set of assignments under summed cost and summed proxy drop.

    Args:
        costs: per layer, the cost of each candidate.
        drops: per layer, the proxy (accuracy drop) of each candidate; the same keys.

    Returns:
        The non-dominated assignments, cheapest first; among equal (cost, drop) pairs one is kept.

    >>> costs = [{"a": 4, "b": 1}, {"a": 4, "b": 1}]
    >>> drops = [{"a": 0.0, "b": 0.5}, {"a": 0.0, "b": 0.1}]
    >>> proxy_front(costs, drops)
    [('b', 'b'), ('a', 'b'), ('a', 'a')]
    """
    if len(costs) != len(drops):
        raise ValueError(f"{len(costs)} layers of costs but {len(drops)} of drops")
    states: list[tuple[float, float, Assignment]] = [(0.0, 0.0, ())]
    for layer_costs, layer_drops in zip(costs, drops, strict=True):
        if set(layer_costs) != set(layer_drops):
            raise ValueError("each layer needs a cost and a drop for the same candidates")
        grown = [
            (c + layer_costs[k], d + layer_drops[k], a + (k,))
            for c, d, a in states
            for k in layer_costs
        ]
        states = _prune(grown)
    return [a for _, _, a in states]


def _prune(states: list[tuple[float, float, Assignment]]) -> list[tuple[float, float, Assignment]]:
    """The non-dominated (cost, drop) states, cheapest first: lower cost or lower drop."""
    kept = []
    best = math.inf
    for state in sorted(states, key=lambda s: (s[0], s[1])):
        if state[1] < best:
            kept.append(state)
            best = state[1]
    return kept


def thin(items: Sequence[Assignment], limit: int) -> list[Assignment]:
    """At most ``limit`` items, evenly spaced, the first and last kept."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if len(items) <= limit:
        return list(items)
    if limit == 1:
        return [items[0]]
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]
