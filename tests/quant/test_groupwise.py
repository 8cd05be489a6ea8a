"""Group-wise weight scales: one scale per (group of input rows, output channel)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from mixprec.quant.groupwise import (
    dequantize_groupwise,
    expand_groups,
    group_scales,
    n_groups,
    quantize_groupwise,
)


def test_each_group_gets_its_own_scale() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((10, 3)).astype(np.float32)  # groups of 4: rows 0-3, 4-7, 8-9
    scales = group_scales(w, "int4", 4)
    assert scales.shape == (3, 3) and scales.dtype == np.float32
    for g, rows in enumerate((slice(0, 4), slice(4, 8), slice(8, 10))):
        for j in range(3):
            assert scales[g, j] == np.float32(np.abs(w[rows, j]).max() / np.float32(7))
    codes = quantize_groupwise(w, scales, "int4", 4)
    assert codes.dtype == np.int8 and np.abs(codes).max() == 7
    for g, rows in enumerate((slice(0, 4), slice(4, 8), slice(8, 10))):
        block = w[rows] / scales[g]
        assert_array_equal(codes[rows], np.rint(block))  # inside each group nothing clips
        assert_array_equal(np.abs(codes[rows]).max(axis=0), [7, 7, 7])  # each group's max hits 7
    back = dequantize_groupwise(codes, scales, 4)
    assert_array_equal(back, codes.astype(np.float32) * expand_groups(scales, 10, 4))
    assert np.all(np.abs(back - w) <= expand_groups(scales, 10, 4) / 2 * (1 + 1e-6))


def test_an_outlier_coarsens_only_its_group() -> None:
    w = np.full((8, 1), 0.1, np.float32)
    w[0, 0] = 70.0
    per_group = dequantize_groupwise(
        quantize_groupwise(w, s := group_scales(w, "int4", 4), "int4", 4), s, 4
    )
    assert_array_equal(per_group[4:, 0], np.float32(0.1))  # second group untouched by the outlier
    assert_array_equal(per_group[1:4, 0], 0.0)  # first group: 0.1 / 10 rounds to 0


def test_zero_group_has_scale_one_and_errors() -> None:
    w = np.zeros((4, 2), np.float32)
    w[0, 1] = 6.0
    assert_array_equal(group_scales(w, "int3", 2), [[1.0, 2.0], [1.0, 1.0]])
    assert n_groups(784, 32) == 25 and n_groups(784, 128) == 7
    with pytest.raises(ValueError, match="group_size"):
        n_groups(10, 0)
    with pytest.raises(ValueError, match="integer format"):
        group_scales(w, "fp8_e4m3", 2)
    with pytest.raises(ValueError, match="groups"):
        expand_groups(np.ones((3, 2)), 4, 2)


@pytest.mark.parametrize("group", [32, 128, 500])
def test_group_wise_scheme_quantizes_by_groups(group: int) -> None:
    """PTQ with ``int4-weight-only:group=N``: each layer's scales are the groups' max-abs
    scales (784 = 24 * 32 + 16: a shorter last group), the codes round each weight on its
    group's scale, and serving multiplies the float32 inputs by those weights."""
    from mixprec.nn.model import MLP
    from mixprec.quant import quantize

    rng = np.random.default_rng(group)
    model = MLP((784, 40, 10), seed=1)
    x = rng.standard_normal((16, 784)).astype(np.float32)
    q = quantize(model, x, scheme=f"int4-weight-only:group={group}")
    for i, w in enumerate(model.weights):
        scales = group_scales(w, "int4", group)
        assert q.weight_scales_[i].shape == (-(-w.shape[0] // group), w.shape[1])
        np.testing.assert_array_equal(q.weight_scales_[i], scales)
        codes = q.weight_codes(i)
        np.testing.assert_array_equal(codes, quantize_groupwise(w, scales, "int4", group))
        np.testing.assert_array_equal(
            q.dequantized_weights()[i], dequantize_groupwise(codes, scales, group)
        )
    h = np.maximum(x @ q.dequantized_weights()[0] + model.biases[0], 0)
    np.testing.assert_allclose(q.predict(x), h @ q.dequantized_weights()[1], rtol=1e-5, atol=1e-6)
