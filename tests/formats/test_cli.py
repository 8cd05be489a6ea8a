"""``mixprec formats``: the table, JSON, and errors."""

from __future__ import annotations

import json

import pytest

import mixprec as mp
from mixprec.cli import main


def test_table_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == mp.formats.format_table().strip()


def test_json_for_specs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formats", "e3m4", "fixed<16,8>", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["fp8_e3m4", "fixed<16,8>"]
    assert rows[0]["max"] == 15.5 and rows[0]["has_inf"] is True
    assert rows[1]["exponent_bits"] is None and rows[1]["eps"] == 1 / 256


def test_unknown_format_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formats", "fp9"]) == 2
    assert "Did you mean 'fp8'" in capsys.readouterr().err
