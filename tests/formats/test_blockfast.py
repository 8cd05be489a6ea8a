"""The fast paths of the block formats, bit for bit against the slower paths they replace.

MX: the one-step nearest-even routines (:mod:`mixprec.formats.blockfused`) against the kernel's
step-by-step path (divide by the scale, round, multiply back) and the general float64 path.
NVFP4: the magic-constant rounding of float64 quotients and the bit-pattern amax
(:mod:`mixprec.formats.blocknv`) against the reference rounding and ``block_amax``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mixprec as mp
import mixprec.formats.blockfast as blockfast
import mixprec.formats.blockquant as blockquant
from mixprec.formats import BLOCK_FORMATS, get_block_format
from mixprec.formats.blockfused import Chunk, fused_float
from mixprec.formats.blocknv import amax_bits, magic64, round_nearest_even64
from mixprec.formats.blockscale import block_amax, pow2_exponents_bits
from mixprec.formats.fast32.blocks import blockwise
from mixprec.formats.quantize import _quantize_reference
from mixprec.formats.spec import Overflow, Rounding
from tests.formats.conftest import all_values
from tests.formats.test_block import same

MX = [name for name in BLOCK_FORMATS if name.startswith("mx")]
RULES = ["floor", "rceil", "ceil", "even"]


def stepwise(x: np.ndarray, fmt: str, monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """The float32 kernel of ``fmt`` with the one-step routines switched off."""
    with monkeypatch.context() as patch:
        patch.setattr(blockfast, "_fused", lambda *args: None)
        return mp.quantize(x, fmt)


def hard_rows(rng: np.random.Generator, k: int, elem: mp.Format) -> np.ndarray:
    """Blocks over float32's whole range: wide spreads, subnormal elements beside a large one,
    element midpoints after scaling, tiny and huge scales, zeros, NaN and inf."""
    n = 256
    x = rng.standard_normal((n, k)) * np.exp2(rng.integers(-140, 125, (n, 1)))
    x[::7] *= np.exp2(rng.integers(-30, 30, (n // 7 + 1, k)))[: x[::7].shape[0]]
    values = mp.decode(np.arange(2**elem.bits), elem, dtype=np.float64)
    values = np.unique(values[np.isfinite(values)])
    mids = (values[1:] + values[:-1]) / 2
    for i, exponent in enumerate((-130, -100, -20, 0, 7, 90, 100)):
        x[i, 1:] = rng.choice(mids, k - 1) * 2.0**exponent
        x[i, 0] = elem.max * 2.0**exponent  # the amax sets the scale: mids land on midpoints
    x[20] = 0.0
    x[21, 3] = np.nan
    x[22, 5] = -np.inf
    x[23, :] = rng.standard_normal(k) * 2.0**-149
    with np.errstate(over="ignore"):
        return x.astype(np.float32)


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("name", MX)
def test_one_step_nearest_even_equals_the_stepwise_kernel(
    name: str, rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fmt = f"{name}:{rule}"
    block = get_block_format(fmt)
    x = hard_rows(np.random.default_rng(len(fmt)), block.block_size, block.element)
    taken: list[bool] = []
    original = blockfast._fused

    def counted(*args: object) -> object:
        routine = original(*args)  # type: ignore[arg-type]
        if routine is None:
            return None
        return lambda out, chunk: taken.append(routine(out, chunk)) or taken[-1]

    with monkeypatch.context() as patch:
        patch.setattr(blockfast, "_fused", counted)
        # one block per call: a chunk with a block outside the one-step range goes stepwise
        fast = np.concatenate([mp.quantize(row[None], fmt) for row in x])
    assert sum(taken) > len(x) * 2 // 3  # most blocks took the one-step routine
    same(fast, stepwise(x, fmt, monkeypatch))
    same(fast, mp.decode(mp.encode(x, fmt), fmt))  # the general float64 path


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(MX),
    rule=st.sampled_from(RULES),
    patterns=st.lists(st.integers(0, 2**32 - 1), min_size=64, max_size=64),
    spread=st.integers(0, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_one_step_equals_stepwise_on_drawn_bit_patterns(
    name: str, rule: str, patterns: list[int], spread: int, seed: int
) -> None:
    """Blocks of drawn float32 patterns (NaN and inf included), mixed with normal data."""
    fmt = f"{name}:{rule}"
    rng = np.random.default_rng(seed)
    drawn = np.array(patterns, np.uint32).view(np.float32)
    normal = rng.standard_normal(64 * 3) * np.exp2(rng.integers(-spread, spread + 1, 64 * 3))
    x = np.concatenate([drawn, normal.astype(np.float32)]).reshape(-1, 32)
    with pytest.MonkeyPatch.context() as patch:
        same(mp.quantize(x, fmt), stepwise(x, fmt, patch))


def chunk_of(x: np.ndarray, fmt: str) -> tuple[Chunk, mp.BlockFormat]:
    block = get_block_format(fmt)
    b = x.reshape(-1).view(np.uint32)
    mag = b & np.uint32(0x7FFFFFFF)
    a = mag.reshape(-1, block.block_size).max(axis=1)
    special = a >= np.uint32(0x7F800000)
    found = pow2_exponents_bits(a, special, block)
    assert found is not None
    e, nan = found
    work, sign = np.empty(b.size, np.float32), np.empty_like(b)
    return Chunk(b, a, e, nan, special, mag, work, sign), block


def test_one_step_runs_on_ordinary_data_and_refuses_the_ends_of_the_range() -> None:
    x = np.random.default_rng(0).standard_normal((4, 32)).astype(np.float32)
    chunk, block = chunk_of(x, "mxfp8_e4m3")
    out = np.empty_like(chunk.b)
    assert fused_float(out, chunk, elem=block.element, k=32)
    same(out.view(np.float32).reshape(x.shape), mp.decode(mp.encode(x, block), block))
    for exponent in (-125, 120):  # emin + e < -126, or c past float32's top
        chunk, block = chunk_of(x * np.float32(2.0**exponent), "mxfp8_e4m3")
        assert not fused_float(out, chunk, elem=block.element, k=32)


ELEMENTS = ["fp4_e2m1", "fp6_e2m3", "fp6_e3m2", "fp8_e4m3", "fp8_e5m2", "fp16"]


@pytest.mark.parametrize("name", ELEMENTS)
def test_float64_magic_rounding_equals_the_reference_at_every_midpoint(name: str) -> None:
    elem = mp.get_format(name)
    magic = magic64(elem, Rounding.NEAREST_EVEN)
    assert magic is not None
    grid = all_values(elem)
    points = np.concatenate([grid, (grid[1:] + grid[:-1]) / 2])
    probes = np.concatenate(
        [points, np.nextafter(points, np.inf), np.nextafter(points, -np.inf), [5e-324, 0.0]]
    )
    probes = np.concatenate([probes, -probes])
    probes = probes[np.abs(probes) <= elem.max]
    expected = _quantize_reference(probes, elem, "nearest_even", "saturate")
    same(round_nearest_even64(probes, magic), expected)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(ELEMENTS),
    pattern=st.integers(0, 2**64 - 1),
)
def test_float64_magic_rounding_equals_the_reference_on_drawn_doubles(
    name: str, pattern: int
) -> None:
    elem = mp.get_format(name)
    q = np.array([pattern], np.uint64).view(np.float64)
    if not np.isfinite(q[0]):
        q[:] = 0.0
    q = np.clip(q, -elem.max, elem.max)
    magic = magic64(elem, Rounding.NEAREST_EVEN)
    assert magic is not None
    same(round_nearest_even64(q, magic), _quantize_reference(q, elem, "nearest_even"))


def test_float64_magic_refuses_formats_outside_its_proof() -> None:
    assert magic64(mp.get_format("fp8_e4m3"), Rounding.TOWARD_ZERO) is None
    assert magic64(mp.get_format("int8"), Rounding.NEAREST_EVEN) is None
    assert magic64(mp.get_format("fp8_e4m3fnuz"), Rounding.NEAREST_EVEN) is None  # no -0
    assert magic64(mp.get_format("fp32"), Rounding.NEAREST_EVEN) is not None
    assert magic64(mp.get_format("fp64"), Rounding.NEAREST_EVEN) is None  # 52 bits > 50


def test_amax_from_bits_equals_block_amax() -> None:
    rng = np.random.default_rng(1)
    rows = rng.standard_normal((64, 16)) * np.exp2(rng.integers(-150, 120, (64, 16)))
    rows = rows.astype(np.float32)
    rows[3, 2], rows[5, 0], rows[5, 9], rows[7] = np.nan, np.inf, -3.0, 0.0
    rows[9] = -0.0
    amax, special = amax_bits(rows)
    expected_amax, expected_special = block_amax(rows, get_block_format("nvfp4"))
    np.testing.assert_array_equal(amax, expected_amax)
    np.testing.assert_array_equal(special, expected_special)


NV = ["nvfp4", "nvfp4:tensor_scale=none", "nvfp4:scale_min=normal", "nvfp4:specials=element"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NV)
def test_nvfp4_fast_path_equals_the_general_path(
    name: str, dtype: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = get_block_format(name)
    x = hard_rows(np.random.default_rng(9), 16, block.element).astype(dtype)
    x[30, 4] = np.nan  # a NaN element: with specials=element the general path rounds it
    fast = mp.quantize(x, block)
    finite = np.where(np.isnan(x), 0.0, x).astype(dtype)  # E2M1 has no NaN code to encode
    encoded = mp.encode(finite, block)
    with monkeypatch.context() as patch:
        patch.setattr(blockquant, "magic64", lambda *args: None)
        patch.setattr(blockquant, "amax_bits", lambda rows: block_amax(rows, block))
        same(fast, mp.quantize(x, block))
        for got, want in zip(encoded, mp.encode(finite, block), strict=True):
            same(got, want)


def test_nvfp4_fast_path_is_taken_and_threads_do_not_change_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x = np.random.default_rng(2).standard_normal((4096, 64)).astype(np.float32)
    calls: list[int] = []
    original = blockquant.nv_elements

    def counted(*args: object, **kwargs: object) -> np.ndarray:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(blockquant, "nv_elements", counted)
    many = mp.quantize(x, "nvfp4")
    monkeypatch.setenv("MIXPREC_THREADS", "1")
    same(mp.quantize(x, "nvfp4"), many)
    assert calls == [1, 1]
    monkeypatch.setattr(blockquant, "magic64", lambda *args: None)
    same(mp.quantize(x, "nvfp4"), many)


def test_mx_kernel_threads_and_chunks_do_not_change_the_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x = np.random.default_rng(3).standard_normal(1 << 20).astype(np.float32)
    u = x.view(np.uint32)
    kernel = blockfast.fast_kernel(
        get_block_format("mxfp8_e5m2"), Rounding.NEAREST_EVEN, Overflow.SATURATE
    )
    whole = blockwise(kernel, u)
    monkeypatch.setenv("MIXPREC_THREADS", "1")
    np.testing.assert_array_equal(blockwise(kernel, u), whole)
    same(whole.view(np.float32), stepwise(x, "mxfp8_e5m2", monkeypatch))


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp4:rceil", "mxint8", "nvfp4"])
def test_block_terms_fast_path_equals_the_general_path(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the block MAC takes of float operands: elements, block scales, tensor scale."""
    block = get_block_format(name)
    x = hard_rows(np.random.default_rng(4), 64, block.element)
    fast = blockquant.block_terms(x, block, axis=1)
    with monkeypatch.context() as patch:
        patch.setattr(blockquant, "fast_applies", lambda *args: False)
        patch.setattr(blockquant, "amax_bits", lambda rows: block_amax(rows, block))
        patch.setattr(blockquant, "magic64", lambda *args: None)
        general = blockquant.block_terms(x, block, axis=1)
    same(fast[0], general[0])
    same(fast[1], general[1])
    assert fast[2] == general[2]
