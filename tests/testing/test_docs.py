"""The docstring examples of mixprec.testing and tests/strategies.py run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "mixprec.testing",
    "mixprec.testing.assertions",
    "mixprec.testing.cases",
    "mixprec.testing.edges",
    "mixprec.testing.grid",
    "mixprec.testing.strategies",
    "tests.strategies",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
