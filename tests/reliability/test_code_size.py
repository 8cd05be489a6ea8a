"""The project's size rules, held by a test: no module over 400 lines, no function over 80."""

from __future__ import annotations

import ast
from pathlib import Path

import mixprec

PACKAGE = Path(mixprec.__file__).parent
MODULE_LINES, FUNCTION_LINES = 400, 80


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_package_has_sources() -> None:
    assert len(sources()) > 100


def test_no_module_is_over_400_lines() -> None:
    long = [
        f"{path.relative_to(PACKAGE.parent)}: {n} lines"
        for path in sources()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    ]
    assert not long, "modules over 400 lines:\n" + "\n".join(long)


def test_no_function_is_over_80_lines() -> None:
    long = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno is not None
                n = node.end_lineno - node.lineno + 1
                if n > FUNCTION_LINES:
                    long.append(
                        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}: {n}"
                    )
    assert not long, "functions over 80 lines:\n" + "\n".join(long)
