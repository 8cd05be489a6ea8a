"""What a search is given and what it finds: ``SearchConfig``, ``Point``, ``SearchPlan``,
``SearchResult`` (see :mod:`mixprec.experiments.search.run`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mixprec.nn.layered import canonical_entry

__all__ = ["OBJECTIVES", "Point", "SearchConfig", "SearchPlan", "SearchResult"]

OBJECTIVES = ("bytes", "bops")
Assignment = tuple[str, ...]


@dataclass(frozen=True)
class SearchConfig:
    """What to search.

    Attributes:
        candidates: policy entries each layer may take (``fp32``, ``bf16``, ``int8``, ...).
        tolerance: percentage points of validation accuracy the chosen point may lose.
        objective: ``"bytes"`` (stored weight bytes, scales and biases included) or ``"bops"``.
        baseline: the reference entry, every layer (``"fp32"``).
        batch_size: the serving batch (per-tensor activation scales are per batch).
        cost_batch: the batch of the activation bytes in the cost columns.
        max_evaluations: the exhaustive space is used up to this size; beyond, the proxy front.
    """

    candidates: tuple[str, ...]
    tolerance: float = 0.5
    objective: str = "bytes"
    baseline: str = "fp32"
    batch_size: int = 1000
    cost_batch: int = 1
    max_evaluations: int = 1000

    def __post_init__(self) -> None:
        if not self.candidates:
            raise ValueError("a search needs at least one candidate, e.g. fp32,bf16,int8")
        canon = tuple(dict.fromkeys(canonical_entry(c) for c in self.candidates))
        object.__setattr__(self, "candidates", canon)
        object.__setattr__(self, "baseline", canonical_entry(self.baseline))
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective={self.objective!r}: use one of {', '.join(OBJECTIVES)}")
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(f"tolerance must be >= 0 percentage points, got {self.tolerance!r}")
        for name in ("batch_size", "cost_batch", "max_evaluations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


@dataclass
class Point:
    """One evaluated assignment: its policy string, costs and accuracies."""

    policy: str
    assignment: Assignment
    cost_bytes: int
    bops: int
    activation_bytes: int
    val_accuracy: float
    test_accuracy: float | None = None
    p_value: float | None = None
    b: int | None = None
    c: int | None = None

    def objective(self, name: str) -> int:
        """The cost the search minimizes: ``cost_bytes`` or ``bops``."""
        return self.cost_bytes if name == "bytes" else self.bops

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the ``pareto`` entries of ``mixprec search --json``)."""
        return {
            "policy": self.policy,
            "cost_bytes": self.cost_bytes,
            "bops": self.bops,
            "activation_bytes": self.activation_bytes,
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "p_value": self.p_value,
            "mcnemar_b": self.b,
            "mcnemar_c": self.c,
        }


@dataclass
class SearchPlan:
    """What a search will evaluate: the method, and the counts (``--dry-run`` prints them)."""

    method: str
    space: int
    validation: int
    stored: int

    def __str__(self) -> str:
        return (
            f"{self.method} search: {self.validation} validation evaluations of a space of "
            f"{self.space:,} assignments ({self.stored} already stored, "
            f"{self.validation - self.stored} to run), then the Pareto front on the test split"
        )


@dataclass
class SearchResult:
    """What a search found (see the module docstring)."""

    config: SearchConfig
    plan: SearchPlan
    baseline: Point
    points: list[Point]
    front: list[Point]
    chosen: Point | None
    best_uniform: Point | None
    sensitivity: list[dict[str, Any]] = field(default_factory=list)
    ran: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON object of ``mixprec search --json``."""
        return {
            "method": self.plan.method,
            "objective": self.config.objective,
            "tolerance": self.config.tolerance,
            "evaluations": len(self.points),
            "ran": self.ran,
            "seconds": self.seconds,
            "baseline": self.baseline.as_dict(),
            "pareto": [p.as_dict() for p in self.front],
            "chosen": None if self.chosen is None else self.chosen.as_dict(),
            "best_uniform": None if self.best_uniform is None else self.best_uniform.as_dict(),
            "sensitivity": [  # JSON has no inf: an exact layer's SQNR is null
                {
                    k: None if isinstance(v, float) and not math.isfinite(v) else v
                    for k, v in row.items()
                }
                for row in self.sensitivity
            ],
        }
