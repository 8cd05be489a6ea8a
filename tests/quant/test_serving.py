"""Serving quantized models: integer-only inference against a Python-integer reference, the
fake-quant path beside it, MAC overflow, and the serving API's errors."""

from __future__ import annotations

import numpy as np
import pytest

from mixprec.nn import Events
from mixprec.nn.model import MLP
from mixprec.quant import SCHEMES, quantize, trace
from mixprec.quant.requant import requantize
from tests.quant.test_requant import ref_multiply, ref_quantize_multiplier

INT8_SCHEMES = [name for name, s in SCHEMES.items() if s.is_integer]


def small_model(seed: int = 0) -> tuple[MLP, np.ndarray]:
    """A 12-9-7-5 MLP with biases everywhere (random, untrained) and 64 inputs."""
    rng = np.random.default_rng(seed)
    model = MLP((12, 9, 7, 5), output_bias=True, seed=seed)
    for b in model.biases:
        assert b is not None
        b[:] = rng.normal(0, 0.3, b.shape)
    x = (rng.standard_normal((64, 12)) + 0.4).astype(np.float32)
    return model, x


# -- integer-only inference against plain Python integers -----------------------------------------
def reference_forward(q, x: np.ndarray) -> tuple[list[list[list[int]]], list[list[int]]]:
    """Each layer's input codes and the last accumulator, image by image, in Python integers.

    Only the input quantization is float (float32 division, ties to even, as ONNX
    QuantizeLinear); everything after it is integer arithmetic: the exact sum, the int32 bias,
    and the gemmlowp multiplier (from the float64 real multiplier, rounded exactly).
    """
    codes_by_layer: list[list[list[int]]] = [[] for _ in range(q.n_layers)]
    accumulators = []
    lo, hi = int(q.scheme.activations.min), int(q.scheme.activations.max)  # int8 or int4 codes
    for row in x:
        s0, z0 = np.float32(q.input_scales_[0]), int(q.input_zero_points_[0])
        codes = [min(max(int(np.rint(np.float32(v) / s0)) + z0, lo), hi) for v in row]
        for i in range(q.n_layers):
            codes_by_layer[i].append(codes)
            w = q.weight_codes(i).astype(int).tolist()
            z = int(q.input_zero_points_[i])
            bias = [0] * len(w[0]) if q.biases_[i] is None else q.biases_[i].tolist()
            acc = [
                sum((c - z) * w[k][j] for k, c in enumerate(codes)) + bias[j]
                for j in range(len(w[0]))
            ]
            if i == q.n_layers - 1:
                accumulators.append(acc)
                break
            s_w = np.broadcast_to(q.weight_scales_[i], (len(acc),))
            s_x, s_y = float(q.input_scales_[i]), float(q.input_scales_[i + 1])
            z_y = int(q.input_zero_points_[i + 1])
            codes = []
            for j, a in enumerate(acc):
                m0, shift = ref_quantize_multiplier(s_x * float(s_w[j]) / s_y)
                codes.append(min(max(z_y + ref_multiply(a, m0, shift), z_y, lo), hi))
    return codes_by_layer, accumulators


@pytest.mark.parametrize("scheme", INT8_SCHEMES)
def test_integer_path_equals_python_integers(scheme: str) -> None:
    model, x = small_model()
    q = quantize(model, x, scheme=scheme)
    result = trace(q, x)
    codes, accumulators = reference_forward(q, x)
    for i in range(q.n_layers):
        assert result.inputs[i].dtype == np.int8
        assert result.inputs[i].tolist() == codes[i], f"layer {i + 1} input codes"
    assert result.accumulator is not None
    assert result.accumulator.tolist() == accumulators
    out_scale = np.float32(q.input_scales_[-1]) * q.weight_scales_[-1].astype(np.float32)
    expected = np.array(accumulators, np.int64).astype(np.float32) * out_scale
    np.testing.assert_array_equal(q.predict(x), expected)


def test_multipliers_and_folded_bias() -> None:
    model, x = small_model(1)
    q = quantize(model, x, scheme="int8-per-channel-asym")
    layer = q.integer_layers()[1]
    s_w = q.weight_scales_[1].astype(np.float64)
    real = np.float64(q.input_scales_[1]) * s_w / np.float64(q.input_scales_[2])
    assert [ref_quantize_multiplier(m) for m in real] == list(
        zip(layer.m0.tolist(), layer.shift.tolist(), strict=True)
    )
    z_x = int(q.input_zero_points_[1])
    assert (
        layer.bias.tolist()
        == (
            q.biases_[1].astype(np.int64) - z_x * q.weights_[1].astype(np.int64).sum(axis=0)
        ).tolist()
    )


# -- fake quant beside the integer path ------------------------------------------------------------
@pytest.mark.parametrize("scheme", INT8_SCHEMES)
def test_fake_quant_differs_only_at_rounding_ties(scheme: str) -> None:
    """Given the same input codes, a hidden layer's output codes from the integer path and
    from float32 fake quant differ by at most one, and only where the exact value lies near a
    half-integer: within ``0.5 * 2**-right + 0.001`` of it, where ``right`` is the channel's
    right shift (gemmlowp rounds ``acc * M0 / 2**31`` to an integer before the rounding
    division by ``2**right``: a first rounding of up to half a unit of ``2**-right`` output
    codes), plus float32 sums. int8 weights have ``right >= 7`` (window < 0.005, under 1 % of
    the codes differ); int4 weights, 16x coarser scales, ``right = 3 or 4`` (window 0.0635,
    under 8 %).
    The logits differ by float32 rounding only."""
    model, _ = small_model(2)
    x = (np.random.default_rng(3).standard_normal((4000, 12)) + 0.4).astype(np.float32)
    q = quantize(model, x[:500], scheme=scheme)
    integer, fake = trace(q, x, path="integer"), trace(q, x, path="fake_quant")
    np.testing.assert_array_equal(integer.inputs[0], fake.inputs[0])  # same input quantizer
    weights = q.dequantized_weights()
    lo, hi = int(q.scheme.activations.min), int(q.scheme.activations.max)
    differing = total = 0
    for i in range(q.n_layers - 1):
        codes, z_x = integer.inputs[i], int(q.input_zero_points_[i])
        s_x, s_y = q.input_scales_[i], q.input_scales_[i + 1]
        z_y = int(q.input_zero_points_[i + 1])
        # the fake-quant layer on the integer path's input codes
        bias = q.biases_[i].astype(np.float32) * (np.float32(s_x) * q.weight_scales_[i])
        y = ((codes.astype(np.float32) - z_x) * s_x) @ weights[i] + bias
        fake_codes = np.clip(np.rint(np.maximum(y, 0) / s_y) + z_y, lo, hi)
        # the exact value in units of the output scale
        acc = (codes.astype(np.int64) - z_x) @ q.weight_codes(i).astype(np.int64) + q.biases_[i]
        exact = acc * (np.float64(s_x) * q.weight_scales_[i].astype(np.float64) / np.float64(s_y))
        integer_codes = integer.inputs[i + 1].astype(np.int64)
        diff = integer_codes != fake_codes
        assert np.abs(integer_codes - fake_codes).max() <= 1
        distance_to_tie = np.abs(exact - np.floor(exact) - 0.5)
        right = np.maximum(-q.integer_layers()[i].shift, 0)
        window = np.broadcast_to(0.5 * 2.0**-right + 0.001, exact.shape)
        assert np.all(distance_to_tie[diff] < window[diff])
        differing += int(diff.sum())
        total += diff.size
    assert differing < total * (1 if q.scheme.weights.name == "int8" else 8) / 100
    # end to end, the two paths agree on almost every prediction at int8; int4 activations
    # have 8 or 16 levels, so a code that moves by one moves this untrained model's close logits
    agree = np.mean(integer.logits.argmax(axis=1) == fake.logits.argmax(axis=1))
    assert agree >= (0.99 if q.scheme.activations.name == "int8" else 0.8)


def test_gemmlowp_and_float_requantization_differ_rarely() -> None:
    model, _ = small_model(4)
    x = (np.random.default_rng(5).standard_normal((2000, 12)) + 0.4).astype(np.float32)
    q = quantize(model, x[:500], scheme="int8-per-channel")
    a = trace(q, x, requantization="gemmlowp").inputs[1].astype(int)
    b = trace(q, x, requantization="float").inputs[1].astype(int)
    assert np.abs(a - b).max() <= 1 and np.mean(a != b) < 0.02


# -- batches ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_results_do_not_depend_on_the_batch(scheme: str) -> None:
    model, x = small_model(6)
    q = quantize(model, x, scheme=scheme)
    whole = q.predict(x, batch_size=1000)
    if q.scheme.is_integer:  # static scales, exact integer sums: bit for bit
        np.testing.assert_array_equal(q.predict(x, batch_size=7), whole)
        np.testing.assert_array_equal(q.predict(x[3]), whole[3:4])
    else:  # float32 BLAS may sum a batch of 1 in another order
        np.testing.assert_allclose(q.predict(x, batch_size=7), whole, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(q.predict(x[3]), whole[3:4], rtol=1e-5, atol=1e-6)


# -- the MAC: overflow of narrow accumulators ------------------------------------------------------
def overflowing_layer() -> tuple[MLP, np.ndarray]:
    """One 8-input layer whose int8 dot products reach 8 * 127 * 127 = 129,032 > 32,767."""
    model = MLP.from_arrays([np.ones((8, 4), np.float32)], [None])
    return model, np.ones((3, 8), np.float32)


@pytest.mark.parametrize(
    ("mac", "accumulator", "wraps", "saturations"),
    [
        ("int8->int32", 129_032, 0, 0),
        ("int8->int16", 129_032 - 2**17, None, 0),  # wrapped modulo 2**16 (twice)
        ("int8->int16:saturate", 32_767, 0, 6 * 4 * 3),  # additions 3..8 of every output clamp
    ],
)
def test_narrow_accumulators_wrap_or_saturate(
    mac: str, accumulator: int, wraps: int | None, saturations: int
) -> None:
    model, x = overflowing_layer()
    q = quantize(model, x, scheme="int8-per-tensor")
    assert q.weights_[0].min() == 127 and int(q.input_zero_points_[0]) == 0
    result = trace(q, x, mac=mac)
    assert result.accumulator is not None
    assert np.all(result.accumulator == accumulator)
    events = q.predict(x, mac=mac, stats=True)[1].as_dict()
    assert events["layer1.forward"]["saturations"] == saturations
    if wraps is None:
        assert events["forward"]["wraps"] > 0
    else:
        assert events["forward"]["wraps"] == wraps


def test_int16_accumulators_change_a_real_model() -> None:
    """A layer of 784 inputs (the book's first layer) overflows int16 on ordinary data."""
    rng = np.random.default_rng(0)
    model = MLP((784, 16, 10), seed=0)
    x = np.abs(rng.standard_normal((50, 784))).astype(np.float32)
    q = quantize(model, x, scheme="int8-per-channel")
    wide = q.predict(x)
    for mac, event in (("int8->int16", "wraps"), ("int8->int16:saturate", "saturations")):
        narrow, events = q.predict(x, mac=mac, stats=True)
        assert events.as_dict()["layer1.forward"][event] > 0
        assert not np.array_equal(narrow, wide)


# -- fp8 and weight-only paths ---------------------------------------------------------------------
def test_fp8_path_counts_its_mac_events() -> None:
    model, x = small_model(7)
    q = quantize(model, x, scheme="fp8_e4m3")
    logits, counted = q.predict(x, stats=True)
    assert isinstance(counted, Events)
    events = counted.as_dict()
    assert set(events) == {"layer1.forward", "layer2.forward", "layer3.forward", "forward"}
    assert events["forward"]["input_saturations"] == 0  # operands arrive as fp8 storage
    assert events["forward"]["overflows"] == 0
    # scales map each tensor's largest magnitude to 448, so products reach 448**2 > 65504:
    # an fp16 accumulator overflows
    fp16, counted = q.predict(x, mac="fp8_e4m3->fp16", stats=True)
    assert counted.as_dict()["layer1.forward"]["overflows"] > 0 and np.isinf(fp16).any()


# -- errors ----------------------------------------------------------------------------------------
def test_serving_errors() -> None:
    model, x = small_model(8)
    int8 = quantize(model, x, scheme="int8-per-tensor")
    fp8 = quantize(model, x, scheme="fp8_e5m2")
    int4 = quantize(model, x, scheme="int4-weight-only")
    with pytest.raises(ValueError, match="no integer-only path"):
        fp8.predict(x, path="integer")
    with pytest.raises(ValueError, match="'integer', 'fake_quant'"):
        int8.predict(x, path="simulated")
    with pytest.raises(ValueError, match="integer accumulator"):
        int8.predict(x, mac="fp16->fp32")
    with pytest.raises(ValueError, match="takes no MAC"):
        int4.predict(x, mac="fp32->fp32")
    with pytest.raises(ValueError, match=r"shape \(n, 12\)"):
        int8.predict(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="batch_size"):
        int8.predict(x, batch_size=0)
    with pytest.raises(ValueError, match="'gemmlowp', 'float'"):
        int8.predict(x, requantization="tflite")


def test_requantize_is_what_the_path_uses() -> None:
    model, x = small_model(9)
    q = quantize(model, x, scheme="int8-per-tensor")
    layer = q.integer_layers()[0]
    codes = trace(q, x).inputs[0]
    acc = codes.astype(np.int64) @ layer.weights.astype(np.int64) + layer.bias
    expected = requantize(acc, layer.m0, layer.shift, layer.out_zero_point, lo=0)
    np.testing.assert_array_equal(trace(q, x).inputs[1], expected)
