"""Block-scaled formats (MX, NVFP4) as policy roles: blocks along each matmul's reduction axis."""

from __future__ import annotations

import numpy as np
import pytest

import mixprec as mp
from mixprec.data import Dataset
from mixprec.mac import MAC
from mixprec.nn import MLP, Policy, TensorSpec
from mixprec.nn.compiled import Numerics
from mixprec.nn.passes import backward, forward
from mixprec.train import train

MX = Policy(weights="mxfp8_e4m3", activations="mxfp8_e4m3", gradients="mxfp8_e5m2",
            master_weights="fp32")  # fmt: skip


def _data(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _q(x: np.ndarray, fmt: str, axis: int) -> np.ndarray:
    return mp.quantize(x, fmt, axis=axis)


def test_every_matmul_blocks_its_operands_along_k() -> None:
    """x @ w blocks x by rows and w by columns; the backward products re-block the transposes."""
    n = Numerics(MX)
    x, w, dy = _data(0, 64, 96), _data(1, 96, 40), _data(2, 64, 40)
    xs, ws, gs = n.activations.scaled(x, 1), n.weights.scaled(w, 1), n.gradients.scaled(dy, 1)
    e4, e5 = "mxfp8_e4m3", "mxfp8_e5m2"
    assert np.array_equal(n.matmul("forward", 1, xs, ws), _q(x, e4, -1) @ _q(w, e4, 0))
    assert np.array_equal(n.matmul("input_grad", 1, gs, ws.T), _q(dy, e5, -1) @ _q(w.T, e4, 0))
    assert np.array_equal(n.matmul("weight_grad", 1, xs.T, gs), _q(x.T, e4, -1) @ _q(dy, e5, 0))
    # the re-blocking matters: w blocked along its other axis gives other values
    assert not np.array_equal(_q(w.T, e4, 0), _q(w, e4, 0).T)


def test_a_block_role_is_not_rounded_before_its_matmul() -> None:
    n = Numerics(MX)
    x = _data(3, 8, 64)
    s = n.activations.scaled(x, 1)
    assert s.block == mp.get_format("mxfp8_e4m3") and s.scale == 1.0
    assert np.array_equal(s.values, x) and s.T.block == s.block


def test_the_serving_presets_use_the_exact_block_mac() -> None:
    for name in ("mxfp4", "nvfp4"):
        policy = Policy.preset(name)
        n = Numerics(policy)
        x, w = _data(4, 16, 128), _data(5, 128, 24)
        y = n.matmul("forward", 1, n.activations.scaled(x, 1), n.weights.scaled(w, 1))
        assert np.array_equal(y, MAC.parse(f"{name}->fp32").matmul(x, w))
        assert not policy.trainable


def test_block_backward_pass_equals_a_direct_computation() -> None:
    """One forward and backward of a 2-layer MLP under mxfp8, against the formula by hand."""
    model = MLP([64, 32, 8], seed=0)
    x, dz = _data(6, 16, 64), _data(7, 16, 8)
    n = Numerics(MX)
    copies = n.weight_copies(model.weights)
    logits, inputs = forward(n, copies, model.biases, x)
    grads = backward(n, copies, [b is not None for b in model.biases], inputs, dz.copy())
    e4, e5 = "mxfp8_e4m3", "mxfp8_e5m2"
    w1, w2 = model.weights
    b1 = model.biases[0]
    z1 = _q(x, e4, -1) @ _q(w1, e4, 0) + (0 if b1 is None else b1)
    h = np.maximum(z1, 0)
    assert np.array_equal(logits, _q(h, e4, -1) @ _q(w2, e4, 0))
    dw2 = _q(h.T, e4, -1) @ _q(dz, e5, 0)
    dh = (_q(dz, e5, -1) @ _q(w2.T, e4, 0)) * (h > 0)
    dw1 = _q(x.T, e4, -1) @ _q(dh, e5, 0)
    assert np.array_equal(grads[0], dw1) and np.array_equal(grads[-1], dw2)


def test_mxfp8_preset_learns_and_differs_from_fp32(synthetic: Dataset) -> None:
    runs = {}
    for name in ("fp32", "mxfp8"):
        model = MLP([784, 32, 10], seed=0)
        history = train(model, synthetic, name, epochs=3, batch_size=64, progress=False, seed=0)
        runs[name] = (model, history)
    (plain, _), (mx, history) = runs["fp32"], runs["mxfp8"]
    assert history.loss[-1] < history.loss[0] and history.accuracy[-1] > 0.5
    assert not np.array_equal(plain.weights[0], mx.weights[0])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(updates="mxfp8_e4m3"), "updates in a block format"),
        (dict(weights="mxfp4", master_weights="none"), "master_weights='fp32'"),
        (
            dict(weights="mxfp8_e4m3", forward_mac="mxfp4->fp32", trainable=False),
            "quantizes its operands to mxfp4",
        ),
    ],
)
def test_block_roles_refused_where_they_cannot_work(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Numerics(Policy(**changes))


def test_a_block_spec_takes_no_extra_scaling() -> None:
    with pytest.raises(ValueError, match="takes scaling='none'"):
        TensorSpec(format="mxfp4", scaling="per_tensor")
    # per-tensor scaling of the policy leaves a block role unscaled (its blocks scale it)
    spec = Policy(weights="mxfp4", activations="fp8_e4m3", scaling="per_tensor", trainable=False)
    assert spec.weights == TensorSpec(format="mxfp4")
    assert spec.activations.scaling.value == "per_tensor"


def test_roles_are_tensor_specs_and_round_trip_through_as_dict() -> None:
    saturating = TensorSpec(format="fp8_e5m2", overflow="saturate")
    policy = Policy.preset("fp8").replace(gradients=saturating)
    assert policy.gradients == saturating and policy.weights.scaling.value == "per_tensor"
    assert Policy(**policy.as_dict()) == policy
    assert Policy(**MX.as_dict()) == MX
    # a default role follows a change of scaling; a role given its own spec keeps it
    unscaled = policy.replace(scaling="none")
    assert unscaled.weights.scaling.value == "none" and unscaled.gradients == saturating
    assert (
        str(policy) == "fp8[gradients={'format': 'fp8_e5m2', 'scaling': 'none', "
        "'overflow': 'saturate', 'rounding': 'nearest_even'}]"
    )


def test_memory_counts_block_codes_and_scales() -> None:
    from mixprec.nn.memory import memory

    report = memory(formats=["mxfp4", "nvfp4"], measure=True)
    n_w = 104_928  # the book MLP's weights
    mx, nv = report.row("mxfp4"), report.row("nvfp4")
    assert (mx.bits, nv.bits) == (4.25, 4.5)
    assert mx.weights_bytes == n_w // 2 + -(-n_w // 32)  # 4-bit codes, one E8M0 per 32
    assert nv.weights_bytes == n_w // 2 + -(-n_w // 16) + 4  # E4M3 per 16, an fp32 tensor scale
    # to_storage of the real arrays pads each tensor's last block: never fewer bytes
    assert mx.measured_weights_bytes is not None and mx.measured_weights_bytes >= mx.weights_bytes


def test_nvfp4_values_reach_an_fp32_mac_rounded_to_float32() -> None:
    """NVFP4 values carry up to 30 significant bits: an fp32 MAC takes them as float32."""
    n = Numerics(Policy(weights="nvfp4", trainable=False))
    x, w = _data(8, 4, 64), _data(9, 64, 8)
    y = n.matmul("forward", 1, n.activations.scaled(x, 1), n.weights.scaled(w, 1))
    assert y.dtype == np.float32
    assert np.array_equal(y, x @ _q(w, "nvfp4", 0).astype(np.float32))
