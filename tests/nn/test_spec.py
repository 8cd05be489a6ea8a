"""TensorSpec: one tensor's precision, the vocabulary of Policy roles and PTQ schemes."""

from __future__ import annotations

import pytest

from mixprec.formats import BF16, FP8_E4M3, FP8_E5M2, INT8, Overflow
from mixprec.nn import Granularity, Policy, TensorSpec
from mixprec.quant import SCHEMES, Scheme


def test_a_spec_takes_names_and_validates_its_group_size() -> None:
    spec = TensorSpec(format="int8", scaling="per_group", group_size=32)
    assert spec.format == INT8 and spec.scaling is Granularity.PER_GROUP and spec.is_scaled
    assert not TensorSpec(format="bf16").is_scaled
    with pytest.raises(ValueError, match="needs group_size >= 1"):
        TensorSpec(format="int8", scaling="per_group", group_size=0)
    with pytest.raises(ValueError, match="is for scaling='per_group', not 'per_tensor'"):
        TensorSpec(format="int8", scaling="per_tensor", group_size=8)
    with pytest.raises(ValueError, match="unknown TensorSpec.scaling 'per_row'"):
        TensorSpec(format="int8", scaling="per_row")


def test_policy_roles_are_specs_with_the_roles_overflow_and_scaling() -> None:
    fp8 = Policy.preset("fp8").specs()
    assert fp8["weights"] == TensorSpec(format=FP8_E4M3, scaling="per_tensor")
    assert fp8["gradients"] == TensorSpec(format=FP8_E5M2, scaling="per_tensor", overflow="inf")
    assert fp8["updates"].scaling is Granularity.NONE  # updates are added unscaled
    bf16 = Policy.preset("bf16").specs(layer=2)  # every layer has the policy's specs today
    assert bf16["activations"] == TensorSpec(format=BF16)
    assert bf16["gradients"].overflow is Overflow.INF


def test_schemes_are_built_from_specs_and_give_them_back() -> None:
    for scheme in SCHEMES.values():
        rebuilt = Scheme.from_specs(
            scheme.name, scheme.weight_spec, scheme.activation_spec, scheme.symmetric_activations
        )
        assert rebuilt == scheme
    assert SCHEMES["int8-per-channel"].weight_spec.scaling is Granularity.PER_CHANNEL


@pytest.mark.parametrize(
    ("weights", "activations"),
    [
        (TensorSpec(format="int8", scaling="per_group", group_size=32),
         TensorSpec(format="int8", scaling="per_tensor")),
        (TensorSpec(format="int8", scaling="none"), None),
        (TensorSpec(format="int8", scaling="per_channel", overflow="inf"), None),
        (TensorSpec(format="int8", scaling="per_channel"),
         TensorSpec(format="int8", scaling="per_channel")),
        (TensorSpec(format="int8", scaling="per_channel", rounding="stochastic"), None),
    ],
)  # fmt: skip
def test_specs_a_scheme_cannot_serve_are_refused(
    weights: TensorSpec, activations: TensorSpec | None
) -> None:
    with pytest.raises(ValueError, match="cannot be served as declared"):
        Scheme.from_specs("bad", weights, activations)
