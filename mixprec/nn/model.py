"""``MLP``: the multilayer perceptron of *Deep Learning Systems* (A. Rodriguez), chapter 1.

Affine layers with ReLU between them and a softmax output; by default, as in the book, the output
layer has no bias ("there is no bias term in a softmax layer"). ``MLP.book()`` is 784-128-32-10
with 104,928 parameters.

>>> model = MLP.book()
>>> model.n_parameters, [w.shape for w in model.weights], [b is None for b in model.biases]
(104928, [(784, 128), (128, 32), (32, 10)], [False, False, True])
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from mixprec._util.choice import as_choice
from mixprec.nn.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_cross_entropy,
)

__all__ = ["BOOK_SIZES", "Init", "MLP"]

BOOK_SIZES = (784, 128, 32, 10)


class Init(str, enum.Enum):
    """Weight initializations; biases start at zero.

    * ``he_normal``: N(0, 2 / fan_in) (He et al. 2015), for ReLU layers.
    * ``he_uniform``: U(-a, a) with a = sqrt(6 / fan_in): the same variance.
    * ``glorot_normal``: N(0, 2 / (fan_in + fan_out)) (Glorot and Bengio 2010).
    * ``glorot_uniform``: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).
    """

    HE_NORMAL = "he_normal"
    HE_UNIFORM = "he_uniform"
    GLOROT_NORMAL = "glorot_normal"
    GLOROT_UNIFORM = "glorot_uniform"


def _initial_weight(rng: np.random.Generator, init: Init, n_in: int, n_out: int) -> np.ndarray:
    """One ``(n_in, n_out)`` float32 weight matrix with zero mean and the variance of ``init``."""
    is_he = init in (Init.HE_NORMAL, Init.HE_UNIFORM)
    variance = 2.0 / n_in if is_he else 2.0 / (n_in + n_out)
    if init in (Init.HE_NORMAL, Init.GLOROT_NORMAL):
        return rng.standard_normal((n_in, n_out), dtype=np.float32) * np.float32(np.sqrt(variance))
    limit = np.float32(np.sqrt(3.0 * variance))  # U(-a, a) has variance a**2 / 3
    return rng.uniform(-limit, limit, size=(n_in, n_out)).astype(np.float32)


class MLP:
    """A multilayer perceptron: affine layers, ReLU between them, softmax output.

    The constructor initializes the parameters from ``numpy.random.default_rng(seed)``, layer by
    layer (the weights of layer 1, then layer 2, ...); biases start at zero. The model holds its
    learned state: ``weights`` and ``biases`` are the arrays ``train`` updates in place (they exist
    from construction, so they carry no trailing underscore).

    Args:
        sizes: units per layer, input first: ``(784, 128, 32, 10)``.
        output_bias: whether the output (softmax) layer has a bias; the book's has none.
        init: ``"he_normal"`` (default), ``"he_uniform"``, ``"glorot_normal"`` or
            ``"glorot_uniform"`` (see :class:`Init`).
        seed: seed of the initialization (an int or a ``numpy.random.Generator``).

    Attributes:
        sizes: tuple of ints.
        output_bias: bool.
        weights: list of float32 arrays ``(in, out)``, one per layer.
        biases: list of float32 arrays ``(out,)``, or ``None`` for a layer without bias.
        metadata: a dict of facts about the model (``load`` fills it from the file).

    Raises:
        ValueError: fewer than two sizes, a size below 1, or an unknown ``init``.
    """

    def __init__(
        self,
        sizes: Sequence[int] = BOOK_SIZES,
        output_bias: bool = False,
        init: Init | str = "he_normal",
        seed: int | np.random.Generator = 0,
    ) -> None:
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(
                f"sizes must list at least an input and an output size, all >= 1; got {sizes}"
            )
        method = as_choice(Init, init, "init")
        rng = np.random.default_rng(seed)
        self.sizes: tuple[int, ...] = sizes
        self.output_bias = bool(output_bias)
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray | None] = []
        self.metadata: dict[str, Any] = {}
        for n_in, n_out in pairwise(sizes):
            self.weights.append(_initial_weight(rng, method, n_in, n_out))
            has_bias = len(self.biases) < self.n_layers - 1 or self.output_bias
            self.biases.append(np.zeros(n_out, np.float32) if has_bias else None)

    @classmethod
    def book(cls, seed: int | np.random.Generator = 0, init: Init | str = "he_normal") -> MLP:
        """The book's 784-128-32-10 MLP with no output bias: 104,928 parameters."""
        return cls(BOOK_SIZES, output_bias=False, init=init, seed=seed)

    @classmethod
    def from_arrays(cls, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray | None]) -> MLP:
        """A model holding the given parameters (copied, as float32), shapes checked.

        Raises:
            ValueError: the shapes do not chain, a hidden layer has no bias, or the counts differ.
        """
        if len(weights) != len(biases) or not weights:
            raise ValueError(
                f"need one bias (or None) per weight matrix; got {len(weights)} weights and "
                f"{len(biases)} biases"
            )
        sizes = [np.shape(weights[0])[0]] + [np.shape(w)[-1] for w in weights]
        model = cls.__new__(cls)
        model.sizes = tuple(int(s) for s in sizes)
        model.output_bias = biases[-1] is not None
        model.weights = [np.array(w, dtype=np.float32) for w in weights]
        model.biases = [None if b is None else np.array(b, dtype=np.float32) for b in biases]
        model.metadata = {}
        model.check()
        return model

    # -- structure ------------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        """Number of affine layers (3 for the book's MLP)."""
        return len(self.sizes) - 1

    @property
    def n_parameters(self) -> int:
        """Weights plus biases."""
        return sum(p.size for p in self.parameters())

    def parameters(self) -> list[np.ndarray]:
        """The parameter arrays in layer order: ``w1, b1, w2, b2, ..., w_last[, b_last]``."""
        out: list[np.ndarray] = []
        for w, b in zip(self.weights, self.biases, strict=True):
            out.append(w)
            if b is not None:
                out.append(b)
        return out

    def check(self) -> None:
        """Raise ``ValueError`` unless every parameter has the shape its sizes imply."""
        for i, (n_in, n_out) in enumerate(pairwise(self.sizes)):
            w, b = self.weights[i], self.biases[i]
            if w.shape != (n_in, n_out):
                raise ValueError(f"layer {i + 1}: weight shape {w.shape}, expected {(n_in, n_out)}")
            must_have_bias = i < self.n_layers - 1 or self.output_bias
            if (b is None) == must_have_bias:
                raise ValueError(
                    f"layer {i + 1}: {'a bias is missing' if b is None else 'unexpected bias'}; "
                    "hidden layers have biases, the output layer has one only with output_bias"
                )
            if b is not None and b.shape != (n_out,):
                raise ValueError(f"layer {i + 1}: bias shape {b.shape}, expected {(n_out,)}")

    def copy(self) -> MLP:
        """An independent copy (parameters and metadata copied)."""
        model = MLP.from_arrays(self.weights, self.biases)
        model.metadata = copy.deepcopy(self.metadata)
        return model

    def astype(self, dtype: DTypeLike) -> MLP:
        """A copy with parameters of another dtype: ``np.float64`` for exact gradient checks.

        Training and serving keep float32 parameters; use this only for reference computations.
        """
        model = self.copy()
        model.weights = [w.astype(dtype) for w in model.weights]
        model.biases = [None if b is None else b.astype(dtype) for b in model.biases]
        return model

    def __repr__(self) -> str:
        shape = "-".join(map(str, self.sizes))
        return f"MLP({shape}, output_bias={self.output_bias}, parameters={self.n_parameters:,})"

    # -- plain float passes (the reference; policies live in mixprec.nn.passes) ---------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits of a batch in the parameters' own arithmetic (no policy): ``(n, classes)``."""
        h = x
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = affine_forward(h, w, b)
            if i < self.n_layers - 1:
                h = relu_forward(h, inplace=True)
        return h

    def loss_and_gradients(
        self, x: np.ndarray, labels: np.ndarray
    ) -> tuple[float, list[np.ndarray]]:
        """Mean cross-entropy of a batch and the parameter gradients, with no policy.

        Runs in the parameters' own dtype (``model.astype(np.float64)`` gives exact gradient
        checks). The gradients come in the order of :meth:`parameters`.
        """
        inputs, h = [], x
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            inputs.append(h)
            h = affine_forward(h, w, b)
            if i < self.n_layers - 1:
                h = relu_forward(h)
        loss, dh = softmax_cross_entropy(h, labels)
        grads: list[np.ndarray] = []
        for i in reversed(range(self.n_layers)):
            if i < self.n_layers - 1:
                dh = relu_backward(dh, inputs[i + 1])
            has_bias = self.biases[i] is not None
            dx, dw, db = affine_backward(dh, inputs[i], self.weights[i], has_bias, i > 0)
            grads[:0] = [dw] if db is None else [dw, db]
            if dx is not None:
                dh = dx
        return loss, grads
