"""A PTQ scheme per layer: the string form, overrides that really apply, serving, the file, cost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixprec.cli import main
from mixprec.data import Dataset
from mixprec.nn import MLP
from mixprec.nn.cost import cost
from mixprec.quant import SCHEMES, LayeredQuantizedMLP, LayerScheme, load, quantize, save
from mixprec.quant.layered import parse_scheme
from mixprec.quant.model import QuantizedMLP
from mixprec.quant.packing import unpack_int4
from mixprec.quant.schemes import Scheme
from mixprec.quant.serving import quantize_input

SIZES = (12, 7, 5, 3)
INT4_EDGES = "int4-weight-only@1=int8-per-channel@3=int8-per-channel"


def model_and_images() -> tuple[MLP, np.ndarray]:
    model = MLP(SIZES, seed=4)
    images = np.random.default_rng(1).standard_normal((60, SIZES[0])).astype(np.float32)
    return model, images


# -- the string form ---------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    base=st.sampled_from(list(SCHEMES)),
    overrides=st.dictionaries(st.integers(1, 5), st.sampled_from(list(SCHEMES)), max_size=3),
)
def test_str_round_trips(base: str, overrides: dict[int, str]) -> None:
    s = LayerScheme(base, overrides)
    text = str(s)
    assert LayerScheme.parse(text) == s and str(LayerScheme.parse(text)) == text
    for layer in range(1, 6):
        assert s.scheme(layer) == Scheme.parse(overrides.get(layer, base))


def test_canonical_form_and_parse_scheme() -> None:
    s = LayerScheme.parse(
        " INT4_weight_only@3=int8_per_channel@1=Int8-Per-Channel@2=int4-weight-only"
    )
    assert str(s) == INT4_EDGES
    assert parse_scheme("int8-per-channel@2=int8-per-channel") == SCHEMES["int8-per-channel"]
    assert isinstance(parse_scheme(INT4_EDGES), LayerScheme)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("int9-per-channel", "unknown quantization scheme 'int9-per-channel'"),
        ("int8-per-channel@0=fp8_e4m3", "layers count from 1"),
        ("int8-per-channel@x=fp8_e4m3", "is not LAYER=ENTRY"),
        ("int8-per-channel@2=fp8_e4m3@2=fp8_e5m2", "layer 2 is overridden twice"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LayerScheme.parse(text)


def test_an_override_beyond_the_model_is_refused() -> None:
    model, images = model_and_images()
    with pytest.raises(ValueError, match="layer 4 is overridden but the model has 3 layers"):
        quantize(model, images, "int8-per-channel@4=fp8_e4m3")


# -- overrides really apply --------------------------------------------------------------------


def test_each_layer_holds_its_own_schemes_arrays() -> None:
    """Layers 1 and 3: int8 codes (-127..127) with a scale per channel, int32 biases, equal to
    uniform int8-per-channel's; layer 2: int4 codes (-7..7, packed) and float32 biases, equal to
    uniform int4-weight-only's. Calibration observes the float model, so nothing else may differ."""
    model, images = model_and_images()
    q = quantize(model, images, INT4_EDGES)
    assert isinstance(q, LayeredQuantizedMLP)
    int8 = quantize(model, images, "int8-per-channel")
    int4 = quantize(model, images, "int4-weight-only")
    for i, reference in enumerate([int8, int4, int8]):
        layer = q.layers_[i]
        assert layer.scheme == reference.scheme
        for name in ("weights_", "weight_scales_", "biases_"):
            ours, theirs = getattr(layer, name)[0], getattr(reference, name)[i]
            if theirs is None:  # the softmax layer has no bias
                assert ours is None and i == 2
                continue
            assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), (i, name)
    for i in (0, 2):
        w = q.layers_[i].weights_[0]
        assert w.dtype == np.int8 and np.abs(w.astype(int)).max() <= 127
        assert q.layers_[i].weight_scales_[0].shape == (SIZES[i + 1],)
        assert q.layers_[i].input_scales_[0] == int8.input_scales_[i]
    codes = unpack_int4(q.layers_[1].weights_[0], SIZES[1])
    assert np.abs(codes.astype(int)).max() <= 7 and q.layers_[1].input_scales_ == []
    assert q.layers_[1].biases_[0].dtype == np.float32


def test_mixed_serving_is_each_layers_own_arithmetic() -> None:
    """int8 layers on the integer path (int32 accumulator dequantized by s_x * s_w), the int4
    weight-only layer in float32 on dequantized weights, ReLU between: written out by hand."""
    model, images = model_and_images()
    q = quantize(model, images, INT4_EDGES)
    assert isinstance(q, LayeredQuantizedMLP)
    h = images
    for i, layer in enumerate(q.layers_):
        w, s_w, b = layer.weights_[0], layer.weight_scales_[0], layer.biases_[0]
        if i == 1:
            y = h @ (unpack_int4(w, SIZES[1]).astype(np.float32) * s_w) + b
        else:
            s_x, z_x = layer.input_scales_[0], layer.input_zero_points_[0]
            codes = quantize_input(h, s_x, z_x).astype(np.int64)
            acc = (codes - int(z_x)) @ w.astype(np.int64) + (0 if b is None else b.astype(np.int64))
            y = acc.astype(np.float32) * (np.float32(s_x) * s_w).astype(np.float32)
        h = np.maximum(y, 0) if i < 2 else y
    logits = q.predict(images)
    np.testing.assert_allclose(logits, h, rtol=1e-6, atol=1e-6)
    served = q.serve(images)
    assert sorted(served.events.as_dict()) == [
        "forward", "layer1.forward", "layer3.forward",
    ]  # fmt: skip  # the integer MACs of layers 1 and 3
    with pytest.raises(ValueError, match="layer 2 \\(int4-weight-only\\) is not int8"):
        q.serving(path="integer")


def test_all_integer_layers_serve_integer_only_as_one_model() -> None:
    """int8 per tensor, per channel and asymmetric layers: one integer-only segment, the same
    bits as a uniform int8 model holding those arrays, requantized between layers."""
    model, images = model_and_images()
    q = quantize(model, images, "int8-per-tensor@2=int8-per-channel-asym@3=int8-per-channel")
    assert isinstance(q, LayeredQuantizedMLP)
    serving = q.serving()
    assert len(serving.parts) == 1 and serving.parts[0][2].path == "integer"
    alone = LayeredQuantizedMLP("int8-per-channel").calibrate(model, images)
    uniform = quantize(model, images, "int8-per-channel")
    np.testing.assert_array_equal(alone.predict(images), uniform.predict(images))
    # layer 2's zero point is its own (asymmetric), the others' are 0
    assert [int(layer.input_zero_points_[0]) == 0 for layer in q.layers_] == [True, False, True]
    for requantization in ("gemmlowp", "float"):
        a = q.serving(requantization=requantization).predict(images)
        b = q.serving(path="integer", requantization=requantization).predict(images)
        np.testing.assert_array_equal(a, b)


# -- the model file and the cost model ---------------------------------------------------------


@pytest.mark.parametrize(
    "scheme",
    [
        INT4_EDGES,
        "fp8_e4m3@2=int8-per-tensor-asym",
        "int8-per-tensor@3=fp8_e5m2-per-channel",
        "int4-per-channel@2=int8-per-channel@3=int4-per-channel-a8",
        "mxfp4@1=int8-per-channel@3=nvfp4",
        "int4-weight-only:group=4@2=mxfp8-weight-only@3=int2-weight-only",
    ],
)
def test_file_round_trip_and_cost_bytes(scheme: str, tmp_path: Path) -> None:
    model, images = model_and_images()
    q = quantize(model, images, scheme)
    assert isinstance(q, LayeredQuantizedMLP)
    path = save(q, tmp_path / "q.npz", metadata=q.metadata)
    back = load(path)
    assert isinstance(back, LayeredQuantizedMLP) and back.scheme == q.scheme
    ours, theirs = q.arrays(), back.arrays()
    assert ours.keys() == theirs.keys()
    for name, array in ours.items():
        assert array.dtype == theirs[name].dtype and np.array_equal(array, theirs[name]), name
    np.testing.assert_array_equal(back.predict(images), q.predict(images))
    precisions = LayerScheme.parse(scheme).precisions(model.n_layers)
    assert cost(model, precisions).weight_bytes == q.nbytes


@pytest.mark.parametrize("scheme", ["mxfp4", "nvfp4-weight-only", "int4-per-channel-asym"])
def test_an_override_serves_as_its_uniform_models_layer(scheme: str) -> None:
    """Layer 2 alone in ``scheme``: its arrays are the uniform model's layer 2, and the logits of
    a model with every layer in ``scheme`` written as overrides equal the uniform model's."""
    model, images = model_and_images()
    uniform = quantize(model, images, scheme)
    q = quantize(model, images, f"int8-per-channel@2={scheme}")
    assert isinstance(q, LayeredQuantizedMLP) and isinstance(uniform, QuantizedMLP)
    layer = q.layers_[1].arrays()
    theirs = {k: v for k, v in uniform.arrays().items() if k.endswith("_1")}
    assert {k[:-1] + "1": v for k, v in layer.items()}.keys() == theirs.keys()
    for name, array in layer.items():
        assert np.array_equal(array, theirs[name[:-1] + "1"]), name
    alone = LayeredQuantizedMLP(scheme).calibrate(model, images)
    np.testing.assert_array_equal(alone.predict(images), uniform.predict(images))


def test_a_damaged_layer_is_named(tmp_path: Path) -> None:
    model, images = model_and_images()
    q = quantize(model, images, INT4_EDGES)
    arrays = dict(np.load(save(q, tmp_path / "q.npz")))
    arrays["qweight_1"] = np.zeros((SIZES[1], SIZES[2]), np.int8)  # int4 must be packed uint8
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="layer 2.*'qweight_0' is int8"):
        load(tmp_path / "bad.npz")


# -- the CLI and sweep serve entries -------------------------------------------------------------


def test_quantize_cli_takes_a_scheme_per_layer(
    synthetic: Dataset, synthetic_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model = MLP((784, 16, 8, 10), seed=0)
    source = save(model, tmp_path / "model.npz", metadata={"normalize": "standard"})
    out = tmp_path / "q.npz"
    argv = ["quantize", str(source), "--scheme", INT4_EDGES, "--calibration", "50",
            "--data-dir", str(synthetic_dir), "--out", str(out), "--json"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    q = load(out)
    assert isinstance(q, LayeredQuantizedMLP) and str(q.scheme) == report["scheme"] == INT4_EDGES
    assert report["bytes"] == q.nbytes == cost(model, q.scheme.precisions(3)).weight_bytes
    argv[-3:] = ["--out", str(tmp_path / "g.npz"), "--method", "gptq"]
    assert main(argv) != 0
    assert "--method gptq / --accumulator take one scheme" in capsys.readouterr().err


def test_sweep_serve_entries_take_a_scheme_per_layer() -> None:
    from mixprec.experiments.serve import parse_serve

    config = parse_serve("ptq:INT4-weight-only@3=int8-per-channel@1=int8-per-channel")
    assert config.kind == "ptq" and config.scheme == INT4_EDGES
    assert parse_serve("ptq:int8-per-channel").scheme == "int8-per-channel"
    with pytest.raises(ValueError, match="unknown quantization scheme"):
        parse_serve("ptq:int8-per-channel@2=int3")
    assert not isinstance(parse_scheme(INT4_EDGES), QuantizedMLP)


def test_a_sweep_ptq_entry_per_layer_builds_and_serves() -> None:
    """The sweep's ``ptq:`` entry builds the per-layer model from the cell's training split and
    serves it with its default paths; ``method=gptq`` is refused for a scheme per layer."""
    from mixprec.data import Split
    from mixprec.experiments.quantized import QuantizedEntry
    from mixprec.nn import evaluate

    model, images = model_and_images()
    train = Split(images, np.random.default_rng(2).integers(0, 3, len(images)))
    entry = QuantizedEntry.parse(f"ptq:{INT4_EDGES},observer=mse")
    q = entry.build(model, train, seed=0)
    assert isinstance(q, LayeredQuantizedMLP) and q.observer == "mse"
    reference = quantize(model, images, INT4_EDGES, observer="mse")
    np.testing.assert_array_equal(
        evaluate(entry.serving(q), train).logits, reference.predict(images)
    )
    with pytest.raises(ValueError, match="take one scheme for every layer"):
        QuantizedEntry.parse(f"ptq:{INT4_EDGES},method=gptq").build(model, train, seed=0)
