"""The MLP: structure, initialization, copies, and whole-model gradients in float64."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from mixprec.nn import MLP
from tests.nn.conftest import numerical_gradient


def test_book_mlp_has_the_books_parameter_count() -> None:
    model = MLP.book()
    assert model.sizes == (784, 128, 32, 10)
    assert model.n_parameters == 104_928
    assert [w.shape for w in model.weights] == [(784, 128), (128, 32), (32, 10)]
    assert [None if b is None else b.shape for b in model.biases] == [(128,), (32,), None]
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert "104,928" in repr(model)


def test_output_bias_is_optional() -> None:
    model = MLP((784, 128, 32, 10), output_bias=True)
    assert model.n_parameters == 104_938 and model.biases[-1] is not None


@pytest.mark.parametrize(
    ("init", "variance"),
    [
        ("he_normal", lambda i, o: 2 / i),
        ("he_uniform", lambda i, o: 2 / i),
        ("glorot_normal", lambda i, o: 2 / (i + o)),
        ("glorot_uniform", lambda i, o: 2 / (i + o)),
    ],
)
def test_initializations_have_zero_mean_and_their_variance(init: str, variance) -> None:
    model = MLP((784, 256, 10), init=init, seed=3)
    w = model.weights[0].astype(np.float64)
    expected = variance(784, 256)
    assert abs(w.mean()) < 4 * np.sqrt(expected / w.size)
    assert w.var() == pytest.approx(expected, rel=0.02)
    if init.endswith("uniform"):
        assert np.abs(w).max() <= np.sqrt(3 * expected) * (1 + 1e-6)
    assert not model.biases[0].any()


def test_initialization_is_seeded() -> None:
    a, b, c = MLP.book(seed=1), MLP.book(seed=1), MLP.book(seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not np.array_equal(a.weights[0], c.weights[0])
    generator = MLP.book(seed=np.random.default_rng(1))
    assert np.array_equal(generator.weights[0], a.weights[0])


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown init 'xavier'.*he_normal"):
        MLP((4, 2), init="xavier")
    with pytest.raises(ValueError, match="at least an input and an output"):
        MLP((4,))
    with pytest.raises(ValueError, match="weight shape"):
        MLP.from_arrays([np.zeros((3, 2)), np.zeros((3, 1))], [np.zeros(2), None])


def test_copy_is_independent() -> None:
    model = MLP.book()
    model.metadata["note"] = ["x"]
    clone = model.copy()
    clone.weights[0][0, 0] += 1
    clone.metadata["note"].append("y")
    assert model.weights[0][0, 0] != clone.weights[0][0, 0]
    assert model.metadata == {"note": ["x"]}
    assert all(
        np.array_equal(x, y)
        for x, y in zip(model.parameters()[1:], clone.parameters()[1:], strict=True)
    )


@pytest.mark.parametrize("output_bias", [False, True], ids=["book", "output-bias"])
def test_whole_mlp_gradients_match_finite_differences(output_bias: bool) -> None:
    model = MLP((6, 5, 4, 3), output_bias=output_bias, seed=0).astype(np.float64)
    rng = np.random.default_rng(0)
    for b in model.biases:
        if b is not None:
            b[...] = rng.standard_normal(b.shape) * 0.1  # non-zero biases, kinks away from 0
    x, labels = rng.standard_normal((7, 6)), rng.integers(0, 3, 7)
    loss, grads = model.loss_and_gradients(x, labels)
    params = model.parameters()
    assert len(grads) == len(params) == (6 if output_bias else 5)
    for p, g in zip(params, grads, strict=True):
        assert g.shape == p.shape and g.dtype == np.float64
        expected = numerical_gradient(lambda: model.loss_and_gradients(x, labels)[0], p)
        assert_allclose(g, expected, rtol=1e-5, atol=1e-8)
    assert loss == pytest.approx(model.loss_and_gradients(x, labels)[0])


def test_forward_is_the_plain_float32_pass() -> None:
    model = MLP.book(seed=0)
    x = np.random.default_rng(0).standard_normal((3, 784), dtype=np.float32)
    h = np.maximum(x @ model.weights[0] + model.biases[0], 0)
    h = np.maximum(h @ model.weights[1] + model.biases[1], 0)
    assert np.array_equal(model.forward(x), h @ model.weights[2])
