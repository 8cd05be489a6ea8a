"""The Pareto front of (cost, accuracy) points, and the point a search chooses.

A point *dominates* another when it costs no more and is no less accurate, and is strictly
better in one of the two. The front is the set of points no other point dominates; among
points equal in both, the first one given is kept (so the front never holds two equal points).

>>> pts = [(3, 0.9), (1, 0.8), (2, 0.8), (4, 0.9), (2, 0.85)]
>>> pareto_front(pts, cost=lambda p: p[0], accuracy=lambda p: p[1])
[(1, 0.8), (2, 0.85), (3, 0.9)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["cheapest_within", "dominates", "pareto_front"]

T = TypeVar("T")


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether ``a = (cost, accuracy)`` dominates ``b``."""
    return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])


def pareto_front(
    points: Sequence[T], cost: Callable[[T], float], accuracy: Callable[[T], float]
) -> list[T]:
    """The non-dominated points, cheapest first (each more accurate than the one before).

    NaN accuracies are never on the front.
    """
    order = sorted(
        (i for i, p in enumerate(points) if accuracy(p) == accuracy(p)),  # drop NaN
        key=lambda i: (cost(points[i]), -accuracy(points[i]), i),
    )
    front: list[T] = []
    best = -float("inf")
    for i in order:
        if accuracy(points[i]) > best:
            front.append(points[i])
            best = accuracy(points[i])
    return front


def cheapest_within(
    points: Sequence[T],
    cost: Callable[[T], float],
    accuracy: Callable[[T], float],
    floor: float,
) -> T | None:
    """The cheapest point with ``accuracy >= floor`` (the most accurate among equal costs).

    It is on the Pareto front: a point dominating it would be as cheap and within the floor
    too. ``None`` when no point reaches the floor.
    """
    inside = [p for p in points if accuracy(p) >= floor]
    if not inside:
        return None
    return min(inside, key=lambda p: (cost(p), -accuracy(p)))
