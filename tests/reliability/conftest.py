"""Fixtures of the reliability tests: the bad inputs of issue 12, run so that they stay fixed.

No test sees the machine's data (empty home and cache, no Debian directory, an unreachable
download URL), none runs apt-get (tests/conftest.py), and file-system failures are injected
(``PermissionError``, ``OSError(ENOSPC)``): the tests run as root, where chmod protects nothing.
"""

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
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a small synthetic ``fashion-mnist/`` (200 training, 50 test images)."""
    root = tmp_path_factory.mktemp("tiny")
    make_synthetic(root / "fashion-mnist", n_train=200, n_test=50, seed=5)
    return root


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (relative name -> bytes); empty when it does not exist."""
    if not directory.exists():
        return {}
    files = (path for path in directory.rglob("*") if path.is_file())
    return {str(path.relative_to(directory)): path.read_bytes() for path in files}


def one_line_error(text: str) -> str:
    """The error output, checked to be one line with no traceback."""
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]
