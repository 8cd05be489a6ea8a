"""The README stays true: its format table is the registry's, its commands are CI's."""

from __future__ import annotations

from pathlib import Path

import mixprec as mp

ROOT = Path(__file__).resolve().parents[1]


def test_readme_format_table_is_generated_from_the_registry() -> None:
    readme = (ROOT / "README.md").read_text()
    assert mp.formats.format_table() in readme, (
        "README's format table is stale: paste the output of `mixprec formats`"
    )


def test_readme_block_format_table_is_generated() -> None:
    readme = (ROOT / "README.md").read_text()
    assert mp.formats.block.block_format_table() in readme, (
        "README's block format table is stale: paste the second table of `mixprec formats`"
    )


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && pytest'
    assert command in readme and command in ci
