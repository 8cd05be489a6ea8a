"""Fixtures of the mixprec.experiments tests: no real data is seen, downloads fail at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixprec.data import locate, make_synthetic


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty cache and home, no data env vars, no Debian directory, an unreachable data URL."""
    monkeypatch.delenv("MIXPREC_DATA", raising=False)
    monkeypatch.setenv("MIXPREC_DATA_URL", "http://127.0.0.1:9/")  # the discard port: refused
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(locate.DEBIAN_DIRS, "fashion-mnist", tmp_path / "debian" / "fashion-mnist")
    return tmp_path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic dataset in IDX files (300 training, 100 test images)."""
    return make_synthetic(tmp_path_factory.mktemp("tiny"), n_train=300, n_test=100, seed=3)
