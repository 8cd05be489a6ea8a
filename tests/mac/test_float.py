"""Float MACs bit for bit against the exact Fraction MAC, in every order; known effects."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mixprec as mp
from mixprec.mac import MAC, floating
from tests.mac import oracle
from tests.mac.strategies import assert_same, operands, values

# Sequential, pairwise and chunked orders over fp16, bf16, fp8 and odd accumulators, every
# rounding mode, both overflow policies, product formats, integer inputs.
ORDERED_MACS = [
    "fp16->fp16", "fp16->fp16:pairwise", "fp16->fp16:chunked:3", "fp16->fp16:saturate",
    "fp16->fp16:nearest_away", "fp16->fp16:toward_zero", "fp16->fp16:up", "fp16->fp16:down",
    "fp16->fp16:odd", "fp16->fp16:chunked:2:saturate:toward_zero",
    "bf16->bf16", "bf16->bf16:pairwise", "bf16->bf16:chunked:2", "bf16->bf16:saturate:down",
    "fp8_e4m3->fp16", "fp8_e4m3->fp8_e4m3", "fp8_e4m3->fp8_e4m3:saturate:pairwise",
    "fp8_e5m2->fp8_e5m2", "fp8_e5m2->bf16:chunked:4", "fp8_e4m3fnuz->fp8_e5m2fnuz",
    "fp8_e4m3fnuz->fp8_e5m2fnuz:down",
    "fp4_e2m1->fp6_e3m2", "fp8_e4m3->fp16->fp32:sequential", "fp16->fp8_e5m2->fp16",
    "bf16->fp8_e4m3->bf16:saturate", "fp16->fp32:sequential", "bf16->fp32:pairwise",
    "bf16->fp32:chunked:3:up", "fp32->fp32:sequential", "fp16->fp64:sequential",
    "fp8_e4m3->tf32", "int8->fp16", "fp16->e6m9:odd",
]  # fmt: skip


def _expected(mac: MAC, a: np.ndarray, b: np.ndarray, init=None, order=None):
    rows, events = oracle.float_matmul(a, b, mac, init, order)
    shape = (a.shape[0], b.shape[1])
    return np.array(rows, dtype=np.float64).reshape(shape), events


def _check_stats(stats: mp.mac.MacStats, events, y: np.ndarray, context: str) -> None:
    for name in ("saturations", "overflows", "product_roundings", "product_overflows"):
        assert getattr(stats, name) == events[name], (context, name, stats, dict(events))
    assert stats.inf_results == np.isinf(y).sum() and stats.nan_results == np.isnan(y).sum()
    assert stats.wraps == stats.input_saturations == stats.input_flushes == 0


@pytest.mark.parametrize("notation", ORDERED_MACS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_matches_exact_fraction_mac(notation: str, data: st.DataObject) -> None:
    mac = MAC.parse(notation)
    a, b = data.draw(operands(mac.input))
    y, stats = mac.matmul(a, b, stats=True)
    assert y.dtype == mac.output_dtype
    expected, events = _expected(mac, a, b)
    assert_same(y, expected, notation)
    _check_stats(stats, events, y, notation)


@pytest.mark.parametrize(
    "notation",
    ["fp16->fp16", "bf16->bf16:pairwise", "fp8_e4m3->fp16:chunked:2", "fp16->fp32:sequential"],
)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_bias_is_the_initial_accumulator_value(notation: str, data: st.DataObject) -> None:
    mac = MAC.parse(notation)
    a, b = data.draw(operands(mac.input))
    bias = data.draw(values(mac.accumulator, (b.shape[1],)))
    y = mac.affine(a, b, bias)
    init = np.broadcast_to(bias, (a.shape[0], b.shape[1]))
    expected, _ = _expected(mac, a, b, init.tolist())
    assert_same(y, expected, notation)


def test_bias_with_fast_order_is_added_in_fp32() -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((4, 30)).astype(np.float16)
    b = rng.standard_normal((30, 3)).astype(np.float16)
    bias = rng.standard_normal(3).astype(np.float32)
    y = MAC.parse("fp16->fp32").affine(a, b, bias)
    np.testing.assert_array_equal(y, a.astype(np.float32) @ b.astype(np.float32) + bias)


@pytest.mark.parametrize("notation", ["fp16->fp32", "bf16->fp32", "fp8_e5m2->fp32", "fp16->fp64"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_order_is_blas_or_sequential(notation: str, data: st.DataObject) -> None:
    """'fast' = any order, each addition rounded once: float BLAS on the values; outputs that
    meet a non-finite input or overflow are redone in sequential order."""
    mac = MAC.parse(notation)
    a, b = data.draw(operands(mac.input))
    y, stats = mac.matmul(a, b, stats=True)
    dtype = np.float32 if mac.accumulator.name == "fp32" else np.float64
    sequential, events = _expected(mac, a, b, order="sequential")
    with np.errstate(all="ignore"):
        blas = a.astype(dtype) @ b.astype(dtype)
    redo = ~np.isfinite(blas)
    redo |= ~np.isfinite(a).all(axis=1)[:, None] | ~np.isfinite(b).all(axis=0)[None, :]
    if notation.startswith("bf16"):  # products may leave fp32's range: all sequential
        with np.errstate(all="ignore"):
            products = np.abs(a.astype(np.float64))[:, :, None] * np.abs(b)[None, :, :]
        if ((products > 0) & (products < 2.0**-126)).any() or (products >= 2.0**128).any():
            redo[:] = True
    assert_same(y[redo], sequential[redo], notation)
    assert_same(y[~redo], blas[~redo], notation)
    if redo.all():
        assert stats.overflows == events["overflows"]


def test_known_effects_of_swamping() -> None:
    """4096 ones: fp16 stops at 2048 (2048 + 1 rounds back to 2048); chunks of 64 or fp32 don't."""
    ones = np.ones(4096, dtype=np.float16)
    assert MAC.parse("fp16->fp16").dot(ones, ones) == 2048
    assert MAC.parse("fp16->fp16:chunked:64").dot(ones, ones) == 4096
    assert MAC.parse("fp16->fp16:pairwise").dot(ones, ones) == 4096
    assert MAC.parse("fp16->fp32").dot(ones, ones) == 4096
    assert MAC.parse("bf16->bf16").dot(ones, ones) == 256


def test_overflow_to_inf_and_saturation_counts() -> None:
    big = np.full(8, 200.0)  # 40000 per product: the second addition overflows fp16
    y, stats = MAC.parse("fp16->fp16").dot(big, big, stats=True)
    assert y == np.inf and stats.overflows == 1 and stats.inf_results == 1
    y, stats = MAC.parse("fp16->fp16:saturate").dot(big, big, stats=True)
    assert y == 65504 and stats.saturations == 7 and stats.inf_results == 0
    y, stats = MAC.parse("fp8_e4m3->fp8_e4m3").dot(np.full(3, 16.0), np.full(3, 16.0), stats=True)
    assert np.isnan(y) and stats.overflows == 1 and stats.nan_results == 1  # E4M3 has no inf


def _random_operands(rng: np.random.Generator, fmt: str, shape_a, shape_b, spread: float):
    def draw(shape):
        x = rng.standard_normal(shape) * 2.0 ** rng.uniform(-spread, spread, shape)
        x[rng.random(shape) < 0.05] = 0.0
        return mp.to_storage(x, fmt)

    return draw(shape_a), draw(shape_b)


@pytest.mark.parametrize(
    "notation",
    ["fp16->fp16", "bf16->bf16", "fp16->fp16:chunked:16", "fp8_e4m3->fp16", "fp8_e5m2->fp8_e5m2",
     "bf16->bf16:saturate", "fp16->fp16:saturate", "int8->fp16", "fp16->bf16->bf16"],
)  # fmt: skip
@pytest.mark.parametrize("spread", [2.0, 12.0, 40.0])
def test_magic_adder_equals_general_adder(notation: str, spread: float, monkeypatch) -> None:
    """The float64 "magic constant" adder against the TwoSum/round-to-odd general adder."""
    mac = MAC.parse(notation)
    rng = np.random.default_rng(int(spread) + len(notation))
    if mac.input.is_integer:
        a = rng.integers(-128, 128, (24, 300)).astype(np.int8)
        b = rng.integers(-128, 128, (300, 20)).astype(np.int8)
    else:
        a, b = _random_operands(rng, mac.input.name, (24, 300), (300, 20), spread)
    y_fast, s_fast = mac.matmul(a, b, stats=True)
    monkeypatch.setattr(floating, "magic_factory", lambda *args: None)
    y_slow, s_slow = mac.matmul(a, b, stats=True)
    assert_same(y_fast, y_slow, notation)
    assert s_fast == s_slow


def test_bf16_absorbed_accumulator_at_a_midpoint() -> None:
    """The kernel lemma's exception: a tiny accumulator decides a product sitting on a midpoint."""
    tiny = float(ml_dtypes.bfloat16(2.0**-100))
    a = np.array([1.0, 129 / 128], dtype=ml_dtypes.bfloat16)  # product (1 + 2**-7) * 1.5 ...
    b = np.array([tiny, 1.5], dtype=ml_dtypes.bfloat16)  # = 387/256: a bf16 midpoint
    y = MAC.parse("bf16->bf16").dot(a, b)
    assert y == float(ml_dtypes.bfloat16(1.515625))  # rounded up by the tiny positive sum
    assert MAC.parse("bf16->bf16").dot(-a, b) == -1.515625
    assert MAC.parse("bf16->bf16").dot(a * np.array([-1, 1], ml_dtypes.bfloat16), b) == 1.5078125


def test_negative_zero_results() -> None:
    mac = MAC.parse("fp16->fp16")
    tiny = np.array([2.0**-24, -(2.0**-24)], dtype=np.float16)
    # 2**-26 rounds to +0, then +0 - 2**-27 rounds to -0 (the sign of the exact sum)
    y = mac.dot(tiny, np.array([2.0**-2, 2.0**-3], dtype=np.float16))
    assert y == 0 and np.signbit(y)
    y = mac.matmul(np.array([[-(2.0**-24)]], dtype=np.float16), np.array([[2.0**-4]], np.float16))
    assert y == 0 and np.signbit(y)
    z = np.zeros((3, 5), dtype=np.float16)
    y = mac.matmul(z, -np.ones((5, 2), dtype=np.float16))
    assert not np.signbit(y).any()  # +0 + (-0) = +0


@pytest.mark.parametrize(
    ("notation", "negative"),
    [("fp16->fp16:down", True), ("fp16->fp16", False), ("fp8_e4m3fnuz->fp8_e5m2fnuz:down", False)],
)
def test_exact_zero_sum_sign(notation: str, negative: bool) -> None:
    """IEEE 754-2019 §6.3: x + (-x) is +0, but -0 rounding down (where the format has -0)."""
    y = MAC.parse(notation).dot(np.array([1.0, -1.0]), np.array([1.0, 1.0]))
    assert y == 0 and bool(np.signbit(y)) is negative


@pytest.mark.parametrize("notation", ["fp16->fp16:saturate", "bf16->bf16:chunked:32", "fp16->fp32"])
def test_threads_and_memory_layout_do_not_change_results(
    notation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows split across threads, transposed (non-contiguous) operands: the same bits and counts."""
    mac = MAC.parse(notation)
    rng = np.random.default_rng(11)
    a, b = _random_operands(rng, mac.input.name, (70, 520), (60, 520), 6.0)
    b = b.T  # a non-contiguous view
    a[3, 7] = np.inf
    monkeypatch.setenv("MIXPREC_THREADS", "1")
    y1, s1 = mac.matmul(a, b, stats=True)
    monkeypatch.setenv("MIXPREC_THREADS", "2")
    y2, s2 = mac.matmul(np.asfortranarray(a), b, stats=True)
    assert_same(y1, y2, notation)
    assert s1 == s2
    assert s1.inf_results + s1.nan_results >= 60  # the inf row


@pytest.mark.parametrize("notation", ["bf16->fp32", "bf16->fp32:pairwise", "bf16->fp32:chunked:2"])
@pytest.mark.parametrize("overflow", ["saturate", "inf"])
def test_native_accumulator_overflow_is_counted_and_saturated(
    notation: str, overflow: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The numpy-addition adder (an fp32 accumulator of exact products) against the general
    exact adder: a sum of finite values past the range saturates (or goes to inf) and is
    counted (its in-place addition once hid every overflow)."""
    a = np.array([[3e38, 3e38, 1.0, -3e38, 2.0]], np.float32)
    b = np.ones((5, 1), np.float32)
    a = np.vstack([a, -a])
    mac = MAC.parse(f"{notation}:{overflow}")
    fast, fast_stats = mac.matmul(a, b, stats=True)
    with monkeypatch.context() as patch:
        patch.setattr(floating, "_native_dtype", lambda fmt: None)
        general, general_stats = mac.matmul(a, b, stats=True)
    np.testing.assert_array_equal(fast, general)
    assert fast_stats == general_stats
    event = "saturations" if overflow == "saturate" else "overflows"
    assert getattr(fast_stats, event) >= 2
    if overflow == "inf":
        np.testing.assert_array_equal(fast.ravel(), [np.inf, -np.inf])
