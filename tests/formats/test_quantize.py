"""quantize: fast paths equal the reference path; properties; integers; errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import mixprec as mp
from mixprec.formats.fast32 import bits, fits_float32, table
from mixprec.formats.fast32 import magic as magic_route
from mixprec.formats.fast32.blocks import blockwise
from mixprec.formats.quantize import _quantize_reference as quantize_reference
from tests.formats.conftest import (
    DETERMINISTIC,
    SMALL_FLOAT_FORMATS,
    all_values,
    assert_same,
    midpoint_probes,
    oracle_cast,
)

FAST_FORMATS = [
    f.name for f in mp.list_formats() if not f.is_integer and fits_float32(f) and f.bits < 32
] + ["e3m4", "e5m6", "e2m5fnuz", "e6m9"]


def _random_float32(n: int, seed: int) -> np.ndarray:
    """float32 patterns: uniform bits, plus values with few significant bits (ties)."""
    rng = np.random.default_rng(seed)
    uniform = rng.integers(0, 2**32, size=n, dtype=np.uint32)
    short = (rng.integers(0, 2**16, size=n, dtype=np.uint32) << 16) | rng.integers(0, 2, n).astype(
        np.uint32
    )
    return np.concatenate([uniform, short]).view(np.float32)


@pytest.mark.parametrize("overflow", ["saturate", "inf"])
@pytest.mark.parametrize("rounding", DETERMINISTIC)
@pytest.mark.parametrize("name", FAST_FORMATS)
def test_fast_path_equals_reference(name: str, rounding: str, overflow: str) -> None:
    fmt = mp.get_format(name)
    x = np.concatenate([_random_float32(20_000, 7), midpoint_probes(fmt)[:20_000]])
    got = mp.quantize(x, fmt, rounding=rounding, overflow=overflow)
    assert got.dtype == np.float32
    expected = quantize_reference(x, fmt, rounding, overflow)
    assert_same(got, expected, x, f"{name} {rounding} {overflow}")


@pytest.mark.parametrize("rounding", DETERMINISTIC)
@pytest.mark.parametrize("name", ["fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp4_e2m1", "e3m4"])
def test_table_path_equals_bits_path_on_all_table_keys(name: str, rounding: str) -> None:
    """Two independent fast paths agree on every (top 16 bits, low bits zero or not) class."""
    fmt = mp.get_format(name)
    keys = np.arange(2**17, dtype=np.uint32)
    low = np.where(keys & 1, np.random.default_rng(3).integers(1, 2**16, 2**17), 0)
    u = ((keys >> 1) << 16) | low.astype(np.uint32)
    mode, policy = mp.Rounding(rounding), mp.Overflow.INF
    by_table = blockwise(table.kernel(fmt, mode, policy), u).view(np.float32)
    by_bits = blockwise(bits.kernel(fmt, mode, policy), u).view(np.float32)
    assert_same(by_table, by_bits, u.view(np.float32), name)


MAGIC_FORMATS = [name for name in FAST_FORMATS if magic_route.magic_constants(mp.get_format(name))]


def _clean_limit(fmt: mp.FloatFormat) -> float:
    """The largest float32 that rounds to nearest-even without passing ``fmt.max``."""
    finite = all_values(fmt)
    finite = finite[np.isfinite(finite)]
    tie = np.float32(fmt.max + (fmt.max - finite[-2]) / 2)
    below = np.nextafter(tie, np.float32(0))
    max_is_odd = (int(np.float32(fmt.max).view(np.uint32)) >> (23 - fmt.mantissa_bits)) & 1
    return float(below if max_is_odd else tie)  # a tie rounds to the even neighbour


@pytest.mark.parametrize("name", MAGIC_FORMATS)
def test_magic_path_equals_reference_where_it_applies(name: str) -> None:
    """The magic-constant rounding, called directly, on every probe it may be given."""
    fmt = mp.get_format(name)
    magic = magic_route.magic_constants(fmt)
    assert magic is not None
    corner = np.float32(2.0 ** (fmt.emin + 1))  # its float32 predecessor: the corner case
    tiny = np.float32(fmt.smallest_subnormal)
    extra = np.array(
        [np.nextafter(corner, np.float32(0)), tiny / 2, np.nextafter(tiny / 2, np.float32(1))],
        dtype=np.float32,
    )
    zeros = np.array([0.0, -0.0, 1e-45, -1e-45], dtype=np.float32)
    x = np.concatenate([_random_float32(50_000, 5), midpoint_probes(fmt), extra, -extra, zeros])
    with np.errstate(invalid="ignore"):
        x = x[np.abs(x) <= _clean_limit(fmt)]  # the caller's condition (it also drops NaN)
    out = np.empty_like(x)
    work, sign = np.empty(x.size, np.uint32), np.empty(x.size, np.uint32)
    magic_route.round_by_magic(out, x, magic, work, sign)
    assert_same(out, quantize_reference(x, fmt, "nearest_even", "inf"), x, name)


@pytest.mark.parametrize("name", ["fp16", "fp8_e4m3", "fp8_e5m2", "fp8_e4m3fnuz", "fp6_e3m2"])
def test_clean_arrays_take_the_magic_path_and_agree_with_the_oracles(name: str) -> None:
    """Clean blocks (every magnitude in range) go the magic route, also for the table formats;
    numpy's or ml_dtypes' cast agrees, and so does the reference path."""
    fmt = mp.get_format(name)
    assert magic_route.magic_constants(fmt) is not None
    assert _clean_limit(fmt) == float(magic_route.clean_limit(fmt))
    x = np.concatenate([_random_float32(500_000, 9), midpoint_probes(fmt)])
    with np.errstate(invalid="ignore"):
        x = x[np.abs(x) <= _clean_limit(fmt)]
    assert np.isfinite(x).all() and x.size > 100_000
    got = mp.quantize(x, name)
    assert_same(got, oracle_cast(x, name), x, f"{name} clean, oracle")
    assert_same(got, quantize_reference(x, fmt, "nearest_even", "saturate"), x, f"{name} ref")


@pytest.mark.parametrize("name", ["fp32", "bf16", "e8m0", "uint8", "e5m2nosub", "fp8_e4m3fnuz"])
def test_magic_constants_refuse_formats_outside_the_proof(name: str) -> None:
    if name == "e5m2nosub":
        fmt = mp.FloatFormat(
            name="e5m2nosub", exponent_bits=5, mantissa_bits=2, has_subnormals=False
        )
    else:
        fmt = mp.get_format(name)
    expected_none = name != "fp8_e4m3fnuz"  # fnuz: no -0, the result keeps +0
    constants = magic_route.magic_constants(fmt) if isinstance(fmt, mp.FloatFormat) else None
    assert (constants is None) == expected_none
    if constants is not None:
        assert not constants.signed_zero


@pytest.mark.parametrize("name", ["e6m21", "e5m22"])
def test_clean_blocks_of_formats_without_the_magic_path(name: str) -> None:
    """Narrow-range formats with 21-22 mantissa bits: no magic path, no clean shortcut."""
    fmt = mp.get_format(name)
    assert magic_route.magic_constants(fmt) is None and bits.applies(fmt)
    x = _random_float32(100_000, 13)
    with np.errstate(invalid="ignore"):
        x = x[np.abs(x) <= fmt.max / 2]  # every block clean: no NaN, inf or overflow
    x = np.concatenate([x, np.float32([fmt.smallest_normal * 0.75, -fmt.smallest_subnormal / 3])])
    got = mp.quantize(x, fmt)
    assert_same(got, quantize_reference(x, fmt, "nearest_even", "saturate"), x, name)


@pytest.mark.parametrize("name", ["fp16", "bf16", "fp8_e4m3", "fp6_e3m2", "e5m6", "int8"])
def test_fast_paths_raise_no_floating_point_error_of_their_own(name: str) -> None:
    """Under np.errstate(all="raise") in-range inputs (subnormal results included, which the
    magic path's scaling underflows on purpose) round without a FloatingPointError."""
    rng = np.random.default_rng(17)
    x = (rng.standard_normal(300_000) * np.exp2(rng.uniform(-30, 3, 300_000))).astype(np.float32)
    expected = quantize_reference(x, mp.get_format(name), "nearest_even", "saturate")
    with np.errstate(all="raise"):
        got = mp.quantize(x, name)
    assert_same(got, expected, x, name)


def test_threads_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    x = _random_float32(600_000, 11)  # 1.2M elements: more than 4 blocks per thread, so split
    monkeypatch.setenv("MIXPREC_THREADS", "1")
    one = mp.quantize(x, "fp16", rounding="stochastic", rng=5)
    monkeypatch.setenv("MIXPREC_THREADS", "3")
    three = mp.quantize(x, "fp16", rounding="stochastic", rng=5)
    assert_same(one, three, x, "threads")


# -- properties -------------------------------------------
finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=300, deadline=None)
@given(
    x=finite_floats, name=st.sampled_from(SMALL_FLOAT_FORMATS), mode=st.sampled_from(DETERMINISTIC)
)
def test_result_is_a_neighbour_on_the_right_side(x: float, name: str, mode: str) -> None:
    fmt = mp.get_format(name)
    y = mp.quantize(x, fmt, rounding=mode, overflow="saturate").item()
    assume(fmt.is_signed or x > 0)
    assert mp.quantize(y, fmt, rounding=mode).item() == y  # idempotent
    values = mp.decode(np.arange(2**fmt.bits), fmt, dtype=np.float64)
    values = np.unique(values[np.isfinite(values)])
    clipped = min(max(x, values[0]), values[-1])
    below = values[values <= clipped].max()
    above = values[values >= clipped].min()
    assert y in (below, above)  # a neighbour (after saturation)
    if mode == "toward_zero":
        assert abs(y) <= abs(clipped)
    if mode == "up":
        assert y >= clipped
    if mode == "down":
        assert y <= clipped
    if mode in ("nearest_even", "nearest_away"):
        assert abs(y - clipped) <= (above - below) / 2


@settings(max_examples=200, deadline=None)
@given(
    xs=st.lists(finite_floats, min_size=2, max_size=20),
    name=st.sampled_from(SMALL_FLOAT_FORMATS + ["fp32", "tf32"]),
    mode=st.sampled_from(DETERMINISTIC),
)
def test_monotone(xs: list[float], name: str, mode: str) -> None:
    x = np.sort(np.array(xs))
    y = mp.quantize(x, name, rounding=mode)
    if mp.get_format(name).is_signed:
        assert np.all(np.diff(y) >= 0)


@pytest.mark.parametrize("name", ["bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "e8m0"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stochastic_rounding_is_unbiased(name: str, dtype: type) -> None:
    """P(up) equals the fractional distance: a fixed-seed binomial test at 5 sigma."""
    fmt = mp.get_format(name)
    n = 200_000
    for lo, frac in [(1.0, 0.25), (1.0, 0.5 + 2.0**-6), (fmt.smallest_subnormal * 4, 0.125)]:
        if lo < fmt.smallest_normal and not fmt.has_subnormals:
            continue
        gap = lo * fmt.eps if lo >= fmt.smallest_normal else fmt.smallest_subnormal
        x = np.full(n, lo + frac * gap, dtype=dtype)
        y = mp.quantize(x, fmt, rounding="stochastic", rng=np.random.default_rng(42))
        assert set(np.unique(y).tolist()) <= {lo, lo + gap}
        ups = int((y == lo + gap).sum())
        sigma = (n * frac * (1 - frac)) ** 0.5
        assert abs(ups - n * frac) < 5 * sigma, (lo, frac, ups / n)


def test_stochastic_is_reproducible_and_needs_a_generator() -> None:
    x = np.linspace(0, 1, 1000, dtype=np.float32)
    a = mp.quantize(x, "fp8_e4m3", rounding="stochastic", rng=np.random.default_rng(1))
    b = mp.quantize(x, "fp8_e4m3", rounding="stochastic", rng=1)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="default_rng"):
        mp.quantize(x, "fp8_e4m3", rounding="stochastic")


# -- specials and overflow -------------------------------------------
@pytest.mark.parametrize(
    ("name", "overflow", "rounding", "x", "expected"),
    [
        ("fp8_e4m3", "inf", "nearest_even", 464.0, 448.0),  # tie to even stays finite (OCP)
        ("fp8_e4m3", "inf", "nearest_even", 465.0, np.nan),
        ("fp8_e4m3", "saturate", "nearest_even", 1e9, 448.0),
        ("fp8_e4m3", "inf", "nearest_even", np.inf, np.nan),
        ("fp8_e4m3", "saturate", "nearest_even", -np.inf, -448.0),
        ("fp8_e5m2", "saturate", "nearest_even", np.inf, np.inf),
        ("fp8_e5m2", "saturate", "nearest_even", 1e9, 57344.0),
        ("fp8_e5m2", "inf", "nearest_even", 61440.0, np.inf),
        ("fp16", "inf", "nearest_even", 65520.0, np.inf),
        ("fp16", "inf", "toward_zero", 1e6, 65504.0),  # IEEE 754 §7.4
        ("fp16", "inf", "up", -1e6, -65504.0),
        ("fp16", "inf", "down", -1e6, -np.inf),
        ("fp4_e2m1", "inf", "nearest_even", 100.0, 6.0),  # no inf, no NaN: saturates
        ("fp8_e4m3fnuz", "nearest_even", "nearest_even", -0.0, 0.0),
        ("fp8_e4m3fnuz", "inf", "nearest_even", -1e-9, 0.0),
        ("fp16", "saturate", "nearest_even", -1e-9, -0.0),
        ("e8m0", "saturate", "nearest_even", 0.0, np.nan),
        ("e8m0", "saturate", "nearest_even", -4.0, np.nan),
        ("e8m0", "saturate", "nearest_even", 1e-45, 2.0**-127),
        ("bf16", "saturate", "nearest_even", np.nan, np.nan),
    ],
)
def test_specials(name: str, overflow: str, rounding: str, x: float, expected: float) -> None:
    overflow = "saturate" if overflow == "nearest_even" else overflow
    for dtype in (np.float32, np.float64):
        y = mp.quantize(np.array([x], dtype=dtype), name, rounding=rounding, overflow=overflow)
        assert_same(y, np.array([expected]), np.array([x]), f"{name} {dtype.__name__}")


def test_shapes_dtypes_and_scalars() -> None:
    assert mp.quantize(1.1, "bf16").shape == ()
    assert mp.quantize(np.ones((2, 3, 4), np.float16), "fp8_e4m3").shape == (2, 3, 4)
    assert mp.quantize(np.ones(3, np.float32), "fp16").dtype == np.float32
    assert mp.quantize(np.ones(3), "fp16").dtype == np.float64
    assert mp.quantize(np.ones(3, np.float32), "fp64").dtype == np.float64
    assert mp.quantize(np.arange(5), "int4").tolist() == [0, 1, 2, 3, 4]
    assert mp.quantize(np.array([], np.float32), "bf16").shape == (0,)
    strided = np.arange(20, dtype=np.float32)[::3] + 0.1
    np.testing.assert_array_equal(mp.quantize(strided, "bf16"), mp.quantize(strided.copy(), "bf16"))


# -- integers and fixed point -------------------------------------------
@settings(max_examples=300, deadline=None)
@given(
    x=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    name=st.sampled_from(["int8", "uint8", "int4", "int16", "fixed<16,8>", "fixed<8,-2>"]),
    mode=st.sampled_from(DETERMINISTIC),
)
def test_integer_formats_against_python(x: float, name: str, mode: str) -> None:
    import math
    from fractions import Fraction

    fmt = mp.get_format(name)
    scaled = Fraction(x) * Fraction(2) ** fmt.frac_bits
    lo = math.floor(scaled)
    frac = scaled - lo
    up = {
        "nearest_even": frac > Fraction(1, 2) or (frac == Fraction(1, 2) and lo % 2 == 1),
        "nearest_away": frac > Fraction(1, 2) or (frac == Fraction(1, 2) and lo >= 0),
        "toward_zero": frac > 0 and lo < 0,
        "up": frac > 0,
        "down": False,
        "odd": frac > 0 and lo % 2 == 0,
    }[mode]
    code = lo + int(up)
    wrapped = (code - fmt.min_code) % 2**fmt.bits + fmt.min_code
    saturated = min(max(code, fmt.min_code), fmt.max_code)
    for dtype in (np.float64, np.float32):
        xx = np.array([x], dtype=dtype)
        if float(xx[0]) != x:
            continue
        got = mp.quantize(xx, fmt, rounding=mode, overflow="saturate")[0]
        assert got == saturated * 2.0**-fmt.frac_bits
        assert (
            mp.quantize(xx, fmt, rounding=mode, overflow="wrap")[0] == wrapped * 2.0**-fmt.frac_bits
        )
    if code != saturated:
        with pytest.raises(OverflowError, match="out of the range"):
            mp.quantize(x, fmt, rounding=mode, overflow="error")


# -- errors -------------------------------------------
def test_errors_say_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="allowed: 'nearest_even'"):
        mp.quantize(1.0, "bf16", rounding="nearest")
    with pytest.raises(ValueError, match="allowed: 'saturate'"):
        mp.quantize(1.0, "bf16", overflow="clip")
    with pytest.raises(ValueError, match="for integer formats"):
        mp.quantize(1.0, "bf16", overflow="wrap")
    with pytest.raises(ValueError, match="has no inf"):
        mp.quantize(1.0, "int8", overflow="inf")
    with pytest.raises(TypeError, match="real numbers"):
        mp.quantize(np.array(["1.0"]), "bf16")
    with pytest.raises(TypeError, match="real numbers"):
        mp.quantize(np.array([1 + 2j]), "bf16")
    with pytest.raises(ValueError, match="2\\*\\*53"):
        mp.quantize(np.array([2**60 + 1]), "fp64")
    with pytest.raises(TypeError, match="Generator"):
        mp.quantize(1.0, "bf16", rounding="stochastic", rng="seed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN cannot be rounded"):
        mp.quantize(np.array([np.nan], np.float32), "int8")
    with pytest.raises(ValueError, match="overflow='saturate'"):
        mp.quantize(np.array([np.inf]), "int8", overflow="wrap")


def test_fixed_point_saturates_float32_that_overflow_when_scaled() -> None:
    """Scaling by 2**frac_bits may overflow float32 to inf: no warning, the code saturates
    (found by hypothesis: 2.1e9 bits pattern ~ 3e38 into fixed<12,4>)."""
    fmt = mp.get_format("fixed<12,4>")
    x = np.float32([3e38, -3e38])
    assert mp.quantize(x, fmt, overflow="saturate").tolist() == [fmt.max, fmt.min]
