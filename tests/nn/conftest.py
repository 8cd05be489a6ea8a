"""Fixtures of the mixprec.nn tests: a small synthetic dataset, small models, finite differences."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mixprec.data import Dataset, load, make_synthetic


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small learnable IDX dataset (600 train, 200 test images of 28x28, 10 classes)."""
    return make_synthetic(tmp_path_factory.mktemp("synthetic"), n_train=600, n_test=200, seed=0)


@pytest.fixture(scope="session")
def synthetic(synthetic_dir: Path) -> Dataset:
    return load("fashion-mnist", data_dir=synthetic_dir)


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to every element of ``x`` (float64,
    modified in place and restored)."""
    grad = np.zeros_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        up = f()
        flat[i] = saved - eps
        down = f()
        flat[i] = saved
        out[i] = (up - down) / (2 * eps)
    return grad
