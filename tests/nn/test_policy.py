"""Policy: presets, validation, readable names, changes."""

from __future__ import annotations

import pytest

from mixprec.formats import get_format
from mixprec.mac import MAC
from mixprec.nn import LossScaling, MasterWeights, Policy, Scaling

PRESETS = list(Policy.presets())


def test_presets_include_the_required_ones() -> None:
    assert {"fp32", "bf16", "fp16", "fp16-amp", "fp8", "int8"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_str_is_its_name_and_round_trips(name: str) -> None:
    policy = Policy.preset(name)
    assert str(policy) == name
    assert Policy(**policy.as_dict()) == policy
    assert Policy.preset(policy) is policy


def test_preset_contents() -> None:
    fp32 = Policy.preset("fp32")
    assert {fp32.weights.format.name, fp32.activations.format.name, fp32.gradients.format.name} == {
        "fp32"
    }
    assert str(fp32.forward_mac) == "fp32->fp32" and fp32.forward_mac.order.kind.value == "fast"
    amp = Policy.preset("fp16-amp")
    assert amp.weights.format == get_format("fp16") and amp.master_weights is MasterWeights.FP32
    assert amp.loss_scaling is LossScaling.DYNAMIC and amp.loss_scale == 2.0**16
    fp8 = Policy.preset("fp8")
    assert (fp8.weights.format.name, fp8.activations.format.name, fp8.gradients.format.name) == (
        "fp8_e4m3", "fp8_e4m3", "fp8_e5m2"
    )  # fmt: skip
    assert fp8.scaling is Scaling.PER_TENSOR and fp8.master_weights is MasterWeights.FP32
    int8 = Policy.preset("int8")
    assert not int8.trainable and str(int8.forward_mac) == "int8->int32"


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(ValueError, match="unknown policy 'fp7'.*fp16-amp.*int8"):
        Policy.preset("fp7")


def test_changes_show_in_str() -> None:
    served = Policy.preset("int8").with_mac(forward="int8->int16:saturate")
    assert str(served) == "int8[forward_mac=int8->int16:saturate]"
    assert served.forward_mac == MAC.parse("int8->int16:saturate")
    assert served.changes() == {"forward_mac": "int8->int16:saturate"}
    assert str(Policy.preset("bf16").replace(loss_scale=8.0)) == "bf16[loss_scale=8.0]"


def test_custom_policy_has_a_compact_summary() -> None:
    policy = Policy(weights="e5m2", gradients="bf16", forward_mac="bf16->fp32")
    text = str(policy)
    assert text.startswith("w=fp8_e5m2 a=fp32 g=bf16 u=fp32 mac=bf16->fp32/fp32->fp32/fp32->fp32")
    assert "master=none" in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(weights="fp7"), "unknown format"),
        (dict(forward_mac="int8=>int32"), "MAC notation"),
        (dict(master_weights="fp16"), "Policy.master_weights 'fp16'.*'fp32', 'none'"),
        (dict(loss_scaling="auto"), "Policy.loss_scaling 'auto'"),
        (dict(loss_scale=0.0), "loss_scale must be finite and > 0"),
        (dict(loss_scale=float("inf")), "loss_scale must be finite"),
        (dict(growth_interval=0), "growth_interval must be >= 1"),
        (dict(update_rounding="toward_zero"), "'nearest_even' or 'stochastic'"),
        (dict(weights="int8"), "need a scale: pass scaling='per_tensor'"),
        (dict(gradients="int8", scaling="per_tensor"), "not supported in training"),
        (dict(scaling="per_channel"), "Policy.scaling 'per_channel'"),
    ],
)
def test_invalid_policies_are_rejected_with_a_hint(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Policy(**kwargs)


def test_policy_is_frozen_and_typed() -> None:
    policy = Policy.preset("bf16")
    with pytest.raises(AttributeError):
        policy.weights = get_format("fp32")  # type: ignore[misc]
    with pytest.raises(TypeError, match="growth_interval must be an int"):
        Policy(growth_interval=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="MAC or a string"):
        Policy(forward_mac=3)  # type: ignore[arg-type]
