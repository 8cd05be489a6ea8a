"""ONNX export, run in ONNX Runtime: fp32 within float tolerance, int8 bit for bit."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from mixprec.nn.model import MLP
from mixprec.quant import SCHEMES, QuantizedMLP, quantize

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from mixprec.quant.onnx_export import export_onnx, onnx_predict, to_onnx  # noqa: E402

INT8_SCHEMES = [name for name, s in SCHEMES.items() if s.is_integer]


def model_and_data(output_bias: bool = False, seed: int = 0) -> tuple[MLP, np.ndarray]:
    rng = np.random.default_rng(seed)
    model = MLP((30, 16, 8, 5), output_bias=output_bias, seed=seed)
    for b in model.biases:
        if b is not None:
            b[:] = rng.normal(0, 0.2, b.shape)
    x = (rng.standard_normal((3000, 30)) + 0.5).astype(np.float32)
    return model, x


@pytest.mark.parametrize("output_bias", [False, True], ids=["book", "output-bias"])
def test_fp32_export_matches_within_float_tolerance(output_bias: bool) -> None:
    model, x = model_and_data(output_bias)
    np.testing.assert_allclose(onnx_predict(model, x), model.forward(x), rtol=1e-5, atol=1e-5)
    ops = [node.op_type for node in to_onnx(model).graph.node]
    assert ops.count("MatMul") == 3 and ops.count("Relu") == 2


@pytest.mark.parametrize("optimize", [True, False], ids=["ort-optimized", "ort-plain"])
@pytest.mark.parametrize("requantization", ["gemmlowp", "float"])
@pytest.mark.parametrize("scheme", INT8_SCHEMES)
def test_int8_export_is_bit_identical(scheme: str, requantization: str, optimize: bool) -> None:
    """ONNX Runtime's outputs equal mixprec's integer-only path bit for bit, for either
    requantization, with ONNX Runtime's graph optimizations on or off."""
    model, x = model_and_data(output_bias=True)
    q = quantize(model, x[:500], scheme=scheme)
    proto = to_onnx(q, requantization)
    runtime = onnx_predict(proto, x, optimize=optimize)
    np.testing.assert_array_equal(runtime, q.predict(x, requantization=requantization))
    ops = {node.op_type for node in proto.graph.node}
    assert {"QuantizeLinear", "MatMulInteger"} <= ops and "MatMul" not in ops


def test_gemmlowp_export_differs_from_float_runtime_requantization() -> None:
    """Why two exports: ONNX Runtime's own float requantization (ties to even, float32 product)
    is not gemmlowp's (fixed-point multiplier, ties away from zero, two roundings). On enough
    images some logits differ; each export matches its own mixprec option exactly."""
    model, x = model_and_data(seed=3)
    q = quantize(model, x[:500], scheme="int8-per-channel")
    gemmlowp = onnx_predict(to_onnx(q, "gemmlowp"), x)
    floating = onnx_predict(to_onnx(q, "float"), x)
    differing = np.any(gemmlowp != floating, axis=1)
    assert 0 < differing.mean() < 0.2
    np.testing.assert_array_equal(gemmlowp, q.predict(x, requantization="gemmlowp"))
    np.testing.assert_array_equal(floating, q.predict(x, requantization="float"))


def test_left_shift_multipliers_export_exactly() -> None:
    """A requantization multiplier above 1 (a left shift, saturating to int32) is exact too."""
    model, x = model_and_data(seed=4)
    q = quantize(model, x[:500], scheme="int8-per-tensor")
    scales = list(q.learned_.input_scales)
    scales[1] = np.float32(scales[1] / 300)  # M = s_x s_w / s_y ~ 1.8
    learned = dataclasses.replace(q.learned_, input_scales=tuple(scales))
    q = QuantizedMLP.from_learned(learned, q.scheme)

    assert q.integer_layers()[0].shift.max() > 0
    np.testing.assert_array_equal(onnx_predict(to_onnx(q), x), q.predict(x))


def test_export_writes_a_valid_file(tmp_path: Path) -> None:
    model, x = model_and_data()
    q = quantize(model, x[:200], scheme="int8-per-channel-asym")
    path = export_onnx(q, tmp_path / "q.onnx")
    assert [p.name for p in tmp_path.iterdir()] == ["q.onnx"]
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version == 17
    assert [i.name for i in proto.graph.input] == ["images"]
    np.testing.assert_array_equal(onnx_predict(path, x[:1]), q.predict(x[:1]))


@pytest.mark.parametrize("scheme", ["fp8_e4m3", "int4-weight-only"])
def test_non_int8_schemes_are_not_exported(scheme: str) -> None:
    model, x = model_and_data()
    with pytest.raises(ValueError, match="int8 schemes"):
        to_onnx(quantize(model, x[:100], scheme=scheme))
    with pytest.raises(TypeError, match="MLP or a QuantizedMLP"):
        to_onnx(object())


def test_missing_onnx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install mixprec\[onnx\]"):
        to_onnx(MLP((4, 2)))


@pytest.mark.parametrize("requantization", ["gemmlowp", "float"])
def test_uint8_activations_are_exact_with_7_bit_weights(requantization: str) -> None:
    """uint8 codes (int8 + 128) give the same products; with weights in -63..63 no pair of
    products can saturate ONNX Runtime's int16 intermediate sums (x86 without VNNI), so the
    export is bit-identical on every CPU."""
    model, x = model_and_data(output_bias=True, seed=5)
    q = quantize(model, x[:500], scheme="int8-per-channel-asym")
    weights = tuple((w // 2).astype(np.int8) for w in q.weights_)  # 7-bit weights
    q = QuantizedMLP.from_learned(dataclasses.replace(q.learned_, weights=weights), q.scheme)
    proto = to_onnx(q, requantization, activations="uint8")
    assert proto.graph.node[0].op_type == "QuantizeLinear"
    np.testing.assert_array_equal(
        onnx_predict(proto, x), q.predict(x, requantization=requantization)
    )
    with pytest.raises(ValueError, match="'int8' or 'uint8'"):
        to_onnx(q, activations="int4")
