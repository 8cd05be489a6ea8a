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
        ("int4", "int8", True, "cannot be served as declared"),
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
