"""The MAC package's imports run one way: no module of the engine imports ``unit`` back
(``unit`` and ``blockscaled``, whose BlockMAC subclasses MAC, are the units, not the engine)."""

from __future__ import annotations

import ast
import pathlib

import mixprec.mac

PACKAGE = pathlib.Path(mixprec.mac.__file__).parent


def _imports(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_engine_module_imports_unit_or_the_root_package() -> None:
    offenders = {}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.stem in ("__init__", "unit", "blockscaled"):  # blockscaled: a unit (MAC subclass)
            continue
        bad = {m for m in _imports(path) if m == "mixprec" or m == "mixprec.mac.unit"}
        if bad:
            offenders[path.stem] = sorted(bad)
    assert offenders == {}
