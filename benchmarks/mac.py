"""Speed of the emulated MAC matmuls beside numpy, in one run: ``python benchmarks/mac.py``.

* ``int8->int32``, ``fp16->fp32`` and ``bf16->fp32`` (order fast) against numpy float32 ``@`` on
  the same shapes; operands arrive in their storage dtype (np.int8, np.float16, bfloat16).
* ``fp16->fp16`` and ``bf16->bf16`` (sequential, bit-exact) against a naive numpy K-loop in
  float16 arithmetic (``acc = acc + a[:, k, None] * b[None, k, :]``; it rounds each product
  and each sum to fp16: not the same numbers, the speed reference only), and in bfloat16.

Each MAC and its reference run in turns (a few calls of one, then of the other, repeatedly), so
that the load of a shared machine hits both alike; each keeps its best time. The ratio is
reference time / mixprec time (higher is faster). Targets (issue 3): at 128x784x128,
int8->int32 >= 0.75 and fp16->fp32 >= 0.7 of numpy's float32 speed; fp16->fp16 sequential >= 4
(a quarter of the naive loop's time or less).
* Tensor-core MACs (``fp8_e4m3->fp32:h100`` ...: the bit-accurate block-FMA models) against the
  ideal MAC of the same inputs (exact products, fp32 BLAS); target (issue 14): the H100 FP8 MAC
  at 128x784x128 in <= 0.5 s on one core (``OPENBLAS_NUM_THREADS=1``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

if __name__ == "__main__" and "--blas-threads" in sys.argv:  # before numpy loads OpenBLAS
    os.environ["OPENBLAS_NUM_THREADS"] = sys.argv[sys.argv.index("--blas-threads") + 1]

import ml_dtypes
import numpy as np

from mixprec.mac import MAC


def race(
    first: Callable[[], object], second: Callable[[], object], rounds: int, inner: int = 3
) -> tuple[float, float]:
    """Best times (s) of two functions, run in turns: ``inner`` calls of one, then of the other,
    ``rounds`` times (so that machine load hits both alike, while each runs warm)."""
    first(), second()
    best = [np.inf, np.inf]
    for _ in range(rounds):
        for i, func in enumerate((first, second)):
            for _ in range(inner):
                start = time.perf_counter()
                func()
                best[i] = min(best[i], time.perf_counter() - start)
    return best[0], best[1]


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        pools = [
            f"{p['internal_api']} {p['version']} ({p['num_threads']} threads)"
            for p in threadpool_info()
        ]
        return "; ".join(pools) or "no BLAS thread pool found"
    except ImportError:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
        return (
            f"{blas.get('name', '?')} {blas.get('version', '?')} (OPENBLAS_NUM_THREADS={threads})"
        )


def naive_loop(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    acc = np.zeros((a.shape[0], b.shape[1]), dtype=a.dtype)
    for k in range(a.shape[1]):
        acc = acc + a[:, k, None] * b[None, k, :]
    return acc


def conversion_ceilings(
    rng: np.random.Generator, rounds: int
) -> list[tuple[str, str, float, float]]:
    """Time of converting both 128x784x128 operands to float32, raced against float32 ``@``:
    ``(operands, how, seconds, reference seconds)``."""
    from mixprec.mac.convert import convert_pair

    a = rng.standard_normal((128, 784)).astype(np.float32)
    b = rng.standard_normal((784, 128)).astype(np.float32)
    pairs = {
        "int8": (a.astype(np.int8), b.astype(np.int8)),
        "fp16": (a.astype(np.float16), b.astype(np.float16)),
        "bf16": (a.astype(ml_dtypes.bfloat16), b.astype(ml_dtypes.bfloat16)),
    }
    ways = [
        ("int8", "numpy cast into scratch (mixprec)", None),
        ("fp16", "bit construction (mixprec)", None),
        ("fp16", "numpy astype(float32)", "astype"),
        ("bf16", "ml_dtypes cast into scratch (mixprec)", None),
    ]
    out = []
    for name, how, kind in ways:
        x, y = pairs[name]
        if kind == "astype":
            convert = lambda x=x, y=y: (x.astype(np.float32), y.astype(np.float32))  # noqa: E731
        else:
            convert = lambda x=x, y=y: convert_pair(x, y, np.float32)  # noqa: E731
        t, ref = race(convert, lambda: a @ b, rounds)
        out.append((name, how, t, ref))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="turns per pair (best is kept)")
    parser.add_argument("--quick", action="store_true", help="skip the 1024^3 shape")
    parser.add_argument(
        "--blas-threads",
        type=int,
        help="OpenBLAS threads for numpy and mixprec alike (on a loaded machine multi-threaded "
        "BLAS timings are erratic)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    versions = f"numpy {np.__version__}, ml_dtypes {ml_dtypes.__version__}"
    print(f"{versions}, Python {platform.python_version()}, {platform.machine()}")
    threads = os.environ.get("MIXPREC_THREADS", "default")
    print(f"BLAS: {blas_info()}; CPUs: {os.cpu_count()}; MIXPREC_THREADS={threads}")
    if hasattr(os, "getloadavg"):
        print(f"load average at start: {os.getloadavg()[0]:.2f}")
    rows: list[tuple[str, str, float, str, float, str]] = []
    targets = {"int8->int32": ">= 0.75", "fp16->fp32": ">= 0.7"}

    shapes = [(128, 784, 128)] + ([] if args.quick else [(1024, 1024, 1024)])
    for m, k, n in shapes:
        shape = f"{m}x{k}x{n}"
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        rounds = args.rounds if m < 1024 else max(3, args.rounds // 2)
        operands = {
            "int8->int32": (
                rng.integers(-128, 128, (m, k)).astype(np.int8),
                rng.integers(-128, 128, (k, n)).astype(np.int8),
            ),
            "fp16->fp32": (a.astype(np.float16), b.astype(np.float16)),
            "bf16->fp32": (a.astype(ml_dtypes.bfloat16), b.astype(ml_dtypes.bfloat16)),
        }
        for notation, (x, y) in operands.items():
            mac = MAC.parse(notation)
            t, ref = race(lambda mac=mac, x=x, y=y: mac.matmul(x, y), lambda: a @ b, rounds)
            target = targets.get(notation, "") if m == 128 else ""
            rows.append((f"{notation} fast", shape, t, "numpy float32 @", ref, target))

    ceilings = conversion_ceilings(rng, args.rounds)

    m, k, n = 128, 784, 128
    a16 = rng.standard_normal((m, k)).astype(np.float16)
    b16 = rng.standard_normal((k, n)).astype(np.float16)
    abf, bbf = a16.astype(ml_dtypes.bfloat16), b16.astype(ml_dtypes.bfloat16)
    rounds = max(3, args.rounds // 2)
    references = {
        "naive float16 K-loop": lambda: naive_loop(a16, b16),
        "naive bfloat16 K-loop": lambda: naive_loop(abf, bbf),
    }
    cases = [
        ("fp16->fp16", a16, b16, "naive float16 K-loop", ">= 4"),
        ("bf16->bf16", abf, bbf, "naive float16 K-loop", ""),
        ("bf16->bf16", abf, bbf, "naive bfloat16 K-loop", ""),
    ]
    for notation, x, y, ref_name, target in cases:
        mac = MAC.parse(notation)
        t, ref = race(lambda mac=mac, x=x, y=y: mac.matmul(x, y), references[ref_name], rounds)
        rows.append((f"{notation} sequential", f"{m}x{k}x{n}", t, ref_name, ref, target))

    # tensor cores (bit-accurate block-FMA models) against the ideal MAC of the same inputs
    a8 = rng.standard_normal((m, k)).astype(ml_dtypes.float8_e4m3fn)
    b8 = rng.standard_normal((k, n)).astype(ml_dtypes.float8_e4m3fn)
    ideal8 = MAC.parse("fp8_e4m3->fp32")
    tensor_cores = [
        ("fp8_e4m3->fp32:h100", a8, b8, "ideal fp8_e4m3->fp32", "<= 0.5 s"),
        ("fp8_e4m3->fp32:h100:promote:128", a8, b8, "ideal fp8_e4m3->fp32", ""),
        ("fp8_e4m3->fp32:b200", a8, b8, "ideal fp8_e4m3->fp32", ""),
        ("bf16->fp32:h100", abf, bbf, "ideal bf16->fp32", ""),
        ("fp16->fp32:v100", a16, b16, "ideal fp16->fp32", ""),
    ]
    for notation, x, y, ref_name, target in tensor_cores:
        mac = MAC.parse(notation)
        ideal = ideal8 if x is a8 else MAC.parse(ref_name.split()[1])
        t, ref = race(
            lambda mac=mac, x=x, y=y: mac.matmul(x, y),
            lambda ideal=ideal, x=x, y=y: ideal.matmul(x, y),
            rounds,
        )
        rows.append((notation, f"{m}x{k}x{n}", t, ref_name, ref, target))

    print()
    header = (
        f"{'MAC':<32} {'shape':<15} {'mixprec ms':>11} {'reference':<22} {'ref ms':>9} "
        f"{'ratio':>7}  target"
    )
    print(header)
    print("-" * len(header))
    for name, shape, t, ref_name, ref, target in rows:
        print(
            f"{name:<32} {shape:<15} {t * 1e3:>11.3f} {ref_name:<22} {ref * 1e3:>9.3f} "
            f"{ref / t:>7.3g}  {target}"
        )
    print("\nratio = reference time / mixprec time (higher is faster); best of N turns each.")
    print(
        "\nThe BLAS paths first convert both operands to float32 (exactly). That conversion "
        "alone, at 128x784x128,\nbounds the ratio of any implementation that does it with "
        "numpy: ref / (ref + conversion)."
    )
    print(f"{'operands':<10} {'conversion':<34} {'ms':>7} {'ref ms':>8} {'ceiling':>8}")
    for operands, how, t, ref in ceilings:
        print(f"{operands:<10} {how:<34} {t * 1e3:>7.3f} {ref * 1e3:>8.3f} {ref / (ref + t):>8.2f}")
    if hasattr(os, "getloadavg"):
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
