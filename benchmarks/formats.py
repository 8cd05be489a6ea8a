"""Speed of mixprec.quantize beside ml_dtypes / numpy casts, measured in one run.

    python benchmarks/formats.py [--n 16777216] [--repeat 5]

Rounds n float32 values (a wide set spanning subnormals to overflow, and an in-range set) to
bf16, fp16, fp8_e4m3, fp8_e5m2 with nearest_even (beside ``x.astype(dtype).astype(float32)``)
and stochastic rounding, and to formats ml_dtypes lacks (tf32, e5m6, fp8_e4m3 with saturation).
Prints million values per second and the ratio mixprec / oracle. Best of ``--repeat`` runs.
mixprec uses ``$MIXPREC_THREADS`` threads (default: the usable cores); ml_dtypes and numpy casts
are single-threaded. Run with MIXPREC_THREADS=1 to compare one core to one core.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    n = args.n
    rng = np.random.default_rng(0)
    wide = (rng.standard_normal(n) * np.exp2(rng.uniform(-40, 40, n))).astype(np.float32)
    in_range = rng.standard_normal(n).astype(np.float32)
    print(
        f"numpy {np.__version__}, ml_dtypes {ml_dtypes.__version__}, mixprec {mp.__version__}, "
        f"python {platform.python_version()}, mixprec threads {threads()}, n = {n:,}"
    )
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


if __name__ == "__main__":
    main()
