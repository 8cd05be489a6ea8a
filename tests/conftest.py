"""Fixtures of every test: no test ever runs apt-get (``mixprec.data.install``)."""

from __future__ import annotations

import pytest

from mixprec.data import install


@pytest.fixture(autouse=True)
def no_apt_get(monkeypatch: pytest.MonkeyPatch) -> None:
    """``$MIXPREC_NO_INSTALL`` set (also for subprocesses), and the real runner disarmed."""
    monkeypatch.setenv(install.NO_INSTALL_ENV, "1")

    def refuse(command: list[str], timeout: float) -> tuple[int, str]:
        pytest.fail(f"a test tried to run {command}; inject a runner instead")

    monkeypatch.setattr(install, "_run", refuse)
