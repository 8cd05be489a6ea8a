"""Numerics: role rounding equals quantize, events are counted, scales and the BLAS rule."""

from __future__ import annotations

import numpy as np
import pytest

from mixprec.formats import get_format, quantize
from mixprec.mac import MAC
from mixprec.nn import Events, Policy, tensor_scale
from mixprec.nn.compiled import Numerics, Rounder, _contains, runs_as_blas


def edge_values(fmt: str) -> np.ndarray:
    f = get_format(fmt)
    rng = np.random.default_rng(0)
    tiny, normal = f.smallest_subnormal, f.smallest_normal
    specials = [0.0, -0.0, np.inf, -np.inf, np.nan, f.max, -f.max, f.max * 1.001, 3e38,
                tiny, tiny / 2, tiny * 0.75, normal, normal * (1 - 2**-12), 1 + 2**-11,
                1 + 3 * 2**-11]  # fmt: skip
    wide = rng.standard_normal(4000) * np.exp2(rng.integers(-30, 20, 4000))
    return np.concatenate([specials, -np.array(specials), wide]).astype(np.float32)


@pytest.mark.parametrize("fmt", ["bf16", "fp16", "fp8_e4m3", "fp8_e5m2"])
@pytest.mark.parametrize("overflow", ["saturate", "inf"])
def test_rounder_equals_quantize(fmt: str, overflow: str) -> None:
    """The cast route (bf16, fp16) and quantize give the same bits, whatever the range."""
    x = edge_values(fmt)
    for sample in (x, x[np.isfinite(x) & (np.abs(x) <= get_format(fmt).max)]):
        got = Rounder(get_format(fmt), "weights", overflow, False).scaled(sample).values
        expected = quantize(sample, fmt, overflow=overflow)
        assert got.dtype == np.float32
        assert np.array_equal(got, expected, equal_nan=True)
        numbers = ~np.isnan(expected)
        assert np.array_equal(np.signbit(got[numbers]), np.signbit(expected[numbers]))  # -0


def test_rounding_events_are_counted() -> None:
    events = Events()
    x = np.array([1e-9, -1e-9, 0.0, 1.0, 70000.0, -1e6, np.inf, np.nan], np.float32)
    Rounder(get_format("fp16"), "activations", "saturate", False, events).scaled(x, 2)
    Rounder(get_format("fp16"), "gradients", "inf", False, events).scaled(x, 3)
    Rounder(get_format("fp16"), "weights", "saturate", False, events).scaled(np.ones(3, np.float32))
    d = events.as_dict()
    assert d["layer2.activations"] == {"saturations": 2, "overflows": 0, "flushes": 2}
    assert d["layer3.gradients"] == {"saturations": 0, "overflows": 2, "flushes": 2}
    assert d["layer0.weights"] == {"saturations": 0, "overflows": 0, "flushes": 0}
    assert d["activations"]["flushes"] == 2


def test_tensor_scale() -> None:
    x = np.array([0.3, -5.0], np.float32)
    s = tensor_scale(x, "fp8_e4m3")
    assert s == 64.0 and 5 * s <= 448 < 5 * s * 2  # the largest power of two that fits
    assert tensor_scale(x, "int8") == pytest.approx(127 / 5)
    assert tensor_scale(np.zeros(3), "fp8_e4m3") == 1.0
    assert tensor_scale(np.array([np.inf]), "fp8_e4m3") == 1.0
    assert tensor_scale(np.array([1e-30]), "fp8_e5m2") == 2.0**115  # 57344e30 = 1.35 * 2**115


def test_format_containment_and_the_blas_rule() -> None:
    f = get_format
    assert _contains(f("fp16"), f("fp8_e4m3")) and _contains(f("fp16"), f("fp8_e5m2"))
    assert _contains(f("fp32"), f("bf16")) and not _contains(f("fp16"), f("bf16"))
    assert not _contains(f("fp8_e4m3"), f("fp8_e5m2")) and not _contains(f("bf16"), f("fp16"))
    assert runs_as_blas(MAC.parse("fp16->fp32")) and runs_as_blas(MAC.parse("fp32->fp32"))
    assert not runs_as_blas(MAC.parse("fp16->fp32:sequential"))
    assert not runs_as_blas(MAC.parse("fp16->fp32:saturate"))
    assert not runs_as_blas(MAC.parse("fp16->fp16"))
    assert not runs_as_blas(MAC.parse("int8->int32"))
    assert not runs_as_blas(MAC(input="fp16", accumulator="fp32", product="bf16"))
    # operands wider than the MAC's input go through the MAC, which rounds them
    numerics = Numerics(Policy(activations="bf16", forward_mac="fp8_e4m3->fp32"))
    assert not numerics._blas["forward"] and numerics._blas["weight_grad"]
