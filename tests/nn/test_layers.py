"""Each layer's backward pass against central finite differences in float64."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from mixprec.nn.layers import (
    affine_backward,
    affine_forward,
    log_softmax,
    relu_backward,
    relu_forward,
    softmax,
    softmax_cross_entropy,
)
from tests.nn.conftest import numerical_gradient

RTOL, ATOL = 1e-6, 1e-8


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1)


@pytest.mark.parametrize("has_bias", [True, False], ids=["bias", "no-bias"])
def test_affine_gradients(rng: np.random.Generator, has_bias: bool) -> None:
    x, w = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    b = rng.standard_normal(3) if has_bias else None
    probe = rng.standard_normal((5, 3))  # loss = sum(probe * y): dy = probe

    def loss() -> float:
        return float((probe * affine_forward(x, w, b)).sum())

    dx, dw, db = affine_backward(probe, x, w, has_bias)
    assert_allclose(dx, numerical_gradient(loss, x), rtol=RTOL, atol=ATOL)
    assert_allclose(dw, numerical_gradient(loss, w), rtol=RTOL, atol=ATOL)
    if has_bias:
        assert_allclose(db, numerical_gradient(loss, b), rtol=RTOL, atol=ATOL)
    else:
        assert db is None


def test_affine_skips_input_gradient_and_uses_given_matmuls(rng: np.random.Generator) -> None:
    x, w, dy = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    calls: list[str] = []

    def spy(name: str):
        def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            calls.append(name)
            return a @ b

        return matmul

    dx, dw, _ = affine_backward(dy, x, w, False, False, spy("dx"), spy("dw"))
    assert dx is None and calls == ["dw"]
    affine_forward(x, w, matmul=spy("y"))
    assert calls == ["dw", "y"]


def test_relu_gradient(rng: np.random.Generator) -> None:
    x = rng.standard_normal((4, 6))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink
    probe = rng.standard_normal(x.shape)

    def loss() -> float:
        return float((probe * relu_forward(x)).sum())

    y = relu_forward(x)
    assert_allclose(relu_backward(probe, y), numerical_gradient(loss, x), rtol=RTOL, atol=ATOL)


def test_relu_inplace_and_nan() -> None:
    x = np.array([-1.0, 0.0, 2.0, np.nan])
    y = relu_forward(x.copy())
    assert np.isnan(y[3]) and y[:3].tolist() == [0.0, 0.0, 2.0]
    z = x.copy()
    assert relu_forward(z, inplace=True) is z
    dy = np.ones(4)
    assert relu_backward(dy, y, inplace=True) is dy and dy.tolist() == [0.0, 0.0, 1.0, 0.0]


def test_softmax_cross_entropy_gradient(rng: np.random.Generator) -> None:
    z, labels = rng.standard_normal((6, 5)) * 3, rng.integers(0, 5, 6)

    def loss() -> float:
        return float(-log_softmax(z)[np.arange(6), labels].mean())

    value, dz = softmax_cross_entropy(z, labels)
    assert value == pytest.approx(loss(), rel=1e-12)
    assert_allclose(dz, numerical_gradient(loss, z), rtol=RTOL, atol=ATOL)
    _, scaled = softmax_cross_entropy(z, labels, scale=1024.0)
    assert_allclose(scaled, dz * 1024, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_softmax_cross_entropy_is_stable(dtype: type) -> None:
    z = np.array([[1e4, 0.0, -1e4], [-1e38, 1e38, 0.0]], dtype=dtype)
    loss, dz = softmax_cross_entropy(z, np.array([0, 0]))
    assert dz.dtype == dtype and np.isfinite(dz).all() and np.isfinite(loss)
    assert dz[0].tolist() == pytest.approx([0.0, 0.0, 0.0])
    assert dz[1, 0] == pytest.approx(-0.5) and dz[1, 1] == pytest.approx(0.5)
    assert loss == pytest.approx(2e38 / 2, rel=1e-6)
    assert np.isfinite(softmax(z)).all() and np.isfinite(log_softmax(z)).all()


def test_softmax_cross_entropy_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="shape"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))
