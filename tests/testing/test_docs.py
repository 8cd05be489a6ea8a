"""Every module of mixprec.testing (and tests/strategies.py) documents itself with examples.

pytest runs the examples (``--doctest-modules`` over ``testpaths``, see pyproject.toml); this
test only makes sure each module has some, so a module whose examples were lost fails here
instead of passing with none.
"""

from __future__ import annotations

import doctest
import importlib
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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
def test_module_has_doctest_examples(name: str) -> None:
    module = importlib.import_module(name)
    examples = sum(len(test.examples) for test in doctest.DocTestFinder().find(module))
    assert examples > 0, f"{name} has no docstring examples"


def test_pytest_collects_the_doctests() -> None:
    with open(Path(__file__).parents[2] / "pyproject.toml", "rb") as file:
        options = tomllib.load(file)["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in options["addopts"]
    assert {"tests", "mixprec"} <= set(options["testpaths"])
