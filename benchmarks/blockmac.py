"""Speed of the exact MX and NVFP4 MACs beside numpy and the fp8 MAC, in one run.

    OPENBLAS_NUM_THREADS=1 python benchmarks/blockmac.py

At 128x784x128 (the book MLP's first layer at batch 128), float32 operands that each MAC
quantizes itself (blocks along K): ``mxfp8_e4m3->fp32``, ``mxfp4->fp32``, ``nvfp4->fp32`` and
``mxfp8_e4m3->fp32`` on already-encoded operands, against numpy's float32 ``@`` and against the
``fp8_e4m3->fp32`` MAC (order fast) on the same float32 operands. Turns are interleaved and each
keeps its best time; ratios are reference time / block MAC time. Run with
``OPENBLAS_NUM_THREADS=1`` (set here before numpy loads) so BLAS uses one core as the emulator.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import platform
import time

import numpy as np

import mixprec as mp
from mixprec.mac import MAC


def main(repeat: int = 7) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 784)).astype(np.float32)
    b = rng.standard_normal((784, 128)).astype(np.float32)
    fp8 = MAC.parse("fp8_e4m3->fp32")
    cases = {
        "numpy float32 @": lambda: a @ b,
        "fp8_e4m3->fp32": lambda: fp8.matmul(a, b),
    }
    for notation in ("mxfp8_e4m3->fp32", "mxfp4->fp32", "nvfp4->fp32"):
        mac = MAC.parse(notation)
        cases[notation] = lambda mac=mac: mac.matmul(a, b)
    mx = MAC.parse("mxfp8_e4m3->fp32")
    encoded = (mp.encode(a, mx.input, axis=1), mp.encode(b, mx.input, axis=0))
    cases["mxfp8_e4m3->fp32 (encoded)"] = lambda: mx.matmul(*encoded)
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for name, func in cases.items():
            start = time.perf_counter()
            func()
            best[name] = min(best[name], time.perf_counter() - start)
    print(
        f"numpy {np.__version__}, python {platform.python_version()}, OPENBLAS_NUM_THREADS="
        f"{os.environ['OPENBLAS_NUM_THREADS']}, load average {os.getloadavg()[0]:.2f}"
    )
    print("| MAC at 128x784x128 | ms | numpy f32 @ / it | fp8_e4m3->fp32 / it |")
    print("|---|---|---|---|")
    for name, seconds in best.items():
        print(
            f"| {name} | {seconds * 1e3:.2f} | {best['numpy float32 @'] / seconds:.4f} | "
            f"{best['fp8_e4m3->fp32'] / seconds:.3f} |"
        )


if __name__ == "__main__":
    main()
