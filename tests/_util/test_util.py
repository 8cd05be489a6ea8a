"""mixprec._util: the one home of choices, names, atomic writes and the progress bar."""

from __future__ import annotations

import enum
import sys
from pathlib import Path

import pytest

from mixprec._util.choice import as_choice
from mixprec._util.files import atomic_write, atomic_write_text
from mixprec._util.names import canonical
from mixprec._util.progress import progress_bar


class Color(str, enum.Enum):
    RED = "red"
    DARK_BLUE = "dark-blue"


def test_as_choice_accepts_members_and_values_and_lists_the_choices() -> None:
    assert as_choice(Color, Color.RED, "color") is Color.RED
    assert as_choice(Color, "dark-blue", "color") is Color.DARK_BLUE
    with pytest.raises(ValueError, match=r"unknown color 'green'; allowed: 'red', 'dark-blue'!"):
        as_choice(Color, "green", "color", hint="!")


@pytest.mark.parametrize(
    ("written", "separator", "key"),
    [(" Fashion_MNIST ", "-", "fashion-mnist"), ("FP8-E4M3", "_", "fp8_e4m3"),
     ("min_max", "", "minmax"), ("Min-Max", "", "minmax")],
)  # fmt: skip
def test_canonical_is_one_rule_with_a_separator(written: str, separator: str, key: str) -> None:
    assert canonical(written, separator) == key


def test_canonical_rejects_an_unknown_separator() -> None:
    with pytest.raises(ValueError, match="separator='/'"):
        canonical("a", "/")


def test_atomic_write_replaces_the_file_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    atomic_write_text(target, "old")

    def fail(stream: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
    assert atomic_write_text(target, "new") == target and target.read_text() == "new"


def test_progress_bar_is_none_when_disabled_or_without_tqdm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert progress_bar(3, enabled=False) is None
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
    assert progress_bar(3) is None
