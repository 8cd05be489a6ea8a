"""Block-scaled PTQ schemes (mxfp8, mxfp4, nvfp4, *-weight-only): calibration and serving."""

from __future__ import annotations

import numpy as np
import pytest

import mixprec as mp
from mixprec.experiments.serve import parse_serve
from mixprec.formats import tensor_scale_of
from mixprec.formats.blockpack import unpack_codes
from mixprec.mac.blockscaled import BlockMAC
from mixprec.nn import MLP, Policy, TensorSpec, predict
from mixprec.quant import SCHEMES, Scheme, quantize

FORMATS = {"mxfp8": "mxfp8_e4m3", "mxfp4": "mxfp4", "nvfp4": "nvfp4"}
BLOCK_SCHEMES = [name for name, s in SCHEMES.items() if s.is_block]
FULL = list(FORMATS)  # weights and activations


def small(seed: int = 0, sizes: tuple[int, ...] = (70, 40, 24, 10)) -> tuple[MLP, np.ndarray]:
    """A small MLP (K = 70, not a multiple of 32: padded blocks) and inputs with outliers."""
    model = MLP(sizes, seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((48, sizes[0])).astype(np.float32)
    x[rng.random(x.shape) < 0.02] *= 40  # a few outliers: blocks with very different scales
    return model, x


# -- schemes ---------------------------------------------------------------------------------------
def test_block_scheme_names_and_specs() -> None:
    assert BLOCK_SCHEMES == [
        "mxfp8", "mxfp8-weight-only", "mxfp4", "mxfp4-weight-only", "nvfp4", "nvfp4-weight-only",
    ]  # fmt: skip
    for name, fmt in FORMATS.items():
        full, weight_only = SCHEMES[name], SCHEMES[f"{name}-weight-only"]
        spec = TensorSpec(format=fmt)
        assert full.weight_spec == spec and full.activation_spec == spec
        assert weight_only.weight_spec == spec and weight_only.activation_spec is None
        assert full.block == mp.get_format(fmt) and weight_only.is_weight_only
        assert not (full.is_integer or full.per_channel)
        assert Scheme.from_specs(name, spec, spec) == full
    assert not SCHEMES["int8-per-channel"].is_block
    with pytest.raises(ValueError, match="not block-scaled"):
        SCHEMES["int8-per-channel"].block  # noqa: B018


@pytest.mark.parametrize(
    ("weights", "activations", "message"),
    [
        ("mxfp4", "fp8_e4m3", "must be the weights' mxfp4"),
        ("mxfp4", "nvfp4", "must be the weights' mxfp4"),
        ("int8", "mxfp4", "need the same block format for the weights"),
        ("mxfp8_e5m2", "mxfp8_e5m2", "no exact block MAC"),
    ],
)
def test_block_schemes_refuse_what_cannot_be_served(
    weights: str, activations: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Scheme(name="x", weights=weights, per_channel=False, activations=activations)


def test_block_scheme_options_refused() -> None:
    with pytest.raises(ValueError, match="use per_channel=False"):
        Scheme(name="x", weights="mxfp4", per_channel=True, activations=None)
    spec = TensorSpec(format="mxfp4", rounding="stochastic")
    with pytest.raises(ValueError, match="rounding 'nearest_even'"):
        Scheme.from_specs("x", spec, None)
    e5m2 = Scheme(name="e5m2", weights="mxfp8_e5m2", per_channel=False, activations=None)
    assert e5m2.is_weight_only  # weight-only: no block MAC needed


def test_observers_do_not_apply() -> None:
    model, x = small()
    with pytest.raises(ValueError, match="observer='minmax'"):
        quantize(model, x, scheme="mxfp4", observer="percentile")


# -- calibration: weights along K ------------------------------------------------------------------
@pytest.mark.parametrize("scheme", BLOCK_SCHEMES)
def test_weights_are_encoded_along_k(scheme: str) -> None:
    model, x = small()
    q = quantize(model, x, scheme=scheme)
    block = q.scheme.block
    for i, w in enumerate(model.weights):
        encoded = mp.encode(w, block, axis=0)
        codes = unpack_codes(q.weights_[i], block.bits, w.size).reshape(w.shape)
        np.testing.assert_array_equal(codes, encoded[0])
        np.testing.assert_array_equal(q.weight_scales_[i], encoded[1])
        values = mp.decode((codes, q.weight_scales_[i], *q.weight_tensor_scales_[i : i + 1]),
                           block, axis=0)  # fmt: skip
        np.testing.assert_array_equal(values, mp.quantize(w, block, axis=0))
        np.testing.assert_array_equal(q.dequantized_weights()[i], values)
        if block.name == "nvfp4":
            assert q.weight_tensor_scales_[i] == np.float32(tensor_scale_of(w, block))
    assert q.weight_tensor_scales_ == [] or block.name == "nvfp4"


def test_nvfp4_input_tensor_scales_are_calibrated() -> None:
    model, x = small()
    q = quantize(model, x, scheme="nvfp4")
    h = x
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        assert q.input_scales_[i] == np.float32(tensor_scale_of(h, "nvfp4"))
        h = np.maximum(h @ w + (0 if b is None else b), 0)
    assert quantize(model, x, scheme="mxfp4").input_scales_ == []  # MX: dynamic block scales


# -- serving ---------------------------------------------------------------------------------------
def direct(model: MLP, x: np.ndarray, fmt: str, input_scales: list[np.ndarray]) -> np.ndarray:
    """The forward pass written out: inputs encoded along their features and weights along K
    (``mp.encode``), the block MAC on both, the float32 bias, ReLU."""
    mac = BlockMAC(fmt)
    h = x
    last = model.n_layers - 1
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        s_t = float(input_scales[i]) if input_scales else None
        a = mp.encode(h, fmt, axis=1, tensor_scale=s_t)
        y = np.asarray(mac.matmul(a, mp.encode(w, fmt, axis=0)))
        assert y.dtype == np.float32
        y = y if b is None else y + b
        h = y if i == last else np.maximum(y, 0)
    return h


@pytest.mark.parametrize("scheme", FULL)
def test_forward_is_the_block_mac_on_k_blocks(scheme: str) -> None:
    model, x = small()
    q = quantize(model, x, scheme=scheme)
    fmt = FORMATS[scheme]
    np.testing.assert_array_equal(q.predict(x), direct(model, x, fmt, q.input_scales_))
    # independent of the MAC: layer 1 is the product of the mp.quantize values along K (float64:
    # exact products); the MAC rounds once per block into fp32, so it is within a few fp32 ulps
    s_t = float(q.input_scales_[0]) if q.input_scales_ else None
    xq = mp.quantize(x, fmt, axis=1, tensor_scale=s_t).astype(np.float64)
    wq = mp.quantize(model.weights[0], fmt, axis=0).astype(np.float64)
    mac = BlockMAC(fmt).matmul(mp.encode(x, fmt, axis=1, tensor_scale=s_t),
                               mp.encode(model.weights[0], fmt, axis=0))  # fmt: skip
    bound = (np.abs(xq) @ np.abs(wq)) * 8 * 2.0**-24
    assert np.all(np.abs(np.asarray(mac, np.float64) - xq @ wq) <= bound)
    assert not np.array_equal(xq, x)  # the inputs were quantized


@pytest.mark.parametrize("scheme", ["mxfp8", "mxfp4"])
def test_mx_schemes_serve_as_the_policy_presets(scheme: str) -> None:
    model, x = small()
    q = quantize(model, x, scheme=scheme)
    np.testing.assert_array_equal(q.predict(x), predict(model, x, policy=scheme))
    np.testing.assert_array_equal(q.predict(x, batch_size=7), q.predict(x))  # per-sample scales
    weight_only = quantize(model, x, scheme=f"{scheme}-weight-only")
    policy = Policy(weights=FORMATS[scheme], master_weights="fp32")
    np.testing.assert_array_equal(weight_only.predict(x), predict(model, x, policy=policy))


def test_nvfp4_static_tensor_scale_serves_any_batch_alike() -> None:
    model, x = small()
    q = quantize(model, x, scheme="nvfp4")
    np.testing.assert_array_equal(q.predict(x, batch_size=1), q.predict(x))
    # the preset's tensor scale is per batch: it changes with the batch, the scheme's does not
    preset_one = predict(model, x, policy="nvfp4", batch_size=1)
    assert not np.array_equal(preset_one, predict(model, x, policy="nvfp4"))


def test_nvfp4_weight_only_is_float64_products() -> None:
    model, x = small()
    q = quantize(model, x, scheme="nvfp4-weight-only")
    h = x
    for i, (w, b) in enumerate(zip(model.weights, model.biases, strict=True)):
        y = h @ mp.quantize(w, "nvfp4", axis=0).astype(np.float64) + (0 if b is None else b)
        h = (np.maximum(y, 0) if i < model.n_layers - 1 else y).astype(np.float32)
    np.testing.assert_array_equal(q.predict(x), h)


def test_block_mac_options_and_errors() -> None:
    model, x = small()
    q = quantize(model, x, scheme="mxfp4")
    serving = q.serving(mac="mxfp4->fp32:pairwise")
    assert str(serving) == "mxfp4[fake_quant, mxfp4->fp32:pairwise]"
    assert np.abs(serving.predict(x) - q.predict(x)).max() < 1e-3
    assert str(q.serving()) == "mxfp4[fake_quant, mxfp4->fp32]"
    with pytest.raises(ValueError, match="block MAC of its own format"):
        q.serving(mac="nvfp4->fp32")
    with pytest.raises(ValueError, match="block MAC of its own format"):
        q.serving(mac="fp8_e4m3->fp32")
    with pytest.raises(ValueError, match="no integer-only path"):
        q.serving(path="integer")
    with pytest.raises(ValueError, match="takes no MAC"):
        quantize(model, x, scheme="mxfp4-weight-only").serving(mac="mxfp4->fp32")
    logits, events = q.predict(x, stats=True)
    assert sorted(layer for layer, _ in events.by_layer) == [1, 2, 3]


def test_block_models_stay_close_to_float() -> None:
    model, x = small()
    reference = model.forward(x)
    errors = {s: float(np.abs(quantize(model, x, scheme=s).predict(x) - reference).mean())
              for s in BLOCK_SCHEMES}  # fmt: skip
    assert errors["mxfp8"] < errors["mxfp4"] and errors["mxfp8"] < errors["nvfp4"]
    assert errors["mxfp4-weight-only"] < errors["mxfp4"]
    assert errors["nvfp4"] < errors["mxfp4"]  # smaller blocks, finer scales


def test_sweep_serve_entries() -> None:
    for name in ("mxfp4", "nvfp4", "mxfp8-weight-only"):
        config = parse_serve(f"ptq:{name}")
        assert config.kind == "ptq" and str(config.scheme) == name
