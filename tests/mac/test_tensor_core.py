"""Tensor-core MACs: the vectorised block FMA against the Fraction reference, feature-detection
vectors in the manner of the HPEC 2025 methodology, presets and notation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import mixprec as mp
from mixprec.formats import FloatFormat, get_format
from mixprec.mac import MAC
from mixprec.mac.block_fma import BlockFMA, block_fma_matmul
from tests.mac import tc_oracle

PRESETS = MAC.tensor_cores()
IDS = [f"{g}-{i}-{o}" for g, i, o in PRESETS]
# one preset per distinct parameter set (aliases share their GPU's)
DISTINCT = [p for p in PRESETS if p[0] in ("v100", "a100", "h100", "b200", "ada")]


def _params(mac: MAC) -> dict:
    assert mac.adder is not None
    p = dataclasses.asdict(mac.adder)
    p["final_rounding"] = mac.adder.final_rounding.value
    return p


def _random_values(
    fmt: FloatFormat, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """Values of ``fmt``: random magnitudes over a spread of binades, zeros, subnormals, and
    exact negatives of other entries (cancellation)."""
    x = rng.standard_normal(shape) * np.exp2(rng.integers(-8, 8, shape))
    x[rng.random(shape) < 0.1] = 0.0
    tiny = rng.random(shape) < 0.08
    x[tiny] = fmt.smallest_subnormal * rng.integers(1, 4, np.count_nonzero(tiny))
    values = mp.quantize(x, fmt, overflow="saturate").astype(np.float64)
    flat = values.reshape(-1)
    pick = rng.random(flat.size) < 0.2
    flat[pick] = -rng.permutation(flat)[pick]
    return values


@pytest.mark.parametrize(
    ("gpu", "inp", "out"), DISTINCT, ids=[f"{g}-{i}-{o}" for g, i, o in DISTINCT]
)
@pytest.mark.parametrize("seed", [0, 1])
def test_block_fma_equals_the_fraction_reference(gpu: str, inp: str, out: str, seed: int) -> None:
    mac = MAC.tensor_core(gpu, inp, out)
    fin, fout = get_format(inp), get_format(out)
    rng = np.random.default_rng(seed + 17 * len(gpu + inp + out))
    k = 2 * mac.adder.group + 3  # two full groups and a partial one
    a = _random_values(fin, (4, k), rng)
    b = _random_values(fin, (k, 3), rng)
    c = mp.quantize(rng.standard_normal((4, 3)) * np.exp2(rng.integers(-20, 12, (4, 3))), fout)
    c = c.astype(np.float64)
    c[0, 0] = 0.0
    got = mac.matmul(a, b, c=c)
    want = tc_oracle.gemm(a, b, c, _params(mac), fin, fout)
    np.testing.assert_array_equal(got, want.astype(np.float32))


@pytest.mark.parametrize(
    "adder",
    [
        BlockFMA(group=4, extra_bits=3, final_rounding="nearest_even", min_exponent=-20),
        BlockFMA(group=3, extra_bits=-5, input_subnormals=False, output_subnormals=False),
        BlockFMA(group=5, extra_bits=0, late_c=True, min_exponent=-140),
    ],
)
def test_custom_adders_equal_the_reference(adder: BlockFMA) -> None:
    fin, fout = get_format("bf16"), get_format("fp32")
    rng = np.random.default_rng(adder.group)
    a = _random_values(fin, (3, 11), rng) * 2.0**-60  # products near fp32's subnormals
    b = _random_values(fin, (11, 4), rng) * 2.0**-60
    c = np.ldexp(rng.standard_normal((3, 4)), -130).astype(np.float32).astype(np.float64)
    mac = MAC("bf16", "fp32", adder=adder)
    got = mac.matmul(a, b, c=c)
    params = dataclasses.asdict(adder) | {"final_rounding": adder.final_rounding.value}
    np.testing.assert_array_equal(
        got, tc_oracle.gemm(a, b, c, params, fin, fout).astype(np.float32)
    )


def test_alignment_boundary_and_cancellation() -> None:
    # H100 fp16: F = 25 fraction bits below E = 1 (the product 2): 2**-24 is the last kept bit
    mac = MAC.tensor_core("h100", "fp16", "fp32")
    a = np.array([[2.0, -1.0, -(2.0**-12)]])
    for tiny, expected in ((2.0**-24, 1 - 2.0**-24), (2.0**-25, 1.0), (3 * 2.0**-25, 1 - 2.0**-24)):
        b = np.array([[1.0], [1.0], [tiny * 2.0**12]])  # the third product is -tiny, exactly
        assert mac.matmul(a, b).item() == expected, tiny
    # the truncation drops the magnitude's bits, whatever the sign: + 2**-25 vanishes too
    b = np.array([[1.0], [1.0], [-(2.0**-13)]])
    assert mac.matmul(a, b).item() == 1.0


def test_specials_follow_gemm_m() -> None:
    mac = MAC.tensor_core("a100", "fp16", "fp32")
    a = np.array([[np.inf, 1.0], [np.inf, 0.0], [1.0, 1.0], [np.inf, -np.inf]])
    b = np.array([[1.0], [0.0]])
    y = mac.matmul(a, b, c=np.array([[0.0], [0.0], [np.nan], [0.0]]))
    assert y[0, 0] == np.inf  # one infinity among the products
    assert y[1, 0] == np.inf  # inf * 1 and 0 * 0
    assert np.isnan(y[2, 0])  # NaN C
    y = mac.matmul(np.array([[np.inf, -np.inf]]), np.ones((2, 1)))
    assert np.isnan(y.item())  # both infinities
    y = mac.matmul(np.array([[np.inf, 1.0]]), np.array([[0.0], [1.0]]))
    assert np.isnan(y.item())  # 0 * inf
    # overflow of a group gives inf, which stays inf
    big = np.full((1, 16), 60000.0)
    assert MAC.tensor_core("h100", "fp16", "fp16").matmul(big, np.ones((16, 1))).item() == np.inf


# -- feature detection (Khattak & Mikaitis, HPEC 2025: vectors whose result reveals a feature) --
# What the paper and the model files report per GPU: products per group, fraction bits kept
# below the largest exponent (23 + extra alignment bits), and the final rounding.
REPORTED = {
    ("v100", "fp16"): (4, 23), ("a100", "fp16"): (8, 24), ("a100", "bf16"): (8, 24),
    ("a100", "tf32"): (4, 24), ("h100", "fp16"): (16, 25), ("h100", "bf16"): (16, 25),
    ("h100", "tf32"): (8, 25), ("h100", "fp8_e4m3"): (32, 13), ("h100", "fp8_e5m2"): (32, 13),
    ("b200", "fp16"): (16, 25), ("b200", "bf16"): (16, 25), ("b200", "tf32"): (8, 25),
    ("b200", "fp8_e4m3"): (32, 25), ("b200", "fp8_e5m2"): (32, 25), ("ada", "fp16"): (8, 24),
    ("ada", "bf16"): (8, 24), ("ada", "tf32"): (4, 24), ("ada", "fp8_e4m3"): (16, 13),
    ("ada", "fp8_e5m2"): (16, 13),
}  # fmt: skip
ALIAS = {"a2": "a100", "a30": "a100", "h200": "h100", "l40s": "ada"}


def _pair(exponent: int, fmt: FloatFormat) -> tuple[float, float]:
    """Two values of ``fmt`` whose product is ``2**exponent`` (powers of two), normal ones where
    possible: a subnormal factor raises the product's alignment exponent ``e_a + e_b`` above
    its true exponent (the model's significands are not normalised)."""
    for low in (fmt.emin, fmt.emin - fmt.mantissa_bits):
        for i in range(fmt.emax, low - 1, -1):
            if low <= exponent - i <= fmt.emax:
                return 2.0**i, 2.0 ** (exponent - i)
    raise ValueError(f"no pair for 2**{exponent} in {fmt.name}")


def _dot(mac: MAC, products: list[tuple[int, int] | None], c: float = 0.0) -> float:
    """The MAC's dot product of power-of-two pairs with products ``sign * 2**e``; an exponent
    None is a zero product."""
    fmt = mac.input
    a, b = [], []
    for p in products:
        if p is None:
            x, y = 0.0, 1.0
        else:
            x, y = _pair(p[1], fmt)
            x *= p[0]
        a.append(x)
        b.append(y)
    return float(mac.matmul(np.array([a]), np.array(b)[:, None], c=c).item())


@pytest.mark.parametrize(("gpu", "inp", "out"), PRESETS, ids=IDS)
def test_feature_vectors_reveal_the_reported_features(gpu: str, inp: str, out: str) -> None:
    mac = MAC.tensor_core(gpu, inp, out)
    group, f = REPORTED[(ALIAS.get(gpu, gpu), inp)]
    fmt_out = get_format(out)
    # products per group: 2**h - 2**h + t with t = 2**(h - f - 1) is t when t starts a later
    # group (its own alignment), 0 when t is aligned with the pair in one group
    h = 0 if f <= 13 else (12 if inp.startswith("fp8") else 5)
    t = h - f - 1
    for index in range(2, 2 * group + 1):
        products = [(1, h), (-1, h)] + [None] * (index - 2) + [(1, t)]
        expected = 2.0**t if index >= group else 0.0
        assert _dot(mac, products) == expected, (index, group)
    # extra alignment bits: 2**s (2 - 1 - 2**(1 - j)) keeps the last term iff j <= f (E = s + 1),
    # else truncation drops it (s lifts the vector where fp8 products cannot reach 2**-26)
    s = 8 if f > 13 and inp.startswith("fp8") else 0
    for j in range(f - 2, f + 3):
        kept = j <= f
        value = _dot(mac, [(1, s + 1), (-1, s), (-1, s + 1 - j)]) / 2.0**s
        keep = min(fmt_out.mantissa_bits, f)
        exact = 1 - 2.0 ** (1 - j)
        grid = 2.0 ** (-1 - keep)  # the result's quantum in [0.5, 1)
        if not kept:
            want = 1.0
        elif out == "fp16":  # rounded to nearest even (the 2**(1 - j) shows only for j <= 11)
            want = float(np.float16(exact))
        else:
            want = float(np.floor(exact / grid) * grid)
        assert value == want, (j, f)
    # final rounding: 1 + (1 + 3 * 2**-keep) = 2 + 1.5 ulps: toward zero 2 + 1 ulp, nearest even
    # 2 + 2 ulps (the late C of B200 FP8 is one round-to-nearest fp32 addition)
    keep = min(fmt_out.mantissa_bits, f)
    ulp = 2.0 ** (1 - keep)
    nearest = out == "fp16" or (gpu == "b200" and inp.startswith("fp8"))
    assert _dot(mac, [(1, 0)], c=1 + 3 * 2.0**-keep) == 2 + (2 if nearest else 1) * ulp
    # subnormals: the smallest input subnormal passes, and an fp32-subnormal product too
    fin = get_format(inp)
    tiny = fin.smallest_subnormal
    assert mac.matmul(np.array([[tiny]]), np.ones((1, 1))).item() == (
        tiny if tiny >= fmt_out.smallest_subnormal else 0.0
    )


def test_presets_list_and_notation() -> None:
    assert len(PRESETS) == len(set(PRESETS))
    assert {g for g, _, _ in PRESETS} == {"v100", "a100", "a2", "a30", "h100", "h200", "b200",
                                          "ada", "l40s"}  # fmt: skip
    for gpu, inp, out in PRESETS:
        mac = MAC.tensor_core(gpu, inp, out)
        assert str(mac) == f"{inp}->{out}:{gpu}"
        assert MAC.parse(str(mac)) == mac
    mac = MAC.parse("fp8_e4m3->fp32:h100:promote:128")
    assert mac.promote == 128 and MAC.parse(str(mac)) == mac
    assert (
        MAC.tensor_core("h200", "bf16", "fp32").adder
        == MAC.tensor_core("h100", "bf16", "fp32").adder
    )
    with pytest.raises(ValueError, match="it has"):
        MAC.tensor_core("v100", "bf16", "fp32")
    with pytest.raises(ValueError, match="known"):
        MAC.tensor_core("tpu", "bf16", "fp32")


def test_promotion_adds_partial_sums_in_fp32() -> None:
    rng = np.random.default_rng(4)
    a = mp.quantize(rng.standard_normal((3, 300)), "fp8_e4m3").astype(np.float64)
    b = mp.quantize(rng.standard_normal((300, 2)), "fp8_e4m3").astype(np.float64)
    c = rng.standard_normal((3, 2)).astype(np.float32)
    mac = MAC.parse("fp8_e4m3->fp32:h100")
    promoted = MAC.parse("fp8_e4m3->fp32:h100:promote:128").matmul(a, b, c=c)
    expected = c.copy()
    for start in (0, 128, 256):
        expected += mac.matmul(a[:, start : start + 128], b[start : start + 128])
    np.testing.assert_array_equal(promoted, expected)


def test_block_fma_validates_its_parameters() -> None:
    with pytest.raises(ValueError, match="group"):
        BlockFMA(group=0, extra_bits=1)
    with pytest.raises(ValueError, match="extra_bits"):
        BlockFMA(group=4, extra_bits=9)
    with pytest.raises(ValueError, match="final_rounding"):
        BlockFMA(group=4, extra_bits=1, final_rounding="up")
    with pytest.raises(ValueError, match="fp32 output only"):
        block_fma_matmul(np.ones((1, 1)), np.ones((1, 1)), np.zeros((1, 1)),
                         BlockFMA(group=4, extra_bits=1, late_c=True), get_format("fp16"),
                         get_format("fp16"))  # fmt: skip
