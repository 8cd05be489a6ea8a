"""The MX / NVFP4 MAC against an exact Fraction implementation of its semantics, every order."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import mixprec as mp
from mixprec.mac import MAC, BlockMAC
from tests.reference import exact_round


def values_and_scales(x: np.ndarray, fmt: mp.BlockFormat, axis: int) -> tuple:
    """Element values, per-block scale values and the tensor scale, from the codes."""
    encoded = mp.encode(x, fmt, axis=axis)
    elements = mp.decode(encoded[0], fmt.element, dtype=np.float64)
    scales = mp.decode(encoded[1], fmt.scale, dtype=np.float64)
    s_t = Fraction(float(encoded[2])) if len(encoded) == 3 else Fraction(1)
    return elements, scales, s_t


def tree(terms: list, add) -> object:
    """Pairwise: the largest power-of-two prefix as a balanced tree, plus the rest."""
    if len(terms) == 1:
        return terms[0]
    size = 1 << (len(terms).bit_length() - 1)
    if size == len(terms):
        half = size // 2
        return add(tree(terms[:half], add), tree(terms[half:], add))
    return add(tree(terms[:size], add), tree(terms[size:], add))


def reference(a: np.ndarray, b: np.ndarray, mac: BlockMAC) -> np.ndarray:
    """Exact block dots, exact scaling, one rounding per block addition in the MAC's order."""
    fmt, k = mac.input, mac.input.block_size
    a_el, a_sc, a_t = values_and_scales(a, fmt, 1)
    b_el, b_sc, b_t = values_and_scales(b, fmt, 0)
    acc_fmt, mode, policy = mac.accumulator, mac.rounding.value, mac.overflow.value

    def add(x: Fraction | float, y: Fraction | float) -> float:
        if isinstance(x, float) and math.isnan(x) or isinstance(y, float) and math.isnan(y):
            return math.nan
        return exact_round(Fraction(x) + Fraction(y), acc_fmt, mode, policy)

    out = np.empty((a.shape[0], b.shape[1]))
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            terms = []
            for blk in range(a_sc.shape[1]):
                lo, hi = blk * k, min((blk + 1) * k, a.shape[1])
                dot = sum(
                    (Fraction(a_el[i, t]) * Fraction(b_el[t, j]) for t in range(lo, hi)),
                    Fraction(0),
                )
                scale = a_sc[i, blk] * b_sc[blk, j]
                terms.append(math.nan if math.isnan(scale) else dot * Fraction(scale))
            kind, chunk = mac.order.kind.value, mac.order.chunk
            if kind == "pairwise":
                acc = add(0.0, tree(terms, add))
            elif kind == "chunked":
                acc = 0.0
                for start in range(0, len(terms), chunk):
                    inner: float = 0.0
                    for term in terms[start : start + chunk]:
                        inner = add(inner, term)
                    acc = add(acc, inner)
            else:
                acc = 0.0
                for term in terms:
                    acc = add(acc, term)
            if a_t * b_t != 1 and not math.isnan(acc):
                acc = exact_round(Fraction(acc) * a_t * b_t, acc_fmt, mode, policy)
            out[i, j] = acc
    return out


def operands(seed: int, k: int = 70) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((3, k)) * np.exp2(rng.integers(-8, 8, (3, 1)))
    b = rng.standard_normal((k, 4)) * np.exp2(rng.integers(-8, 8, (1, 4)))
    a[0, :5] *= 1e4  # an outlier block
    b[10:20, 1] = 0.0
    return a.astype(np.float32), b.astype(np.float32)


@pytest.mark.parametrize(
    "notation",
    [
        "mxfp8_e4m3->fp32", "mxfp8_e4m3->fp32:pairwise", "mxfp8_e4m3->bf16:chunked:2",
        "mxfp4->fp32", "mxfp4->fp16:pairwise", "mxfp6_e2m3->fp32:chunked:3",
        "mxfp6_e3m2->bf16", "mxint8->fp32", "mxint8->fp16:toward_zero",
        "mxfp4:rceil->fp32:fast", "nvfp4->fp32", "nvfp4->bf16:pairwise",
        "nvfp4:tensor_scale=none->fp32", "mxfp8_e4m3->fp16:saturate",
    ],
)  # fmt: skip
def test_block_mac_equals_the_exact_semantics(notation: str) -> None:
    mac = MAC.parse(notation)
    assert isinstance(mac, BlockMAC) and str(mac) == notation.replace(":fast", ":fast")
    a, b = operands(len(notation))
    expected = reference(a, b, mac)
    result = mac.matmul(a, b)
    np.testing.assert_array_equal(result, expected)
    encoded = mac.matmul(mp.encode(a, mac.input, axis=1), mp.encode(b, mac.input, axis=0))
    np.testing.assert_array_equal(encoded, expected)  # already-encoded operands


def test_one_rounding_per_block_not_per_product() -> None:
    # Within one block the exact dot 2**24 + 1 is kept; a per-product fp32 sum would drop the 1.
    a = np.zeros((1, 32), np.float32)
    b = np.zeros((32, 1), np.float32)
    a[0, :2], b[:2, 0] = [2.0**12, 1.0], [2.0**12, 1.0]  # E4M3 elements after scaling
    a[0, 2], b[2, 0] = -(2.0**12), 2.0**12
    mac = MAC.parse("mxfp8_e4m3->fp32")
    assert mac.matmul(a, b).item() == 1.0  # 2**24 + 1 - 2**24, exact in the block


def test_nan_scale_and_stats() -> None:
    a = np.ones((2, 32), np.float32)
    a[1, 3] = np.nan
    y, stats = MAC.parse("mxfp4->fp32").matmul(a, np.ones((32, 2), np.float32), stats=True)
    assert y[0].tolist() == [32.0, 32.0] and np.isnan(y[1]).all() and stats.nan_results == 2


def test_dot_affine_and_errors() -> None:
    mac = MAC.parse("mxfp4->fp32")
    assert mac.dot(np.ones(40), np.full(40, 2.0)).item() == 80.0
    assert mac.affine(np.ones((1, 32)), np.ones((32, 2)), bias=[1.0, -2.0]).tolist() == [
        [33.0, 30.0]
    ]
    with pytest.raises(ValueError, match="needs more than float64"):
        MAC.parse("mxfp8_e5m2->fp32")
    with pytest.raises(ValueError, match="signed float format"):
        MAC.parse("mxfp4->int32")
    with pytest.raises(ValueError, match="one K"):
        mac.matmul(np.ones((2, 32)), np.ones((16, 2)))
    with pytest.raises(ValueError, match="unknown option"):
        MAC.parse("mxfp4->fp32:sideways")
