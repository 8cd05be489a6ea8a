"""Fixtures of the mixprec.train tests: those of tests/nn (a small synthetic dataset)."""

import pytest

from tests.nn.conftest import synthetic, synthetic_dir

__all__ = ["synthetic", "synthetic_dir"]


@pytest.fixture(autouse=True)
def _python_sigint_handler():
    """Python's own SIGINT handler, as in a foreground run (a background job inherits SIG_IGN)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
