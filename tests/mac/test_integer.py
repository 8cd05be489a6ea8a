"""Integer MACs against exact Python integers: no overflow, wrap, saturation, event counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mixprec as mp
from mixprec.mac import MAC
from tests.mac import oracle


@st.composite
def int_operands(draw: st.DrawFn, fmt: mp.IntFormat, max_inner: int = 12):
    m, n, k = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(0, max_inner))
    # extremes are likely: they make overflow reachable in few steps
    elements = st.one_of(
        st.integers(fmt.min_code, fmt.max_code), st.sampled_from([fmt.min_code, fmt.max_code])
    )
    a = draw(hnp.arrays(np.int64, (m, k), elements=elements))
    b = draw(hnp.arrays(np.int64, (k, n), elements=elements))
    return a, b


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), dtype=st.sampled_from([np.int8, np.int16]))
def test_int32_accumulator_equals_exact_integer_matmul(data: st.DataObject, dtype: type) -> None:
    """No overflow is possible (K * 2**30 < 2**31 for K <= 1 with int16; int8 always): exact."""
    fmt = mp.get_format(np.dtype(dtype).name)
    a, b = data.draw(int_operands(fmt, max_inner=12 if dtype is np.int8 else 1))
    y, stats = MAC(fmt, "int32").matmul(a.astype(dtype), b.astype(dtype), stats=True)
    exact = [
        [sum(int(x) * int(z) for x, z in zip(row, col, strict=True)) for col in b.T] for row in a
    ]
    np.testing.assert_array_equal(y, np.array(exact, dtype=np.float64).reshape(y.shape))
    assert stats.total == 0


ORDERS = ["sequential", "pairwise", "chunked:3", "fast"]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("notation", ["int8->int16", "int8->int12", "int4->int8", "uint4->uint8"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_wrap_is_the_exact_sum_modulo_2_bits(
    notation: str, order: str, data: st.DataObject
) -> None:
    mac = MAC.parse(notation + ("" if order == "fast" else f":{order}"))
    fmt = mac.accumulator
    a, b = data.draw(int_operands(mac.input))
    bias = data.draw(
        hnp.arrays(np.int64, (b.shape[1],), elements=st.integers(fmt.min_code, fmt.max_code))
    )
    y, stats = mac.affine(a, b, bias, stats=True)
    exact = a.astype(object) @ b.astype(object) if a.size else np.zeros(y.shape, dtype=object)
    exact = exact + bias.astype(object)
    wrapped = (exact - fmt.min_code) % 2**fmt.bits + fmt.min_code
    np.testing.assert_array_equal(y, wrapped.astype(np.float64))
    init = np.broadcast_to(bias, y.shape).tolist()
    reference_order = "sequential" if order == "fast" else order
    expected, events = oracle.int_matmul(a, b, fmt, "wrap", reference_order, init)
    np.testing.assert_array_equal(y, np.array(expected, dtype=np.float64).reshape(y.shape))
    assert stats.wraps == events["wraps"] and stats.saturations == 0


@pytest.mark.parametrize("order", ["sequential", "pairwise", "chunked:2"])
@pytest.mark.parametrize(
    "notation", ["int8->int16:saturate", "int8->int10:saturate", "int4->int6:saturate"]
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_saturate_matches_sequential_python(notation: str, order: str, data: st.DataObject) -> None:
    mac = MAC.parse(f"{notation}:{order}")
    a, b = data.draw(int_operands(mac.input))
    bias = data.draw(hnp.arrays(np.int64, (b.shape[1],), elements=st.integers(-(2**9), 2**9 - 1)))
    y, stats = mac.affine(a, b, bias, stats=True)
    init = np.broadcast_to(
        np.clip(bias, mac.accumulator.min_code, mac.accumulator.max_code), y.shape
    )
    expected, events = oracle.int_matmul(a, b, mac.accumulator, "saturate", order, init.tolist())
    np.testing.assert_array_equal(y, np.array(expected, dtype=np.float64).reshape(y.shape))
    assert stats.saturations == events["saturations"] and stats.wraps == 0


def test_784_products_of_127_squared_overflow_int16() -> None:
    """The book's layer 1 with extreme inputs: 784 * 127 * 127 = 12,645,136 >> 32,767."""
    a = np.full(784, 127, dtype=np.int8)
    exact = 784 * 127 * 127
    y, stats = MAC.parse("int8->int16").dot(a, a, stats=True)
    assert y == (exact + 2**15) % 2**16 - 2**15 == -3312
    # partial sums k * 16129 cross 32767 + j * 65536 once per wrap: floor((S + 32768) / 65536)
    assert stats.wraps == (exact + 2**15) // 2**16 == 193
    y, stats = MAC.parse("int8->int16:saturate").dot(a, a, stats=True)
    assert y == 32767
    assert stats.saturations == 784 - 2  # 16129 and 32258 fit; every later addition clamps
    y, stats = MAC.parse("int8->int32").dot(a, a, stats=True)
    assert y == exact and stats.total == 0


def test_wrap_counts_in_pairwise_order() -> None:
    a = np.full(8, 127, dtype=np.int8)
    y, stats = MAC.parse("int8->int16:pairwise").dot(a, a, stats=True)
    assert y == (8 * 16129 + 2**15) % 2**16 - 2**15 == -2040
    # level 1: four sums of 32258 fit; level 2: two sums of 64516 wrap to -1020; level 3 fits
    assert stats.wraps == 2
    expected, events = oracle.int_matmul(
        a[None, :], a[:, None], mp.get_format("int16"), "wrap", "pairwise"
    )
    assert stats.wraps == events["wraps"]


def test_inputs_are_quantized_and_counted() -> None:
    mac = MAC.parse("int8->int32")
    y, stats = mac.matmul(np.array([[300.0, 0.4, -1000.0, 2.6]]), np.ones((4, 1)), stats=True)
    assert y[0, 0] == 127 + 0 - 128 + 3
    assert stats.input_saturations == 2 and stats.input_flushes == 1


def test_fixed_point_products_keep_their_scale() -> None:
    mac = MAC(input="fixed<8,4>", accumulator="fixed<24,8>")
    a = np.array([[1.5, -0.25]])
    b = np.array([[2.0625], [3.0]])
    assert mac.matmul(a, b)[0, 0] == 1.5 * 2.0625 - 0.75


def test_integer_product_format_wraps_products() -> None:
    mac = MAC.parse("int8->int8->int32")  # products wrap to int8 before accumulation
    y, stats = mac.dot(
        np.array([16, 3], dtype=np.int8), np.array([16, 3], dtype=np.int8), stats=True
    )
    assert y == 0 + 9  # 256 wraps to 0
    assert stats.product_overflows == 1


@pytest.mark.parametrize("shape", [(1, 70000), (3, 1100)])
def test_long_dot_products_chunk_the_blas_sums(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(-128, 128, shape).astype(np.int8)
    b = rng.integers(-128, 128, (shape[1], 2)).astype(np.int8)
    exact = a.astype(np.int64) @ b.astype(np.int64)
    np.testing.assert_array_equal(MAC.parse("int8->int32").matmul(a, b), exact)
    wrapped = (exact + 2**15) % 2**16 - 2**15
    y, stats = MAC.parse("int8->int16").matmul(a, b, stats=True)
    np.testing.assert_array_equal(y, wrapped)
    y_seq, stats_seq = MAC.parse("int8->int16:sequential").matmul(a, b, stats=True)
    np.testing.assert_array_equal(y_seq, wrapped)
    assert stats == stats_seq
