"""One layer's weight codes: RTN or GPTQ, per channel or group-wise, within an accumulator."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from mixprec.quant.a2q import budget, fits, spent
from mixprec.quant.groupwise import group_scales
from mixprec.quant.weights import quantize_weights


def layer(seed: int = 0, rows: int = 40, cols: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((300, rows)) @ rng.standard_normal((rows, rows))
    return x.astype(np.float32), rng.standard_normal((rows, cols)).astype(np.float32)


def test_rtn_per_channel_and_group() -> None:
    _, w = layer()
    q = quantize_weights(w, "int4")
    s = (np.abs(w).max(axis=0) / np.float32(7)).astype(np.float32)
    assert_array_equal(q.scales, s)
    assert_array_equal(q.codes, np.rint(w / s))
    g = quantize_weights(w, "int3", group_size=16)
    assert_array_equal(g.scales, group_scales(w, "int3", 16))
    assert g.scales.shape == (3, 6) and np.abs(g.codes).max() == 3
    assert np.all(np.abs(g.dequantize() - w) <= np.repeat(g.scales, 16, 0)[:40] / 2 + 1e-6)


@pytest.mark.parametrize("group_size", [None, 8])
def test_gptq_lowers_the_output_error(group_size: int | None) -> None:
    x, w = layer(1)
    rtn = quantize_weights(w, "int3", group_size=group_size)
    opt = quantize_weights(w, "int3", method="gptq", inputs=x, group_size=group_size)
    assert_array_equal(opt.scales, rtn.scales)
    err = [np.sum((x @ (w - q.dequantize())) ** 2) for q in (rtn, opt)]
    assert err[1] < err[0]


@pytest.mark.parametrize("method", ["rtn", "gptq"])
@pytest.mark.parametrize("bound", ["a2q", "a2q+"])
def test_accumulator_bound_holds_for_both_methods(method: str, bound: str) -> None:
    x, w = layer(2, rows=200)
    q = quantize_weights(
        w, "int8", method=method, inputs=x, accumulator=14, input_range=(0, 127), bound=bound
    )
    assert np.all(spent(q.codes, bound) <= budget(14, 0, 127, bound))
    assert np.all(fits(q.codes, 14, 0, 127))
    plain = quantize_weights(w, "int8")
    assert not np.all(fits(plain.codes, 14, 0, 127))  # without the bound it would overflow


def test_errors() -> None:
    x, w = layer()
    with pytest.raises(ValueError, match="unknown method"):
        quantize_weights(w, "int4", method="awq")
    with pytest.raises(ValueError, match="inputs"):
        quantize_weights(w, "int4", method="gptq")
    with pytest.raises(ValueError, match="per-channel"):
        quantize_weights(w, "int8", group_size=32, accumulator=16)
    with pytest.raises(ValueError, match="int2..int8"):
        quantize_weights(w, "int16")
