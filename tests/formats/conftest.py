"""Shared fixtures of the format tests: the oracles and the probe inputs."""

from __future__ import annotations

import numpy as np

import mixprec as mp
from mixprec.formats import storage_dtype

# Registered formats that numpy or ml_dtypes also implement: their casts are the oracle.
ORACLE_FORMATS = [
    f.name
    for f in mp.list_formats()
    if not f.is_integer and f.bits <= 16 and storage_dtype(f) is not None
]
SMALL_FLOAT_FORMATS = [f.name for f in mp.list_formats() if not f.is_integer and f.bits <= 16]
ROUNDINGS = [r.value for r in mp.Rounding]
DETERMINISTIC = [r for r in ROUNDINGS if r != "stochastic"]


def all_values(fmt: mp.FloatFormat) -> np.ndarray:
    """Every non-NaN value of a float format of <= 16 bits, sorted, -0 dropped."""
    codes = np.arange(2**fmt.bits, dtype=np.uint32)
    values = mp.decode(codes, fmt, dtype=np.float64)
    values = values[~np.isnan(values) & ~(np.signbit(values) & (values == 0))]
    return np.unique(values)


def midpoint_probes(fmt: mp.FloatFormat) -> np.ndarray:
    """float32 inputs at and just beside every value and every midpoint of ``fmt``.

    Also the points around ``max`` (the overflow threshold) and the underflow threshold.
    """
    values = all_values(fmt)
    finite = values[np.isfinite(values)]
    mids = (finite[:-1] + finite[1:]) / 2  # exact in float64
    top = np.array([fmt.max + (fmt.max - finite[-2]) / 2, fmt.max * 2, fmt.smallest_subnormal / 2])
    with np.errstate(over="ignore"):  # bf16's overflow threshold is beyond float32
        centers = np.concatenate([finite, mids, top, -top]).astype(np.float32)
        probes = np.concatenate(
            [
                centers,
                np.nextafter(centers, np.float32(np.inf)),
                np.nextafter(centers, np.float32(-np.inf)),
                np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dtype=np.float32),
            ]
        )
    return probes


def oracle_cast(x: np.ndarray, fmt_name: str) -> np.ndarray:
    """numpy / ml_dtypes ``x.astype(dtype).astype(x.dtype)``: nearest even, unsaturated."""
    dtype = storage_dtype(fmt_name)
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(dtype).astype(x.dtype)


def same(actual: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Element-wise bit equality of float values, any NaN equal to any NaN, -0 != +0."""
    with np.errstate(invalid="ignore"):  # signaling NaNs
        actual = np.asarray(actual, dtype=np.float64)
        expected = np.asarray(expected, dtype=np.float64)
    both_nan = np.isnan(actual) & np.isnan(expected)
    return both_nan | ((actual == expected) & (np.signbit(actual) == np.signbit(expected)))


def assert_same(actual: np.ndarray, expected: np.ndarray, inputs: np.ndarray, what: str) -> None:
    ok = same(actual, expected)
    if not ok.all():
        bad = np.flatnonzero(~ok)[:5]
        raise AssertionError(
            f"{what}: {int((~ok).sum())} of {ok.size} differ; inputs {inputs.flat[bad]!r} "
            f"gave {np.asarray(actual).flat[bad]!r}, expected {np.asarray(expected).flat[bad]!r}"
        )
