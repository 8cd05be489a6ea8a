"""mixprec's tensor-core models against MMA results measured on the GPUs, bit for bit.

Khattak & Mikaitis publish part of their validation data (``model_validation/<GPU>/<input>/``:
a, b, c and the GPU's d of 5000 block FMAs each) in north-numerical-computing/MATLAB-tensor-core
(BSD-2). This script reads a clone of it (a work tree, or a bare git directory, read with
``git show``), runs ``MAC.tensor_core(gpu, input, output)`` on every sample and prints how many
results equal the GPU's bits, beside the ideal MAC (exact products, one IEEE addition each) of the
same formats. Run by hand (the data is not part of mixprec)::

    python tools/validate_tensor_cores.py /path/to/MATLAB-tensor-core
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys

import numpy as np

from mixprec.mac import MAC

INPUTS = {"fp16": "fp16", "bf16": "bf16", "tf32": "tf32", "E5M2": "fp8_e5m2", "E4M3": "fp8_e4m3"}
GPUS = ["V100", "A100", "A2", "H100", "H200", "B200", "Ada", "L40S"]


def _reader(root: pathlib.Path):
    if (root / "model_validation").is_dir():
        return lambda rel: (root / rel).read_text() if (root / rel).exists() else None

    def show(rel: str) -> str | None:
        done = subprocess.run(
            ["git", "-C", str(root), "show", f"HEAD:{rel}"], capture_output=True, text=True
        )
        return done.stdout if done.returncode == 0 else None

    return show


def _hex(text: str) -> np.ndarray:
    rows = [[int(t, 16) for t in line.split()] for line in text.splitlines() if line.strip()]
    return np.array(rows, dtype=np.uint32).view(np.float32)


def _bits(text: str) -> np.ndarray:
    codes = [int(line.strip(), 2) for line in text.splitlines() if line.strip()]
    return np.array(codes, dtype=np.uint32).view(np.float32)


def _rowwise(mac: MAC, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``d[i] = a[i] . b[i] + c[i]`` for every sample (in blocks, taking diagonals)."""
    out = np.empty(len(a), dtype=np.float32)
    step = 128
    for start in range(0, len(a), step):
        part = slice(start, start + step)
        n = len(a[part])
        full = mac.matmul(a[part], b[part].T, c=np.broadcast_to(c[part][:, None], (n, n)))
        assert isinstance(full, np.ndarray)  # no stats= asked for: the array alone
        out[part] = np.diagonal(full)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=pathlib.Path, help="MATLAB-tensor-core clone or git dir")
    args = parser.parse_args()
    read = _reader(args.repo)
    print(f"{'GPU':<6} {'input -> output':<22} {'samples':>7} {'model':>8} {'ideal':>8}")
    failures = 0
    for gpu in GPUS:
        for folder, fmt in INPUTS.items():
            base = f"model_validation/{gpu}/{folder}"
            a_text, b_text = (
                read(f"{base}/a_{gpu}_{folder}.txt"),
                read(f"{base}/b_{gpu}_{folder}.txt"),
            )
            c_text = read(f"{base}/c_{gpu}_fp32.txt")
            if a_text is None or b_text is None or c_text is None:
                continue
            a, b = _hex(a_text), _hex(b_text)
            c = _bits(c_text)
            if gpu in ("H100", "H200") and fmt.startswith("fp8"):
                c = np.zeros_like(c)  # the data's D = A B + D with D = 0 (WGMMA)
            for out in ("fp32", "fp16") if fmt == "fp16" else ("fp32",):
                d_text = read(f"{base}/d_{gpu}_{out}.txt")
                if d_text is None:
                    continue
                d = _bits(d_text)
                mac = MAC.tensor_core(gpu.lower(), fmt, out)
                ideal = MAC.parse(f"{fmt}->{out}:sequential")
                cc = c if out == "fp32" else c.astype(np.float16).astype(np.float32)
                model = _rowwise(mac, a, b, cc)
                exact = _rowwise(ideal, a, b, cc)
                same = np.count_nonzero(model.view(np.uint32) == d.view(np.uint32))
                same_ideal = np.count_nonzero(exact.view(np.uint32) == d.view(np.uint32))
                failures += len(d) - same
                print(
                    f"{gpu:<6} {fmt + ' -> ' + out:<22} {len(d):>7} {same / len(d):>8.2%} "
                    f"{same_ideal / len(d):>8.2%}"
                )
    print("model: share of samples whose bits equal the GPU's; ideal: the same for the ideal MAC")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
