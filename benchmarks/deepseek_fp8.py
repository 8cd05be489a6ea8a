"""DeepSeek-V3's FP8 accumulation experiment (arXiv 2412.19437, §3.3.2) on the H100 tensor-core
model: ``python benchmarks/deepseek_fp8.py``.

DeepSeek-V3 found that FP8 GEMMs on H800 tensor cores keep about 14 bits in accumulation (a
maximum relative error near 2% at K = 4096) and fixed it by promoting the partial sums to fp32
CUDA-core registers every N_C = 128 elements. Here: E4M3 operands, products summed by
``MAC.tensor_core("h100", "fp8_e4m3", "fp32")`` (groups of 32 products, 13 fraction bits,
truncation), without and with ``promote:128``, and the ideal ``fp8_e4m3->fp32`` MAC, against the
exact product (float64 BLAS on the fp8 values: products are multiples of 2**-18 below 2**18, so
every partial sum below 2**35 is exact in float64).

Inputs: ``uniform``: U(0, 1) quantized to E4M3 (all products positive: truncation errors add up,
the worst case for a truncating adder); ``normal``: N(0, 1) quantized to E4M3. The relative error
of an output is ``|d - exact| / |exact|``; for ``normal`` inputs, whose exact outputs can be near
zero, ``|d - exact| / sum_k |a_k b_k|`` is also shown (the error relative to the magnitudes
summed).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import mixprec as mp
from mixprec.mac import MAC

MACS = {
    "h100": "fp8_e4m3->fp32:h100",
    "h100 promote:128": "fp8_e4m3->fp32:h100:promote:128",
    "ideal fp32": "fp8_e4m3->fp32:sequential",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="M = N (outputs per K: size**2)")
    parser.add_argument("--ks", type=int, nargs="+", default=[1024, 4096, 16384])
    args = parser.parse_args()
    rng = np.random.default_rng(2412)
    m = n = args.size
    print(f"outputs per K: {m}x{n}; load average {os.getloadavg()[0]:.2f}")
    header = (
        f"{'inputs':<8} {'K':>6} {'MAC':<18} {'max rel':>9} {'median rel':>11} "
        f"{'max |e|/sum|ab|':>16}"
    )
    print(header)
    print("-" * len(header))
    for kind in ("uniform", "normal"):
        for k in args.ks:
            draw = rng.random if kind == "uniform" else rng.standard_normal
            a = mp.quantize(draw((m, k)), "fp8_e4m3").astype(np.float64)
            b = mp.quantize(draw((k, n)), "fp8_e4m3").astype(np.float64)
            exact = a @ b
            scale = np.abs(a) @ np.abs(b)
            for name, notation in MACS.items():
                start = time.perf_counter()
                d = MAC.parse(notation).matmul(a, b).astype(np.float64)
                seconds = time.perf_counter() - start
                with np.errstate(divide="ignore", invalid="ignore"):
                    rel = np.abs(d - exact) / np.abs(exact)
                rel = rel[np.isfinite(rel)]
                normwise = np.max(np.abs(d - exact) / scale)
                print(
                    f"{kind:<8} {k:>6} {name:<18} {rel.max():>9.2e} {np.median(rel):>11.2e} "
                    f"{normwise:>16.2e}   ({seconds:.1f} s)"
                )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
