"""The result store: appends, truncated lines, the lock, bitsets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mixprec.experiments.store import ResultStore, decode_bits, encode_bits, record_key


def test_append_and_read(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "run") as store:
        store.append({"key": "a", "accuracy": 0.5})
        store.append({"key": "b", "accuracy": float("nan")})
    store = ResultStore(tmp_path / "run")
    records = store.read()
    assert [r["key"] for r in records] == ["a", "b"] and store.problems == []
    assert np.isnan(records[1]["accuracy"])
    assert store.done_keys() == {"a", "b"}
    assert store.path.read_bytes().count(b"\n") == 2
    with pytest.raises(ValueError, match="key"):
        store.append({"accuracy": 1.0})
    store.close()


def test_missing_store_reads_empty(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "nothing")
    assert store.read() == [] and store.done_keys() == set()


def test_truncated_last_line_is_ignored_reported_and_cut(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    with store:
        store.append({"key": "a"})
        store.append({"key": "b"})
    full = store.path.read_bytes()
    store.path.write_bytes(full[:-7])  # a write interrupted in the middle of the last line
    assert [r["key"] for r in store.read()] == ["a"]
    assert len(store.problems) == 1 and "truncated" in str(store.problems[0])
    assert "line 2" in str(store.problems[0])
    removed = store.open()
    assert len(removed) == 1 and "incomplete" in removed[0].reason
    store.append({"key": "c"})
    store.close()
    assert [r["key"] for r in store.read()] == ["a", "c"] and store.problems == []


def test_truncated_only_line(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.path.write_bytes(b'{"key": "a", "acc')
    assert store.read() == [] and len(store.problems) == 1
    with store:
        store.append({"key": "b"})
    assert store.path.read_bytes() == b'{"key":"b"}\n'


def test_bad_lines_in_the_middle_are_skipped(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.path.write_text('{"key": "a"}\nnot json\n[1, 2]\n\n{"key": "b"}\n')
    assert [r["key"] for r in store.read()] == ["a", "b"]
    assert [p.line for p in store.problems] == [2, 3]


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    with ResultStore(tmp_path):
        with pytest.raises(RuntimeError, match="another sweep"):
            ResultStore(tmp_path).open()
    with ResultStore(tmp_path) as again:  # released
        again.append({"key": "x"})


def test_lines_are_canonical_json(tmp_path: Path) -> None:
    with ResultStore(tmp_path) as store:
        store.append({"key": "k", "b": 1, "a": [1, 2]})
    line = store.path.read_text()
    assert line == '{"a":[1,2],"b":1,"key":"k"}\n'
    assert json.loads(line)["key"] == "k"


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 10_000])
def test_bits_round_trip(n: int) -> None:
    flags = np.random.default_rng(n).random(n) < 0.5
    text = encode_bits(flags)
    assert len(text) == 4 * -(-((n + 7) // 8) // 3)
    np.testing.assert_array_equal(decode_bits(text, n), flags)


def test_bits_wrong_count() -> None:
    with pytest.raises(ValueError, match="bitset"):
        decode_bits(encode_bits(np.ones(20, bool)), 30)


def test_record_key() -> None:
    assert record_key({"a": 1, "b": 2}) == record_key({"b": 2, "a": 1})
    assert record_key({"a": 1}) != record_key({"a": 2})
    assert len(record_key({})) == 16
