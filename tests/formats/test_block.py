"""Block-scaled formats (OCP MX v1.0, NVFP4) against the exact Fraction oracle of the specs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mixprec as mp
from mixprec.formats import BLOCK_FORMATS, get_block_format
from mixprec.formats.blockpack import pack_codes, unpack_codes
from tests.formats.block_reference import mx_block, nv_block, nv_tensor_scale

MX = [name for name in BLOCK_FORMATS if name.startswith("mx")]
RULES = ["floor", "rceil", "ceil", "even"]
MODES = ["nearest_even", "nearest_away", "toward_zero", "up", "down", "odd"]


def same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal values, NaN where NaN, and the sign of zeros."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.signbit(a), np.signbit(b))


def probe_blocks(fmt: mp.BlockFormat, rng: np.random.Generator) -> np.ndarray:
    """Rows of one block each: normal data, outliers, all-zero, element midpoints after
    scaling, subnormal elements beside a large one, tiny and huge scales, NaN and inf."""
    k = fmt.block_size
    elem = fmt.element
    rows = [
        rng.standard_normal(k),
        rng.standard_normal(k) * np.where(rng.random(k) < 0.1, 1000.0, 1.0),
        np.zeros(k),
        -np.zeros(k),
    ]
    values = mp.decode(np.arange(2**elem.bits), elem, dtype=np.float64)
    values = np.unique(values[np.isfinite(values)])
    mids = (values[1:] + values[:-1]) / 2
    for exponent in (-3, 0, 5):
        picked = rng.choice(mids, k - 1)
        rows.append(np.append(picked, elem.max) * 2.0**exponent)  # amax fixes the scale
    tiny = np.append(rng.standard_normal(k - 1) * elem.smallest_subnormal, elem.max)
    rows.append(tiny)
    rows.append(rng.standard_normal(k) * 2.0**-135)  # scale clamps at 2**-127
    rows.append(rng.standard_normal(k) * 2.0**120)
    with_nan = rng.standard_normal(k)
    with_nan[3] = np.nan
    with_inf = rng.standard_normal(k)
    with_inf[5] = -np.inf
    rows += [with_nan, with_inf]
    return np.array(rows)


def reference(rows: np.ndarray, fmt: mp.BlockFormat, mode: str = "nearest_even") -> np.ndarray:
    if fmt.is_power_of_two:
        return np.array([mx_block(list(map(float, r)), fmt, mode) for r in rows])
    s_t = nv_tensor_scale(list(map(float, rows.reshape(-1))))
    if fmt.tensor_scale.value == "none":
        s_t = 1
    return np.array([nv_block(list(map(float, r)), fmt, s_t, mode) for r in rows])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("name", MX)
def test_mx_equals_the_spec_oracle(name: str, rule: str, dtype: type) -> None:
    fmt = get_block_format(f"{name}:{rule}")
    rows = probe_blocks(fmt, np.random.default_rng(len(name) + len(rule))).astype(dtype)
    expected = reference(rows, fmt)
    same(mp.quantize(rows, fmt), expected)  # the float32 kernel where it applies
    same(mp.decode(mp.encode(rows, fmt), fmt), expected)  # the general path


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp4", "mxint8", "mxfp6_e3m2"])
def test_mx_rounding_modes(name: str, mode: str) -> None:
    fmt = get_block_format(name)
    rows = probe_blocks(fmt, np.random.default_rng(7)).astype(np.float32)
    same(mp.quantize(rows, fmt, rounding=mode), reference(rows, fmt, mode))


@pytest.mark.parametrize(
    "name",
    ["nvfp4", "nvfp4:tensor_scale=none", "nvfp4:scale_min=normal",
     "nvfp4:tensor_scale=none:scale_min=normal"],
)  # fmt: skip
@pytest.mark.parametrize("mode", ["nearest_even", "toward_zero", "up"])
def test_nvfp4_two_levels_equal_the_oracle(name: str, mode: str) -> None:
    fmt = get_block_format(name)
    rows = probe_blocks(fmt, np.random.default_rng(3)).astype(np.float32)
    expected = reference(rows, fmt, mode)
    same(mp.quantize(rows, fmt, rounding=mode), expected)
    same(mp.decode(mp.encode(rows, fmt, rounding=mode), fmt), expected)


def test_nvfp4_tensor_scale_is_returned_and_can_be_given() -> None:
    rows = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    codes, scales, s_t = mp.encode(rows, "nvfp4")
    assert s_t == np.float32(float(nv_tensor_scale(list(map(float, rows.reshape(-1))))))
    given = np.float32(0.01)
    fmt = get_block_format("nvfp4")
    expected = np.array([nv_block(list(map(float, r)), fmt, float(given)) for r in rows])
    same(mp.quantize(rows, "nvfp4", tensor_scale=given), expected)
    assert mp.encode(rows, "nvfp4", tensor_scale=given)[2] == given
    with pytest.raises(ValueError, match="positive finite float32"):
        mp.quantize(rows, "nvfp4", tensor_scale=0.1)  # not a float32
    with pytest.raises(ValueError, match="no tensor scale"):
        mp.quantize(rows, "mxfp4", tensor_scale=given)


@pytest.mark.parametrize("name", MX)
def test_every_element_code_decodes_and_round_trips(name: str) -> None:
    fmt = get_block_format(name)
    elem, k = fmt.element, fmt.block_size
    codes = np.arange(2**elem.bits)
    values = mp.decode(codes, elem, dtype=np.float64)
    for scale_code in (0, 1, 100, 127, 254 - fmt.element_emax - 1):
        x = 2.0 ** (scale_code - 127)
        top = int(np.argmax(np.where(np.isfinite(values), values, -np.inf)))
        blocks = np.full((codes.size, k), top, np.int64)
        blocks[:, 0] = codes  # each block: one code, and the largest finite code beside it
        scales = np.full((codes.size, 1), scale_code, np.uint8)
        decoded = mp.decode((blocks, scales), fmt)
        expected = mp.decode(blocks, elem, dtype=np.float64) * x
        same(decoded, expected)
        keep = np.isfinite(values) & (values >= -elem.max)  # no NaN/inf, no MXINT8 -2.0
        again_codes, again_scales = mp.encode(decoded[keep], fmt)
        np.testing.assert_array_equal(again_codes, blocks[keep])
        np.testing.assert_array_equal(again_scales, scales[keep])
    nan_scale = mp.decode((codes[None, :k] * 0, np.array([[255]], np.uint8)), fmt)
    assert np.isnan(nan_scale).all()


def test_every_nvfp4_code_with_every_block_scale() -> None:
    fmt = get_block_format("nvfp4:tensor_scale=none")
    scale_codes = np.arange(1, 0x7F, dtype=np.uint8)  # every positive finite E4M3 scale
    elements = np.tile(np.arange(16), (scale_codes.size, 1))
    elements[:, 15] = 7  # 6.0 in the block fixes amax = 6 * s_b
    decoded = mp.decode((elements, scale_codes[:, None]), fmt)
    s_b = mp.decode(scale_codes, "fp8_e4m3", dtype=np.float64)
    same(decoded, mp.decode(elements, "fp4_e2m1", dtype=np.float64) * s_b[:, None])
    codes, scales = mp.encode(decoded, fmt)
    np.testing.assert_array_equal(codes, elements)
    np.testing.assert_array_equal(scales[:, 0], scale_codes)


def test_scale_clamps_at_both_ends() -> None:
    tiny = np.full((1, 32), 2.0**-134, np.float32)
    tiny[0, 1] = 2.0**-140  # below half the element's smallest subnormal (2**-9) after scaling
    codes, scales = mp.encode(tiny, "mxfp8_e4m3")
    assert scales.item() == 0  # floor(log2) - 8 = -142 clamps to 2**-127, the smallest scale
    expected = np.full((1, 32), 2.0**-134)
    expected[0, 1] = 0.0
    same(mp.quantize(tiny, "mxfp8_e4m3"), expected)
    huge = np.full((1, 32), 2.0**200)
    assert mp.encode(huge, "mxfp4")[1].item() == 255  # beyond 2**127: the NaN scale
    assert np.isnan(mp.quantize(huge, "mxfp4")).all()
    assert mp.encode(huge, "mxfp4:scale_overflow=saturate")[1].item() == 254
    same(mp.quantize(huge, "mxfp4:scale_overflow=saturate"), np.full((1, 32), 6.0 * 2.0**127))
    near_top = np.full((1, 32), 1.5 * 2.0**127, np.float32)  # ceil(log2) = 128 for MXINT8
    assert mp.encode(near_top, "mxint8:ceil")[1].item() == 255
    assert mp.encode(near_top, "mxint8")[1].item() == 254


def test_nan_and_inf_make_the_block_nan_or_convert_alone() -> None:
    x = np.ones((2, 32), np.float32)
    x[0, 1], x[1, 2] = np.nan, np.inf
    assert np.isnan(mp.quantize(x, "mxfp8_e4m3")).all()
    assert mp.encode(x, "mxfp8_e4m3")[1].tolist() == [[255], [255]]
    alone = mp.quantize(x, "mxfp8_e5m2:specials=element")
    assert np.isnan(alone[0, 1]) and alone[1, 2] == np.inf and alone[0, 0] == 1.0
    # amax 1 gives X = 2**(0 - 2); inf saturates to the element max: 6 * X
    same(mp.quantize(x[1:], "mxfp4:specials=element")[0, :4], [1.0, 1.0, 1.5, 1.0])


def test_mxint8_minus_two_is_kept_or_clamped() -> None:
    x = np.array([[-1.999, 1.0] + [0.0] * 30])
    assert mp.quantize(x, "mxint8")[0, 0] == -2.0
    assert mp.encode(x, "mxint8")[0][0, 0] == 0x80
    assert mp.quantize(x, "mxint8:int_min=symmetric")[0, 0] == -127 / 64
    assert mp.quantize(x.astype(np.float32), "mxint8:int_min=symmetric")[0, 0] == -127 / 64


def test_lengths_not_divisible_pad_or_fail() -> None:
    x = np.random.default_rng(1).standard_normal((3, 40)).astype(np.float32)
    padded = np.concatenate([x, np.zeros((3, 24), np.float32)], axis=1)
    same(mp.quantize(x, "mxfp4"), mp.quantize(padded, "mxfp4")[:, :40])
    codes, scales = mp.encode(x, "mxfp4")
    assert codes.shape == (3, 40) and scales.shape == (3, 2)
    with pytest.raises(ValueError, match="multiple of 32"):
        mp.quantize(x, "mxfp4:padding=error")


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_any_axis_and_non_contiguous_input(axis: int) -> None:
    base = np.random.default_rng(2).standard_normal((6, 40, 70)).astype(np.float32)
    x = base[:, ::2, 1::2]  # non-contiguous view (6, 20, 35)
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    expected = np.moveaxis(mp.quantize(moved, "mxfp8_e4m3"), -1, axis)
    same(mp.quantize(x, "mxfp8_e4m3", axis=axis), expected)
    encoded = mp.encode(x, "mxfp8_e4m3", axis=axis)
    assert encoded[1].shape[axis % 3] == -(-x.shape[axis] // 32)
    same(mp.decode(encoded, "mxfp8_e4m3", axis=axis), expected)
    same(mp.quantize(x.T, "nvfp4", axis=axis), mp.decode(mp.encode(x.T, "nvfp4", axis=axis),
                                                         "nvfp4", axis=axis))  # fmt: skip


def test_fast_kernel_equals_general_path_on_many_values() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1 << 12, 64)) * np.exp2(rng.integers(-60, 60, (1 << 12, 1)))
    x = x.astype(np.float32)
    for name in MX:
        for rule in RULES:
            fmt = f"{name}:{rule}"
            same(mp.quantize(x, fmt), mp.decode(mp.encode(x, fmt), fmt))


def test_stochastic_rounding_lands_on_a_neighbour_and_is_seeded() -> None:
    rows = np.random.default_rng(4).standard_normal((64, 32)).astype(np.float32)
    down = mp.quantize(rows, "mxfp4", rounding="down")
    up = mp.quantize(rows, "mxfp4", rounding="up")
    sr = mp.quantize(rows, "mxfp4", rounding="stochastic", rng=1)
    assert ((sr == down) | (sr == up)).all() and (sr != down).any() and (sr != up).any()
    same(sr, mp.quantize(rows, "mxfp4", rounding="stochastic", rng=1))
    with pytest.raises(ValueError, match="stochastic rounding needs rng"):
        mp.quantize(rows, "mxfp4", rounding="stochastic")


@pytest.mark.parametrize("bits", [1, 4, 6, 8])
def test_pack_codes_round_trips(bits: int) -> None:
    codes = np.random.default_rng(bits).integers(0, 2**bits, 101).astype(np.uint8)
    packed = pack_codes(codes, bits)
    assert packed.nbytes == -(-101 * bits // 8)
    np.testing.assert_array_equal(unpack_codes(packed, bits, 101), codes)


@pytest.mark.parametrize("name", list(BLOCK_FORMATS))
def test_storage_counts_bytes_and_decodes_exactly(name: str) -> None:
    fmt = get_block_format(name)
    x = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
    stored = mp.to_storage(x, fmt)
    per_tensor = 4 if fmt.tensor_bits else 0
    assert stored.nbytes == x.size * fmt.bits_per_element / 8 + per_tensor
    same(stored.decode(), mp.quantize(x, fmt))


def test_names_options_and_errors() -> None:
    assert mp.get_format("MXFP8") is not None and str(mp.get_format("mxfp8")) == "mxfp8_e4m3"
    for text in (
        "mxfp4:rceil",
        "nvfp4:tensor_scale=none:scale_min=normal",
        "mxint8:int_min=symmetric",
    ):
        assert str(get_block_format(text)) == text
        assert get_block_format(str(get_block_format(text))) == get_block_format(text)
    assert get_block_format("mxfp4").bits_per_element == 4.25
    assert get_block_format("nvfp4").bits_per_element == 4.5
    assert get_block_format("nvfp4").tensor_bits == 32
    with pytest.raises(ValueError, match="Did you mean 'mxfp4'"):
        get_block_format("mxfp5")
    with pytest.raises(ValueError, match="allowed: 'floor'"):
        get_block_format("mxfp4:round")
    with pytest.raises(ValueError, match="does not fit the scale format"):
        get_block_format("nvfp4:floor")
    with pytest.raises(ValueError, match="scalar has none"):
        mp.quantize(1.0, "mxfp4")
    with pytest.raises(ValueError, match="do not match"):
        mp.decode((np.zeros((2, 32), np.uint8), np.zeros((2, 2), np.uint8)), "mxfp4")
    assert [f.name for f in mp.list_formats(blocks=True)][-1] == "nvfp4"
    assert all(isinstance(f, (mp.FloatFormat, mp.IntFormat)) for f in mp.list_formats())
    assert math.isclose(get_block_format("mxfp4").max, 6 * 2.0**127)
