"""``matmul(a, b, c=None)``: C as the initial accumulator value; numpy batch broadcasting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mixprec.mac import MAC
from tests.mac import oracle
from tests.mac.strategies import assert_same, operands, values


@pytest.mark.parametrize(
    "notation",
    [
        "fp16->fp16", "fp16->fp16:pairwise", "bf16->bf16:chunked:2", "fp8_e4m3->fp16:toward_zero",
        "fp16->fp32:sequential", "fp8_e5m2->bf16:chunked:3:up",
    ],
)  # fmt: skip
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_c_of_full_shape_against_the_oracle(notation: str, data: st.DataObject) -> None:
    mac = MAC.parse(notation)
    a, b = data.draw(operands(mac.input))
    c = data.draw(values(mac.accumulator, (a.shape[0], b.shape[1])))
    rows, _ = oracle.float_matmul(a, b, mac, c.tolist())
    expected = np.array(rows, dtype=np.float64).reshape(a.shape[0], b.shape[1])
    assert_same(mac.matmul(a, b, c=c), expected, notation)


def test_c_is_rounded_to_the_accumulator_first() -> None:
    # 1 + 2**-11 is not an fp16: c rounds to 1 (nearest even) before any product enters
    mac = MAC.parse("fp16->fp16")
    y = mac.matmul(np.zeros((1, 1)), np.zeros((1, 1)), c=1 + 2.0**-11)
    assert y.item() == 1.0
    # int accumulator: c saturates into int16, then the products are added
    y = MAC.parse("int8->int16:saturate").matmul(np.ones((1, 2)), np.ones((2, 1)), c=10**6)
    assert y.item() == 32767


def test_c_enters_before_the_first_product_sequentially() -> None:
    # fp16: 2048 + 1 + 1 = 2048 (each 1 is swamped); 1 + 1 + 2048 = 2050
    mac = MAC.parse("fp16->fp16")
    ones = np.ones((1, 2))
    assert mac.matmul(ones, np.ones((2, 1)), c=2048.0).item() == 2048.0
    two = mac.matmul(ones, np.ones((2, 1))).item()
    assert mac.matmul(np.array([[two]]), np.ones((1, 1)), c=2048.0).item() == 2050.0


def test_int_c_against_exact_integers() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(-128, 128, (3, 5)).astype(np.int8)
    b = rng.integers(-128, 128, (5, 4)).astype(np.int8)
    c = rng.integers(-(2**20), 2**20, (3, 4))
    y = MAC.parse("int8->int32").matmul(a, b, c=c)
    assert y.tolist() == (a.astype(object) @ b.astype(object) + c).tolist()


@pytest.mark.parametrize("notation", ["int8->int32", "fp16->fp16", "bf16->fp32", "fp16->fp32"])
def test_batch_axes_broadcast_as_numpy_matmul(notation: str) -> None:
    mac = MAC.parse(notation)
    rng = np.random.default_rng(7)
    scale = 4 if notation.startswith("int") else 1
    a = np.round(rng.standard_normal((2, 1, 3, 6)) * scale)
    b = np.round(rng.standard_normal((4, 6, 5)) * scale)
    c = np.round(rng.standard_normal(5) * scale)
    y = mac.matmul(a, b, c=c)
    assert y.shape == np.matmul(a, b).shape == (2, 4, 3, 5)
    for i in range(2):
        for j in range(4):
            np.testing.assert_array_equal(y[i, j], mac.matmul(a[i, 0], b[j], c=c))
    # 1-D operands against a batch
    v = np.round(rng.standard_normal(6) * scale)
    assert mac.matmul(v, b).shape == np.matmul(v, b).shape == (4, 5)
    assert mac.matmul(a, v).shape == np.matmul(a, v).shape == (2, 1, 3)
    np.testing.assert_array_equal(mac.matmul(a, v)[1, 0], mac.matmul(a[1, 0], v))


def test_int_batch_is_exact() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (3, 2, 4)).astype(np.int8)
    b = rng.integers(-128, 128, (3, 4, 2)).astype(np.int8)
    y = MAC.parse("int8->int32").matmul(a, b)
    np.testing.assert_array_equal(y, np.matmul(a.astype(np.int64), b.astype(np.int64)))


def test_shape_errors_name_the_shapes() -> None:
    mac = MAC.parse("fp16->fp32")
    with pytest.raises(ValueError, match="batch axes"):
        mac.matmul(np.zeros((2, 3, 4)), np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="does not broadcast"):
        mac.matmul(np.zeros((2, 3)), np.zeros((3, 4)), c=np.zeros(3))
    from mixprec.mac.matmul import matmul

    with pytest.raises(ValueError, match="once"):
        matmul(mac, np.zeros((1, 1)), np.zeros((1, 1)), c=0, bias=0)
