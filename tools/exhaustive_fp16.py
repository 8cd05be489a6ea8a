"""Exhaustive check of the fp16 magic-constant rounding against numpy's float16 cast.

Every float32 bit pattern whose magnitude is at most the largest float32 below fp16's overflow
tie (65520) goes through :func:`mixprec.formats.fast32.magic.round_by_magic` and through
``x.astype(np.float16).astype(np.float32)``; the two must agree bit for bit (-0 included).
That is 2,399,133,696 patterns, about 3 minutes on one core. Run by hand:
``python tools/exhaustive_fp16.py``; the test suite checks the same path on every probe.
"""

from __future__ import annotations

import time

import numpy as np

from mixprec.formats import get_format
from mixprec.formats.fast32 import magic as fast

CHUNK = 1 << 24


def main() -> None:
    magic = fast.magic_constants(get_format("fp16"))
    assert magic is not None
    limit = np.nextafter(np.float32(65520.0), np.float32(0))  # 65520 itself rounds to inf
    work, sign = np.empty(CHUNK, np.uint32), np.empty(CHUNK, np.uint32)
    out = np.empty(CHUNK, np.float32)
    start, checked = time.perf_counter(), 0
    for first in range(0, 1 << 32, CHUNK):
        x = np.arange(first, first + CHUNK, dtype=np.uint64).astype(np.uint32).view(np.float32)
        with np.errstate(invalid="ignore"):  # NaN patterns compare False: dropped
            x = x[np.abs(x) <= limit]
        n = x.size
        if n == 0:
            continue
        fast.round_by_magic(out[:n], x, magic, work[:n], sign[:n])
        expected = x.astype(np.float16).astype(np.float32)
        bad = np.flatnonzero(out[:n].view(np.uint32) != expected.view(np.uint32))[:5]
        if bad.size:
            raise SystemExit(f"inputs {x[bad]!r}: got {out[bad]!r}, numpy {expected[bad]!r}")
        checked += n
    print(
        f"fp16 magic path: all {checked:,} float32 patterns with |x| <= {limit} equal numpy's "
        f"cast ({time.perf_counter() - start:.0f} s)"
    )


if __name__ == "__main__":
    main()
