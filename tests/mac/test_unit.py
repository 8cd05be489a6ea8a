"""The MAC configuration: notation, presets, defaults, validation, shapes and the stats object."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import mixprec as mp
from mixprec.mac import MAC, PRESETS, MacStats, Order

CANONICAL = [
    "int8->int32", "fp16->fp32", "bf16->fp32", "fp8_e4m3->fp16", "fp8_e5m2->fp32", "fp16->fp16",
    "bf16->bf16", "int8->int16", "int8->int16:saturate", "fp16->fp16:chunked:64",
    "fp8_e4m3->fp16->fp32", "fp16->fp32:sequential", "bf16->bf16:pairwise:toward_zero",
    "fp16->fp16:saturate:chunked:8:up", "int8->int32:pairwise", "fixed<8,4>->fixed<24,8>",
]  # fmt: skip


@pytest.mark.parametrize("notation", CANONICAL)
def test_canonical_notation_prints_back(notation: str) -> None:
    mac = MAC.parse(notation)
    assert str(mac) == notation
    assert MAC.parse(str(mac)) == mac
    assert (
        MAC(mac.input, mac.accumulator, mac.product, mac.rounding, mac.overflow, mac.order) == mac
    )


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("int8->int16:wrap", "int8->int16"),  # wrap is the integer default
        ("fp16->fp32:fast", "fp16->fp32"),  # fast is the fp32 default
        ("fp16->fp16:sequential:inf", "fp16->fp16"),
        (" E4M3 -> fp16 : Chunked:4 ", "fp8_e4m3->fp16:chunked:4"),
        ("bfloat16->float32", "bf16->fp32"),
        ("tensor-core-fp16", "fp16->fp32"),
    ],
)
def test_equivalent_notations_print_canonically(written: str, canonical: str) -> None:
    assert str(MAC.parse(written)) == canonical


def test_defaults() -> None:
    assert MAC.parse("int8->int32").overflow.value == "wrap"
    assert MAC.parse("fp16->fp16").overflow.value == "inf"
    assert str(MAC.parse("int8->int16:saturate").order) == "sequential"
    assert str(MAC.parse("fp16->fp16").order) == "sequential"
    assert str(MAC.parse("bf16->fp32").order) == "fast"
    assert str(MAC.parse("int8->int16").order) == "fast"
    mac = MAC(input="fp8_e4m3", accumulator=mp.get_format("fp16"))
    assert mac.input is mp.get_format("fp8_e4m3") and mac.product is None
    assert mac.rounding is mp.Rounding.NEAREST_EVEN


def test_presets() -> None:
    assert str(MAC.preset("tensor-core-fp16")) == "fp16->fp32"
    assert str(MAC.preset("tensor-core-bf16")) == "bf16->fp32"
    assert str(MAC.preset("int8")) == "int8->int32"
    for name in PRESETS:
        MAC.preset(name)
    with pytest.raises(ValueError, match="tensor-core-fp16"):
        MAC.preset("tensorcore")


@pytest.mark.parametrize(
    ("notation", "message"),
    [
        ("int4", "input->accumulator"),
        ("int8->int32->fp32->fp64", "input->product->accumulator"),
        ("int8->int32:bogus", "overflow policy"),
        ("int8->int32:chunked", "chunked:N"),
        ("int8->int32:chunked:x", "chunked:N"),
        ("int8->int32:chunked:0", ">= 1"),
        ("int8->int32:wrap:saturate", "twice"),
        ("int8->int32:inf", "'wrap', 'saturate'"),
        ("fp16->fp32:wrap", "'inf', 'saturate'"),
        ("fp16->int32", "integer inputs"),
        ("int8->int16:saturate:fast", "'fast' is not allowed"),
        ("fp16->fp16:fast", "'sequential', 'pairwise' or 'chunked:N'"),
        ("fp64->fp64", "too wide"),
        ("fp16->e8m30:stochastic", "<= 24 bits"),
        ("fp16->fp16:random_bits:4", "needs rounding='stochastic'"),
        ("fp16->fp16:stochastic:random_bits:99", r"\[1, 41\]"),
        ("fp16->fp32:promote:128", "needs a tensor-core MAC"),
        ("fp16->fp32:h100:pairwise", "leave product, rounding and order unset"),
        ("fp8_e4m3->fp16:h100", "it has: "),
        ("fp16->fp32:h900", "unknown option"),
        ("fp16->fp64:up", "nearest_even"),
        ("fp16->e8m0", "sign and a zero"),
        ("fp8->fp16->int32", "integer"),
        ("fp9->fp32", "unknown format"),
    ],
)
def test_bad_notation_says_what_is_allowed(notation: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MAC.parse(notation)


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="allowed"):
        MAC("int8", "int32", order="random")
    with pytest.raises(TypeError):
        MAC(3, "int32")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="string"):
        MAC.parse(42)  # type: ignore[arg-type]
    assert MAC("int8", "int32", order="chunked:8").order == Order.parse("chunked:8")


def test_mac_is_frozen_and_hashable() -> None:
    mac = MAC.parse("fp16->fp16")
    with pytest.raises(AttributeError):
        mac.order = Order.parse("pairwise")  # type: ignore[misc]
    assert len({mac, MAC.parse("fp16->fp16:sequential"), MAC.parse("fp16->fp32")}) == 2


# -- shapes and dtypes ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "notation", ["int8->int32", "fp16->fp32", "fp16->fp16", "int8->int16:saturate"]
)
def test_shapes_like_numpy_matmul(notation: str) -> None:
    mac = MAC.parse(notation)
    rng = np.random.default_rng(3)
    a = rng.integers(-3, 4, (2, 3, 5)).astype(np.float64)
    b = rng.integers(-3, 4, (5, 4)).astype(np.float64)
    for x, y in [
        (a, b),
        (a[0], b),
        (a[0, 0], b),
        (a[0], b[:, 0]),
        (a[0, 0], b[:, 0]),
        (a, b[:, 0]),
    ]:
        out = mac.matmul(x, y)
        np.testing.assert_array_equal(out, x @ y)  # small integers: exact
        assert out.shape == (x @ y).shape and out.dtype == mac.output_dtype
    assert mac.dot(a[0, 0], b[:, 0]).shape == ()


@pytest.mark.parametrize(
    "notation", ["int8->int32", "fp16->fp32", "fp16->fp16", "bf16->bf16:pairwise"]
)
def test_empty_and_degenerate_sizes(notation: str) -> None:
    mac = MAC.parse(notation)
    assert mac.matmul(np.zeros((2, 0)), np.zeros((0, 3))).tolist() == [[0.0] * 3] * 2
    assert (
        mac.affine(np.zeros((2, 0)), np.zeros((0, 3)), bias=[1, 2, 3]).tolist() == [[1, 2, 3]] * 2
    )
    assert mac.matmul(np.zeros((0, 4)), np.zeros((4, 3))).shape == (0, 3)
    assert mac.matmul(np.zeros((2, 4)), np.zeros((4, 0))).shape == (2, 0)
    assert mac.matmul(np.full((1, 1), 3), np.full((1, 1), 2)).tolist() == [[6.0]]
    assert mac.dot([], []) == 0
    with pytest.raises(ValueError, match="align"):
        mac.matmul(np.zeros((2, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="at least one dimension"):
        mac.matmul(3.0, np.zeros(2))
    with pytest.raises(ValueError, match="1-D"):
        mac.dot(np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="broadcast"):
        mac.affine(np.zeros((2, 3)), np.zeros((3, 4)), bias=np.zeros(3))


def test_output_dtypes() -> None:
    assert MAC.parse("int8->int32").output_dtype == np.float64
    assert MAC.parse("int8->int16").output_dtype == np.float32
    assert MAC.parse("fp16->fp16").output_dtype == np.float32
    assert MAC.parse("fp16->fp64").output_dtype == np.float64


def test_storage_dtype_inputs_are_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hardware operands (np.float16, bfloat16, int8 ...) skip quantization entirely."""
    import mixprec.mac.operands as operands

    calls = []
    monkeypatch.setattr(operands, "quantize", lambda *a, **k: calls.append(a) or a[0])
    MAC.parse("fp16->fp32").matmul(np.ones((2, 3), np.float16), np.ones((3, 2), np.float16))
    MAC.parse("bf16->bf16").matmul(
        np.ones((2, 3), ml_dtypes.bfloat16), np.ones((3, 2), ml_dtypes.bfloat16)
    )
    MAC.parse("int8->int32").matmul(np.ones((2, 3), np.int8), np.ones((3, 2), np.int8))
    assert calls == []
    MAC.parse("fp16->fp32").matmul(np.ones((2, 3), np.float32), np.ones((3, 2), np.float16))
    assert len(calls) == 1


def test_inputs_round_to_the_input_format() -> None:
    y = MAC.parse("fp8_e4m3->fp32").matmul(np.array([[1.1, 1e-4, 500.0]]), np.ones((3, 1)))
    assert y[0, 0] == np.float32(1.125 + 0 + 448)
    _, stats = MAC.parse("fp8_e4m3->fp32").matmul(
        np.array([[1.1, 1e-4, 500.0, np.inf]]), np.ones((4, 1)), stats=True
    )
    assert stats.input_saturations == 2 and stats.input_flushes == 1


# -- stats ---------------------------------------------------------------------------------------
def test_stats_add_and_convert() -> None:
    one = MacStats(wraps=1, inf_results=2)
    total = sum([one, one, MacStats(saturations=5)])
    assert total == MacStats(wraps=2, saturations=5, inf_results=4)
    assert total.as_dict()["wraps"] == 2 and total.total == 11
    assert set(total.as_dict()) == {
        "wraps", "saturations", "overflows", "input_saturations", "input_flushes",
        "product_roundings", "product_overflows", "inf_results", "nan_results",
    }  # fmt: skip
    with pytest.raises(TypeError):
        one + 1  # type: ignore[operator]


def test_product_format_counts() -> None:
    mac = MAC.parse("fp16->fp8_e4m3->fp32:sequential")
    a = np.array([[1.0, 3.0, 100.0]], np.float16)
    b = np.array([[1.0], [1.0 + 2**-10], [100.0]], np.float16)
    y, stats = mac.matmul(a, b, stats=True)
    assert stats.product_roundings == 2  # 3 * (1 + 2**-10) is inexact; 10000 overflows
    assert stats.product_overflows == 1
    assert np.isnan(y[0, 0])  # E4M3 overflows to NaN (no inf), OCP FP8 §5
