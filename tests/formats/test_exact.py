"""Every rounding mode and overflow policy against the exact Fraction oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import mixprec as mp
from tests.formats.conftest import DETERMINISTIC, assert_same, midpoint_probes
from tests.reference import exact_round

EIGHT_BIT_OR_LESS = [f.name for f in mp.list_formats() if not f.is_integer and f.bits <= 8] + [
    "e3m4", "e2m5fnuz", "e4m3b11fnuz", "e5m2fn",
]  # fmt: skip


def _oracle(x: np.ndarray, fmt: mp.FloatFormat, rounding: str, overflow: str) -> np.ndarray:
    out = np.empty(x.shape, dtype=np.float64)
    for i, value in enumerate(x.tolist()):
        if np.isnan(value):
            out[i] = np.nan
        else:  # a float: the oracle keeps the sign of -0.0, which Fraction(-0.0) would lose
            out[i] = exact_round(value, fmt, rounding, overflow)
    return out


@pytest.mark.parametrize("overflow", ["saturate", "inf"])
@pytest.mark.parametrize("rounding", DETERMINISTIC)
@pytest.mark.parametrize("name", EIGHT_BIT_OR_LESS)
def test_every_midpoint_probe_of_small_formats(name: str, rounding: str, overflow: str) -> None:
    fmt = mp.get_format(name)
    x = midpoint_probes(fmt)
    x = x[~np.isnan(x)]
    expected = _oracle(x, fmt, rounding, overflow)
    assert_same(mp.quantize(x, fmt, rounding, overflow), expected, x, f"{name} float32")
    wide = x.astype(np.float64)
    assert_same(mp.quantize(wide, fmt, rounding, overflow), expected, wide, f"{name} float64")


WIDE = ["fp16", "bf16", "tf32", "fp32", "e5m6", "e6m9fnuz", "int16", "fixed<12,4>", "uint8"]


@settings(max_examples=400, deadline=None)
@given(
    bits=st.integers(0, 2**64 - 1),
    name=st.sampled_from(WIDE),
    rounding=st.sampled_from(DETERMINISTIC),
    overflow=st.sampled_from(["saturate", "inf"]),
    as_float32=st.booleans(),
)
def test_wide_formats_against_the_oracle(
    bits: int, name: str, rounding: str, overflow: str, as_float32: bool
) -> None:
    fmt = mp.get_format(name)
    if fmt.is_integer:
        overflow = "saturate"
    if as_float32:
        x = np.array([bits & 0xFFFFFFFF], dtype=np.uint32).view(np.float32)
    else:
        x = np.array([bits], dtype=np.uint64).view(np.float64)
        x = np.ldexp(np.frexp(x)[0], np.frexp(x)[1] % 300 - 150)  # keep it near the range
    assume(not (np.isnan(x[0]) or (fmt.is_integer and np.isinf(x[0]))))
    expected = _oracle(x, fmt, rounding, overflow)
    assert_same(mp.quantize(x, fmt, rounding, overflow), expected, x, name)
