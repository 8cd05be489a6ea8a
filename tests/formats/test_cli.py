"""``mixprec formats``: the table, JSON, and errors."""

from __future__ import annotations

import json

import pytest

import mixprec as mp
from mixprec.cli import main


def test_table_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    element_table, block_table = out.strip().split("\n\n")
    assert element_table == mp.formats.format_table().strip()
    assert block_table == mp.formats.block.block_format_table()


def test_block_formats_show_bits_per_element(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formats", "mxfp4", "nvfp4:tensor_scale=none", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["mxfp4", "nvfp4:tensor_scale=none"]
    assert [r["bits_per_element"] for r in rows] == [4.25, 4.5]
    assert main(["formats", "nvfp4"]) == 0
    assert "| nvfp4 | fp4_e2m1 | 16 | fp8_e4m3 | amax | 4.5 | 32 bits |" in capsys.readouterr().out


def test_json_for_specs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formats", "e3m4", "fixed<16,8>", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["fp8_e3m4", "fixed<16,8>"]
    assert rows[0]["max"] == 15.5 and rows[0]["has_inf"] is True
    assert rows[1]["exponent_bits"] is None and rows[1]["eps"] == 1 / 256


def test_unknown_format_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formats", "fp9"]) == 2
    assert "Did you mean 'fp8'" in capsys.readouterr().err
