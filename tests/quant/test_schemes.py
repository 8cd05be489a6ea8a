"""Schemes are validated when built: a combination the serving paths cannot run as declared
raises instead of silently serving otherwise."""

from __future__ import annotations

import pytest

from mixprec.formats import FP8_E4M3, INT8
from mixprec.quant import SCHEMES, Scheme


@pytest.mark.parametrize("name", list(SCHEMES))
def test_every_shipped_scheme_is_valid_and_parses_back(name: str) -> None:
    scheme = SCHEMES[name]
    assert Scheme.parse(name.upper().replace("-", "_")) is scheme
    assert Scheme(**{f: getattr(scheme, f) for f in scheme.__dataclass_fields__}) == scheme


def test_format_names_are_formats_and_int8_activations_serve_integer_only() -> None:
    scheme = Scheme(name="mine", weights="int8", per_channel=True, activations="int8")
    assert scheme.weights == INT8 and scheme.activations == INT8 and scheme.is_integer
    assert (
        Scheme(name="f", weights="fp8_e4m3", per_channel=False, activations="fp8_e4m3").activations
        == FP8_E4M3
    )


@pytest.mark.parametrize(
    ("weights", "activations", "symmetric", "message"),
    [
        ("int3", "int8", True, "cannot be served as declared"),
        ("int8", "int2", True, "cannot be served as declared"),
        ("int8", "fp8_e4m3", True, "cannot be served as declared"),
        ("fp8_e5m2", "fp8_e4m3", True, "cannot be served as declared"),
        ("fp8_e4m3", "fp8_e4m3", False, r"\(asymmetric\) cannot be served"),
        ("int16", None, True, "weights int16; use one of int8, int4"),
    ],
)
def test_unservable_combinations_raise(
    weights: str, activations: str | None, symmetric: bool, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Scheme(
            name="bad", weights=weights, per_channel=True, activations=activations,
            symmetric_activations=symmetric,
        )  # fmt: skip


def test_per_channel_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="per_channel must be True or False"):
        Scheme(name="bad", weights="int8", per_channel="yes", activations="int8")  # type: ignore[arg-type]


@pytest.mark.parametrize("bits", ["int4", "int3", "int2"])
@pytest.mark.parametrize("group", [1, 32, 128, 1000])
def test_group_size_is_a_parameter_of_weight_only_schemes(bits: str, group: int) -> None:
    scheme = Scheme.parse(f"{bits.upper()}_weight_only:group={group}")
    assert scheme.name == f"{bits}-weight-only:group={group}"
    assert scheme.group_size == group and scheme.weights.name == bits and scheme.is_weight_only
    spec = scheme.weight_spec
    assert spec.scaling.value == "per_group" and spec.group_size == group
    assert Scheme.from_specs(scheme.name, spec, None) == scheme
    assert Scheme.parse(scheme.name) == scheme  # the name parses back


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("int8-per-channel:group=32", "group sizes are for the weight-only integer schemes"),
        ("fp8_e4m3:group=32", "group sizes are for the weight-only"),
        ("int4-weight-only:group=0", "not group=N with N >= 1"),
        ("int4-weight-only:grp=32", "not group=N"),
        ("int4-weight-only:group=x", "not group=N"),
        ("int4-weight-only:group=32:group=16", "not group=N"),
        ("int5-weight-only:group=32", "unknown quantization scheme 'int5-weight-only'"),
    ],
)
def test_bad_group_parameters_say_what_to_write(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scheme.parse(name)


def test_group_wise_needs_weight_only_per_channel() -> None:
    with pytest.raises(ValueError, match="cannot be served as declared"):
        Scheme(name="g", weights="int4", per_channel=True, activations="int4", group_size=32)
    with pytest.raises(ValueError, match="per output channel too"):
        Scheme(name="g", weights="int4", per_channel=False, activations=None, group_size=32)
    with pytest.raises(ValueError, match="group_size must be an integer >= 1"):
        Scheme(name="g", weights="int4", per_channel=True, activations=None, group_size=True)


@pytest.mark.parametrize(
    ("name", "weights", "activations", "symmetric"),
    [
        ("int4-per-channel", "int4", "int4", True),
        ("int4-per-channel-asym", "int4", "int4", False),
        ("int4-per-channel-a8", "int4", "int8", True),
    ],
)
def test_w4a4_and_w4a8_serve_integer_only(
    name: str, weights: str, activations: str, symmetric: bool
) -> None:
    scheme = SCHEMES[name]
    assert scheme.weights.name == weights and scheme.activations is not None
    assert scheme.activations.name == activations and scheme.symmetric_activations is symmetric
    assert scheme.per_channel and scheme.is_integer and scheme.group_size is None
