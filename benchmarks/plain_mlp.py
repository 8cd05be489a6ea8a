"""The reference: the book's MLP in plain numpy float32, with nothing of mixprec in the loop.

784-128-32-10, ReLU hidden layers, softmax output without a bias, cross-entropy loss, He-normal
initialization, SGD with momentum 0.9, batch 128, learning rate 0.05 with a cosine decay per epoch
(epoch ``e`` of ``E`` at ``0.05 * 0.5 * (1 + cos(pi * e / E))``, as ``mixprec.train.train``'s
default schedule), inputs standardized with one global mean and standard deviation
(``mixprec.data.load(normalize="standard")``).

It draws its initial weights and its shuffling from ``numpy.random.default_rng(seed)`` in the same
order as ``mixprec.nn.MLP`` and ``mixprec.train.train``, and does the same float32 operations in the
same order, so ``mixprec.train.train`` under the ``fp32`` policy reproduces it bit for bit: the
benchmark checks that. The code is kept short and free of abstractions on purpose; it is what
"plain numpy" costs.

Run: ``python benchmarks/plain_mlp.py [--epochs 10] [--seeds 3] [--data-dir DIR]``.
"""

from __future__ import annotations

import argparse
import math
import time
from itertools import pairwise

import numpy as np

SIZES = (784, 128, 32, 10)


def init(seed: int) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """He-normal weights (in, out) in float32, zero biases on the hidden layers only."""
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for i, (n_in, n_out) in enumerate(pairwise(SIZES)):
        std = np.float32(np.sqrt(2.0 / n_in))
        weights.append(rng.standard_normal((n_in, n_out), dtype=np.float32) * std)
        biases.append(np.zeros(n_out, np.float32) if i < len(SIZES) - 2 else None)
    return weights, biases


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """The learning rate of ``epoch`` (0-based) of ``epochs``: cosine decay from ``lr``."""
    return lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


class PlainMLP:
    """The reference's state (parameters, velocities, shuffling stream); ``epoch()`` runs one.

    Seeded as ``mixprec.nn.MLP.book(seed)`` plus ``mixprec.train.train(..., seed=seed)``; ``lr`` is
    the base learning rate, each epoch's comes from ``cosine_lr``.
    """

    def __init__(self, seed: int = 0, lr: float = 0.05, momentum: float = 0.9) -> None:
        self.weights, self.biases = init(seed)
        w1, w2, w3 = self.weights
        b1, b2, _ = self.biases
        self.params = [w1, b1, w2, b2, w3]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.rng = np.random.default_rng(seed).spawn(2)[0]  # as mixprec.train.train: shuffling
        self.lr, self.momentum = lr, np.float32(momentum)

    def epoch(
        self, images: np.ndarray, labels: np.ndarray, batch_size: int = 128, lr: float | None = None
    ) -> float:
        """One pass over the shuffled data at learning rate ``lr`` (default the base ``self.lr``);
        returns its seconds."""
        w1, b1, w2, b2, w3 = self.params
        lr32, mu32 = np.float32(self.lr if lr is None else lr), self.momentum
        n = len(labels)
        start = time.perf_counter()
        order = self.rng.permutation(n)
        for lo in range(0, n, batch_size):
            index = order[lo : lo + batch_size]
            x, y = images[index], labels[index]
            m = len(y)
            # forward
            h1 = x @ w1
            h1 += b1
            np.maximum(h1, 0, out=h1)
            h2 = h1 @ w2
            h2 += b2
            np.maximum(h2, 0, out=h2)
            z = h2 @ w3
            # softmax cross-entropy, fused gradient (p - onehot) / m
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            e /= e.sum(axis=1, keepdims=True)
            e[np.arange(m), y] -= 1
            e *= np.float32(1.0 / m)
            dz = e
            # backward
            dw3 = h2.T @ dz
            dh2 = dz @ w3.T
            dh2 *= h2 > 0
            dw2 = h1.T @ dh2
            db2 = dh2.sum(axis=0)
            dh1 = dh2 @ w2.T
            dh1 *= h1 > 0
            dw1 = x.T @ dh1
            db1 = dh1.sum(axis=0)
            # SGD with momentum: v = mu v - lr g; p += v
            for p, v, g in zip(self.params, self.velocity, (dw1, db1, dw2, db2, dw3), strict=True):
                v *= mu32
                g *= lr32
                v -= g
                p += v
        return time.perf_counter() - start


def train(
    images: np.ndarray, labels: np.ndarray, epochs: int = 10, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray | None], list[float]]:
    """Train with the cosine schedule; returns weights, biases and the seconds of each epoch."""
    model = PlainMLP(seed)
    seconds = [
        model.epoch(images, labels, lr=cosine_lr(model.lr, epoch, epochs))
        for epoch in range(epochs)
    ]
    return model.weights, model.biases, seconds


def accuracy(
    weights: list[np.ndarray], biases: list, images: np.ndarray, labels: np.ndarray
) -> float:
    """Test accuracy (fraction) of the plain model."""
    h = images
    for i, w in enumerate(weights):
        h = h @ w
        if biases[i] is not None:
            h += biases[i]
        if i < len(weights) - 1:
            np.maximum(h, 0, out=h)
    return float((h.argmax(axis=1) == labels).mean())


def main() -> None:
    from mixprec.data import load

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    data = load("fashion-mnist", data_dir=args.data_dir)
    accuracies = []
    for seed in range(args.seeds):
        weights, biases, seconds = train(data.train.images, data.train.labels, args.epochs, seed)
        acc = accuracy(weights, biases, data.test.images, data.test.labels)
        accuracies.append(acc)
        print(f"seed {seed}: {np.median(seconds):.3f} s/epoch (median), test accuracy {acc:.2%}")
    print(f"test accuracy {np.mean(accuracies):.2%} ± {np.std(accuracies):.2%}")


if __name__ == "__main__":
    main()
