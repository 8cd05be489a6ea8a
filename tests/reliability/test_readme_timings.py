"""Item 10: every timing in the README says the load it was measured at (or is a ratio)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
TIMING = re.compile(r"(?<![\w.])~?\d+(?:\.\d+)?\s?(?:s|min|minutes|seconds)\b")


def test_each_timing_names_its_load() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    bare = []
    for number, line in enumerate(lines):
        if not TIMING.search(line):
            continue
        around = " ".join(lines[max(0, number - 1) : number + 2])
        if "load" not in around:
            bare.append(f"README.md:{number + 1}: {line.strip()}")
    assert not bare, "timings without the load they were measured at:\n" + "\n".join(bare)
