"""Fixtures of the mixprec.quant tests: a small synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixprec.data import Dataset, load, make_synthetic


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """A small learnable IDX dataset (600 train, 200 test images of 28x28, 10 classes)."""
    path: Path = make_synthetic(tmp_path_factory.mktemp("qsynthetic"), n_train=600, n_test=200)
    return load("fashion-mnist", data_dir=path)
