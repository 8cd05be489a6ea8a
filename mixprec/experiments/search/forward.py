"""Serving one trained model under many per-layer assignments, sharing the common prefixes.

An *assignment* gives each layer a policy entry (``("int8", "fp8", "bf16")``: layer 1 in int8,
...). Two assignments that agree on layers ``1..k`` compute the same first ``k`` layer outputs,
so :func:`serve_assignments` walks the assignments as a tree, depth first, and computes each
distinct prefix once: an exhaustive search over ``C`` candidates of a 3-layer MLP runs ``C``
first layers (the costly 784x128 ones), ``C**2`` second layers and ``C**3`` small last ones.

The numbers are those of :func:`mixprec.nn.evaluate` under the per-layer policy of the
assignment, bit for bit: the same batches (``batch_size``, so that per-tensor activation scales
see the same rows), each layer's input rounded by the layer's own activation rounder, its
weights by its weight rounder, its product by its forward MAC, the bias added in float32, then
ReLU (tested against ``evaluate``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mixprec.nn.compiled import Scaled
from mixprec.nn.layered import entry_numerics, layer_output
from mixprec.nn.layers import log_softmax

__all__ = ["Served", "layer_output", "serve_assignments", "sqnr"]

Assignment = tuple[str, ...]


@dataclass(frozen=True)
class Served:
    """The result of one assignment on a split: per-example correctness, accuracy and loss."""

    assignment: Assignment
    correct: np.ndarray
    accuracy: float
    loss: float


def _served(assignment: Assignment, logits: np.ndarray, labels: np.ndarray) -> Served:
    predictions = logits.argmax(axis=1)
    correct = predictions == labels
    n = len(labels)
    if not n:
        return Served(assignment, correct, math.nan, math.nan)
    with np.errstate(over="ignore", invalid="ignore"):
        logp = log_softmax(logits.astype(np.float64))
    loss = float(-logp[np.arange(n), labels].mean())
    return Served(assignment, correct, float(np.count_nonzero(correct) / n), loss)


def serve_assignments(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray | None],
    images: np.ndarray,
    labels: np.ndarray,
    assignments: Sequence[Assignment],
    batch_size: int = 1000,
) -> list[Served]:
    """Serve every assignment on ``(images, labels)``, each distinct prefix computed once.

    Args:
        weights, biases: the float model's parameters, layer by layer.
        images: float32 ``(n, features)``; labels: ``(n,)``.
        assignments: one entry per layer each.
        batch_size: as :func:`mixprec.nn.evaluate`'s (the same batches give the same numbers).

    Returns:
        One :class:`Served` per assignment, in the order given.

    Raises:
        ValueError: an assignment whose length is not the number of layers; an unknown entry.
    """
    n_layers = len(weights)
    for a in assignments:
        if len(a) != n_layers:
            raise ValueError(f"assignment {a} has {len(a)} entries for {n_layers} layers")
    images = np.asarray(images, np.float32)
    results: dict[Assignment, Served] = {}
    copies: dict[tuple[str, int], Scaled] = {}

    def walk(prefix: Assignment, inputs: np.ndarray, todo: list[Assignment]) -> None:
        depth = len(prefix)
        for entry in dict.fromkeys(a[depth] for a in todo):
            group = [a for a in todo if a[depth] == entry]
            key = (entry, depth)
            if key not in copies:
                copies[key] = entry_numerics(entry).weights.scaled(weights[depth], depth + 1)
            last = depth == n_layers - 1
            out = layer_output(
                entry, depth + 1, weights[depth], biases[depth], inputs, last, batch_size,
                copies[key],
            )  # fmt: skip
            if last:
                results[prefix + (entry,)] = _served(prefix + (entry,), out, labels)
            else:
                walk(prefix + (entry,), out, group)

    walk((), images, [tuple(a) for a in assignments])
    return [results[tuple(a)] for a in assignments]


def sqnr(reference: np.ndarray, approximation: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB: ``20 log10(‖y‖ / ‖y − ŷ‖)``.

    Norms are Frobenius, computed in float64. ``inf`` when the two are equal, ``-inf`` for a
    zero reference with an error, NaN when ``ŷ`` holds NaN. (torchao's ``compute_error``.)

    >>> sqnr(np.array([3.0, 4.0]), np.array([3.0, 4.5]))  # 20 log10(5 / 0.5)
    20.0
    """
    y = np.asarray(reference, np.float64)
    y_hat = np.asarray(approximation, np.float64)
    if y.shape != y_hat.shape:
        raise ValueError(f"sqnr needs arrays of one shape, got {y.shape} and {y_hat.shape}")
    error = y - y_hat
    noise = float(np.linalg.norm(error))
    signal = float(np.linalg.norm(y))
    if math.isnan(noise):
        return math.nan
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 20.0 * math.log10(signal / noise)
