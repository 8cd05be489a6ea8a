"""Peak memory of mixprec.encode and mixprec.quantize on large arrays, each case in a fresh process.

    python benchmarks/memory.py [--n 134217728] [--formats fp8_e4m3,bf16] [--entries quantize]

For every entry (encode, quantize), input dtype (float32, float64) and format, a child process
allocates the input (n values of N(0, 1) * 100, filled in chunks so nothing else stays
allocated), calls the entry once and reports its peak resident set size (``ru_maxrss`` of
``resource.getrusage``). A baseline child of the same dtype only allocates the input (and
imports mixprec). The table gives the extra peak (case minus baseline) per element, and the
ratio of the memory the call needs, ``extra + input``, to ``input + output`` bytes (issue 12
asks for at most 3).
Children run one after the other, so the machine needs room for one case at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

import ml_dtypes
import numpy as np

FORMATS = ("fp8_e4m3", "fp8_e5m2", "bf16", "fp16", "e9m40", "int8")
DTYPES = ("float32", "float64")
ENTRIES = ("encode", "quantize")

CHILD = """
import json, resource, sys
import numpy as np
n, dtype, entry, fmt = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
x = np.empty(n, dtype)
rng = np.random.default_rng(0)
chunk = 1 << 20
for lo in range(0, n, chunk):
    part = x[lo:lo + chunk]
    rng.standard_normal(part.size, dtype=dtype, out=part)
    part *= 100
import mixprec as mp
out_bytes = 0
if entry != "baseline":
    out = getattr(mp, entry)(x, fmt)
    out_bytes = out.nbytes
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"peak": peak, "out_bytes": out_bytes, "in_bytes": x.nbytes}))
"""


def run_child(n: int, dtype: str, entry: str, fmt: str) -> dict[str, int]:
    """Run one case in a fresh interpreter; its peak RSS and the input and output sizes."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), dtype, entry, fmt],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "MIXPREC_THREADS": os.environ.get("MIXPREC_THREADS", "1")},
    )
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 27)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--entries", default=",".join(ENTRIES))
    args = parser.parse_args()
    n = args.n
    import mixprec as mp

    print(
        f"numpy {np.__version__}, ml_dtypes {ml_dtypes.__version__}, mixprec {mp.__version__}, "
        f"python {platform.python_version()}, n = {n:,}, load average "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}, "
        f"MIXPREC_THREADS={os.environ.get('MIXPREC_THREADS', '1')}\n"
    )
    print("| entry | input | format | extra peak B/elem | (extra + in) / (in + out) |")
    print("|---|---|---|---|---|")
    for dtype in args.dtypes.split(","):
        base = run_child(n, dtype, "baseline", "")
        for entry in args.entries.split(","):
            for fmt in args.formats.split(","):
                case = run_child(n, dtype, entry, fmt)
                extra = max(0, case["peak"] - base["peak"])
                ratio = (extra + case["in_bytes"]) / (case["in_bytes"] + case["out_bytes"])
                print(f"| {entry} | {dtype} | {fmt} | {extra / n:.1f} | {ratio:.2f} |", flush=True)


if __name__ == "__main__":
    main()
