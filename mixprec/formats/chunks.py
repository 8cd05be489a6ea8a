"""Streaming: element-wise work on large arrays in fixed chunks, into one preallocated output.

The general rounding and coding paths make several float64 temporaries per element (tens of
bytes each). Run over a chunk of ``CHUNK`` elements at a time, their memory stays a few
megabytes whatever the input's size, and the output is the only allocation that grows with it
(issue 12: peak memory within 3x input + output, measured by ``benchmarks/memory.py``).
A chunk of 2**20 elements is large enough that the per-call cost of numpy vanishes and the
float32 fast paths still split it across threads.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import DTypeLike

CHUNK = 1 << 20


def map_chunks(
    func: Callable[[np.ndarray], np.ndarray], flat: np.ndarray, dtype: DTypeLike
) -> np.ndarray:
    """``func`` applied to consecutive chunks of the 1-d array ``flat``, joined, as ``dtype``.

    ``func`` must be element-wise (its result for a chunk has the chunk's size); it is called
    in order, so a random generator it draws from gives the same stream as one call on the
    whole array would, when its draws per element are fixed.
    """
    n = flat.size
    if n <= CHUNK:
        return func(flat).astype(dtype, copy=False)
    out = np.empty(n, dtype)
    for lo in range(0, n, CHUNK):
        out[lo : lo + CHUNK] = func(flat[lo : lo + CHUNK])
    return out
