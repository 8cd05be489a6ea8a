"""Speed of mixprec.quantize beside ml_dtypes / numpy casts, measured in one run.

    python benchmarks/formats.py [--n 16777216] [--repeat 5]

Rounds n float32 values (a wide set spanning subnormals to overflow, and an in-range set) to
bf16, fp16, fp8_e4m3, fp8_e5m2 with nearest_even (beside ``x.astype(dtype).astype(float32)``)
and stochastic rounding, and to formats ml_dtypes lacks (tf32, e5m6, fp8_e4m3 with saturation).
Prints million values per second and the ratio mixprec / oracle. Best of ``--repeat`` runs.
Then the block formats (MX, NVFP4) beside mixprec's elementwise rounding to their element format
and the elementwise cast of it (``--blocks-only`` for those rows alone).
mixprec uses ``$MIXPREC_THREADS`` threads (default: the usable cores); ml_dtypes and numpy casts
are single-threaded. Run with MIXPREC_THREADS=1 to compare one core to one core.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import ml_dtypes
import numpy as np

import mixprec as mp
from mixprec._util.threads import threads


def best_rate(func, n: int, repeat: int) -> float:
    """Million values per second, best of ``repeat``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return n / best / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 24)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--blocks-only", action="store_true", help="only the block-format rows")
    args = parser.parse_args()
    n = args.n
    rng = np.random.default_rng(0)
    wide = (rng.standard_normal(n) * np.exp2(rng.uniform(-40, 40, n))).astype(np.float32)
    in_range = rng.standard_normal(n).astype(np.float32)
    print(
        f"numpy {np.__version__}, ml_dtypes {ml_dtypes.__version__}, mixprec {mp.__version__}, "
        f"python {platform.python_version()}, mixprec threads {threads()}, n = {n:,}"
    )
    print(f"load average at the start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.blocks_only:
        block_rows(in_range, args.repeat)
        return
    print("wide: N(0,1) * 2**U(-40, 40) (subnormals, overflow for fp8/fp16); in-range: N(0,1)\n")
    print("| format | set | rounding | oracle | oracle M/s | mixprec M/s | ratio |")
    print("|---|---|---|---|---|---|---|")
    cases = [
        ("bf16", ml_dtypes.bfloat16, "ml_dtypes"),
        ("fp16", np.float16, "numpy"),
        ("fp8_e4m3", ml_dtypes.float8_e4m3fn, "ml_dtypes"),
        ("fp8_e5m2", ml_dtypes.float8_e5m2, "ml_dtypes"),
    ]
    for name, dtype, oracle in cases:
        for label, x in (("wide", wide), ("in-range", in_range)):
            with np.errstate(over="ignore", invalid="ignore"):
                reference = best_rate(lambda: x.astype(dtype).astype(np.float32), n, args.repeat)
            ours = best_rate(lambda: mp.quantize(x, name, overflow="inf"), n, args.repeat)
            print(
                f"| {name} | {label} | nearest_even | {oracle} astype | {reference:.0f} | "
                f"{ours:.0f} | {ours / reference:.2f} |"
            )
        seeded = np.random.default_rng(1)
        ours = best_rate(
            lambda: mp.quantize(wide, name, rounding="stochastic", rng=seeded), n, args.repeat
        )
        print(f"| {name} | wide | stochastic | (none) | - | {ours:.0f} | - |")
    for name in ("tf32", "e5m6", "fp8_e4m3 (saturate)", "e3m4"):
        fmt = name.split()[0]
        ours = best_rate(lambda: mp.quantize(wide, fmt), n, args.repeat)
        print(f"| {name} | wide | nearest_even | (none) | - | {ours:.0f} | - |")
    block_rows(in_range, args.repeat)
    print(f"\nload average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


BLOCK_CASES = [
    ("mxfp8_e4m3", "fp8_e4m3", ml_dtypes.float8_e4m3fn),
    ("mxfp8_e5m2", "fp8_e5m2", ml_dtypes.float8_e5m2),
    ("mxfp6_e2m3", "fp6_e2m3", ml_dtypes.float6_e2m3fn),
    ("mxfp6_e3m2", "fp6_e3m2", ml_dtypes.float6_e3m2fn),
    ("mxfp4", "fp4_e2m1", ml_dtypes.float4_e2m1fn),
    ("mxint8", "fixed<8,6>", None),
    ("nvfp4", "fp4_e2m1", ml_dtypes.float4_e2m1fn),
]


def interleaved(funcs: list, n: int, repeat: int) -> list[float]:
    """Million values per second of each function, best of ``repeat`` interleaved turns."""
    best = [float("inf")] * len(funcs)
    for _ in range(repeat):
        for i, func in enumerate(funcs):
            start = time.perf_counter()
            func()
            best[i] = min(best[i], time.perf_counter() - start)
    return [n / b / 1e6 for b in best]


def block_rows(x: np.ndarray, repeat: int) -> None:
    """Block formats (blocks of 32 or 16 along the last axis of N(0,1) data) beside mixprec's
    elementwise rounding to the element format and ml_dtypes' elementwise cast of it (for the
    MXINT8 element, numpy's ``clip(rint(x * 64)) / 64``), interleaved in one run."""
    print(
        "\n| block format | block M/s | element (mixprec) M/s | ratio | element cast | cast M/s "
        "| ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for block, element, dtype in BLOCK_CASES:
        if dtype is not None:
            cast_name = "ml_dtypes astype"

            def cast(dtype=dtype):
                return x.astype(dtype).astype(np.float32)
        else:
            cast_name = "numpy rint/clip"

            def cast():
                return np.clip(np.rint(x * np.float32(64)), -128, 127) / np.float32(64)

        ours, element_rate, cast_rate = interleaved(
            [lambda: mp.quantize(x, block), lambda: mp.quantize(x, element), cast], x.size, repeat
        )
        print(
            f"| {block} | {ours:.1f} | {element_rate:.1f} | {ours / element_rate:.2f} | "
            f"{cast_name} | {cast_rate:.1f} | {ours / cast_rate:.2f} |"
        )


if __name__ == "__main__":
    main()
