"""What train and serve entries mean, and checking a whole sweep before it runs."""

from __future__ import annotations

import pytest

from mixprec.experiments import check, load_experiment, parse_serve, train_policy
from mixprec.formats import IntFormat
from mixprec.nn import Policy


@pytest.mark.parametrize(
    ("entry", "kind", "expected"),
    [
        ("fp32", "policy", Policy.preset("fp32")),
        ("bf16", "policy", Policy.preset("bf16")),
        ("int8", "policy", Policy.preset("int8")),
        (" fp8 ", "policy", Policy.preset("fp8")),
        ("int8->int16:wrap", "mac", Policy.preset("int8").with_mac(forward="int8->int16:wrap")),
        ("fp16->fp16:chunked:64", "mac",
         Policy.preset("fp16").with_mac(forward="fp16->fp16:chunked:64")),
        ("bf16->bf16", "mac", Policy.preset("bf16").with_mac(forward="bf16->bf16")),
    ],
)  # fmt: skip
def test_presets_and_mac_overrides(entry: str, kind: str, expected: Policy) -> None:
    config = parse_serve(entry)
    assert config.kind == kind and config.policy == expected


@pytest.mark.parametrize("entry", ["fp8_e4m3", "fp8_e5m2", "e3m4"])
def test_float_format_entries(entry: str) -> None:
    policy = parse_serve(entry).policy
    assert policy.weights.format == policy.activations.format == policy.forward_mac.input
    assert policy.weights.format.name in (entry, "fp8_e3m4")
    assert policy.forward_mac.accumulator.name == "fp32" and str(policy.forward_mac.order) == "fast"
    assert policy.scaling.value == "none" and not policy.trainable


def test_integer_format_entry_is_scaled() -> None:
    policy = parse_serve("int4").policy
    assert isinstance(policy.weights.format, IntFormat) and policy.scaling.value == "per_tensor"
    assert str(policy.forward_mac) == "int4->int32"


def test_mac_override_of_a_format_without_preset() -> None:
    policy = parse_serve("fp8_e4m3->fp16").policy
    assert (
        policy.weights.format.name == "fp8_e4m3" and policy.forward_mac.accumulator.name == "fp16"
    )


def test_unknown_entries_say_what_is_allowed() -> None:
    with pytest.raises(ValueError, match=r"'fp33'.*Did you mean.*preset \(fp32, bf16.*int8->int16"):
        parse_serve("fp33")
    with pytest.raises(ValueError, match="not a valid MAC"):
        parse_serve("int8->")
    with pytest.raises(ValueError, match="Did you mean 'fp16-amp'"):
        train_policy("fp16amp")
    with pytest.raises(ValueError, match="serving only"):
        train_policy("int8")


def test_check_lists_every_problem() -> None:
    with pytest.raises(ValueError, match="the sweep has bad entries") as info:
        check(["fp32", "fp9", "int8"], ["fp32", "nope", "int8->int16:wrap", "fp8_e9m9"])
    lines = str(info.value).splitlines()
    assert lines[0] == "the sweep has bad entries:" and len(lines) == 5
    check(["fp32"], ["fp32", "int8->int16:wrap"])


def test_shipped_experiments_check() -> None:
    for name in ("book", "accumulators"):
        sweep = load_experiment(name)
        check(sweep.train, sweep.serve)


def test_ptq_entries() -> None:
    config = parse_serve("ptq:int8-per-channel")
    assert (config.kind, config.scheme, config.policy) == ("ptq", "int8-per-channel", None)
    assert parse_serve("ptq:int4-weight-only").scheme == "int4-weight-only"
    with pytest.raises(ValueError, match="unknown quantization scheme 'int3'.*int8-per-channel"):
        parse_serve("ptq:int3")
