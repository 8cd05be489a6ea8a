"""Blocks of float32 bit patterns: the loop every route of :mod:`mixprec.formats.fast32` runs in.

Arrays are cut into blocks that stay in cache (``BLOCK`` float32, 512 KiB); large arrays are
split across the shared worker threads (:mod:`mixprec._util.threads`), and each thread keeps
its block-sized scratch buffers between calls. The result does not depend on the number of
threads: each element is rounded on its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from mixprec._util.threads import run_parallel, scratch, threads

BLOCK = 1 << 17  # 512 KiB of float32: measured best on 2-core EPYC (L2 512 KiB)
SIGN = np.uint32(0x80000000)
ABS = np.uint32(0x7FFFFFFF)
INF = np.uint32(0x7F800000)
NAN = np.uint32(0x7FC00000)

Block = Callable[..., None]  # block(out, b, *extra): round the patterns b into out


def bits_of(value: float) -> np.uint32:
    """The float32 bit pattern of ``value`` (exactly a float32)."""
    pattern: np.uint32 = np.float32(value).view(np.uint32)
    return pattern


def blockwise(func: Block, u: np.ndarray, *extra: np.ndarray) -> np.ndarray:
    """Call ``func(out_block, u_block, *extra_blocks)`` on cache-sized blocks of flat uint32 ``u``.

    numpy releases the GIL inside its loops, so large arrays are split across threads.
    """
    out = np.empty_like(u)
    if u.size <= BLOCK:  # one block: no threads (most calls in a training step)
        func(out, u, *extra)
        return out

    def run(start: int, stop: int) -> None:
        for lo in range(start, stop, BLOCK):
            hi = min(lo + BLOCK, stop)
            func(out[lo:hi], u[lo:hi], *(e[lo:hi] for e in extra))

    workers = min(threads(), u.size // (4 * BLOCK))
    step = -(-u.size // max(workers, 1) // BLOCK) * BLOCK
    run_parallel(
        [functools.partial(run, lo, min(lo + step, u.size)) for lo in range(0, u.size, step)],
        workers,
    )
    return out


def block_scratch() -> list[np.ndarray]:
    """This thread's work buffers of one block (5 uint32, 1 bool), kept between calls:
    allocating fresh 512 KiB temporaries costs page faults each call once glibc returns freed
    memory to the system (measured 6x slower on 100k-element arrays)."""
    return scratch("formats.fast32.block", _block_buffers)


def _block_buffers() -> list[np.ndarray]:
    return [np.empty(BLOCK, np.uint32) for _ in range(5)] + [np.empty(BLOCK, bool)]


def is_clean(b: np.ndarray, limit: np.float32) -> bool:
    """Whether every magnitude of the float32 patterns ``b`` is at most ``limit`` (False with a
    NaN): two reductions, no temporary."""
    x = b.view(np.float32)
    return bool(x.max(initial=0) <= limit and -x.min(initial=0) <= limit)


def random_words(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniform uint32 words: the generator's raw 64-bit output split in two (4x faster than
    ``rng.integers``); deterministic for a seeded generator."""
    return rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
