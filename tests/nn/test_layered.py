"""The per-layer policy string: parsing, canonical str, round trip, errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixprec.nn import Policy
from mixprec.nn.layered import LayerPolicy, entry_policy, parse_policy

ENTRIES = [
    "fp32",
    "bf16",
    "fp16",
    "fp8",
    "int8",
    "fp8_e4m3",
    "fp8_e5m2",
    "int4",
    "int8->int16:wrap",
    "mxfp4",
    "nvfp4",
    "mxfp8_e4m3",
    "mxfp6_e2m3:rceil",
    "mxint8->fp32",
]


@settings(max_examples=60, deadline=None)
@given(
    base=st.sampled_from(ENTRIES),
    overrides=st.dictionaries(st.integers(1, 6), st.sampled_from(ENTRIES), max_size=4),
)
def test_str_round_trips(base: str, overrides: dict[int, str]) -> None:
    p = LayerPolicy(base, overrides)
    text = str(p)
    assert LayerPolicy.parse(text) == p
    assert str(LayerPolicy.parse(text)) == text
    assert " " not in text and "," not in text and ";" not in text
    for layer in range(1, 7):
        assert p.entry(layer) == LayerPolicy(overrides.get(layer, base)).base


def test_canonical_form() -> None:
    p = LayerPolicy.parse(" FP8 @3=BF16@1=bf16@2=fp8")
    assert str(p) == "fp8@1=bf16@3=bf16"
    assert p.layer(1) == Policy.preset("bf16") and p.layer(2) == Policy.preset("fp8")
    assert str(LayerPolicy.uniform(["int4", "int8", "int4"])) == "int4@2=int8"
    assert (
        str(LayerPolicy.parse("fp32@1=int8->int16:wrap")) == "fp32@1=int8->int16"
    )  # wrap: the default


def test_entries_resolve_like_serve_entries() -> None:
    from mixprec.experiments.serve import parse_serve

    for entry in ENTRIES:
        assert entry_policy(entry) == parse_serve(entry).policy, entry


def test_block_format_entries() -> None:
    """Block formats are entries: their own format in weights and activations, blocked by the
    matmul along K, the exact block MAC; a block format's options survive the round trip."""
    from mixprec.formats import BlockFormat
    from mixprec.nn.layered import format_policy

    p = LayerPolicy.parse("int8@2=MXFP8_E4M3:RCEIL@3=nvfp4:tensor_scale=none")
    assert str(p) == "int8@2=mxfp8_e4m3:rceil@3=nvfp4:tensor_scale=none"
    assert LayerPolicy.parse(str(p)) == p
    layer2 = p.layer(2)
    assert isinstance(layer2.weights.format, BlockFormat)
    assert str(layer2.weights.format) == str(layer2.activations.format) == "mxfp8_e4m3:rceil"
    assert str(layer2.forward_mac) == "mxfp8_e4m3:rceil->fp32" and not layer2.trainable
    assert str(p.layer(3).weights.format) == "nvfp4:tensor_scale=none"
    # the mxfp4 preset is the format's entry, so 'mxfp4' means one thing everywhere
    assert format_policy("mxfp4") == replace(Policy.preset("mxfp4"), name=None)
    # a block MAC entry keeps the options in its operands' formats
    assert str(entry_policy("mxfp4:rceil->fp32").weights.format) == "mxfp4:rceil"
    with pytest.raises(ValueError, match="unknown policy entry 'mxfp5'"):
        LayerPolicy.parse("fp32@1=mxfp5")


def test_parse_policy_keeps_presets_as_policies() -> None:
    assert parse_policy("bf16") == Policy.preset("bf16")
    assert isinstance(parse_policy("bf16@2=int8"), LayerPolicy)
    assert isinstance(parse_policy("int4"), LayerPolicy)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fp8@1bf16", "is not LAYER=ENTRY"),
        ("fp8@0=bf16", "layers count from 1"),
        ("fp8@x=bf16", "is not LAYER=ENTRY"),
        ("fp8@1=bf16@1=int8", "overridden twice"),
        ("fp8@1=fp9", "unknown policy entry 'fp9'"),
        ("fp8@1=int8->int99", "not a valid MAC"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LayerPolicy.parse(text)


def test_check_names_a_missing_layer() -> None:
    with pytest.raises(ValueError, match="layer 4 is overridden but the model has 3 layers"):
        LayerPolicy.parse("fp8@4=bf16").check(3)


def test_overrides_apply_to_their_layer_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from mixprec.data import Split
    from mixprec.formats import quantize
    from mixprec.nn import MLP, evaluate
    from mixprec.nn.compiled import Numerics

    model = MLP((12, 7, 5, 3), seed=4)
    rng = np.random.default_rng(1)
    split = Split(rng.standard_normal((30, 12)).astype(np.float32), rng.integers(0, 3, 30))
    seen: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    original = Numerics.matmul

    def spy(self: Numerics, role: str, layer: int, a, b):  # type: ignore[no-untyped-def]
        seen[layer] = (a.values.copy(), b.values.copy())
        return original(self, role, layer, a, b)

    monkeypatch.setattr(Numerics, "matmul", spy)
    evaluate(model, split, policy="fp32@2=bf16@3=int4")
    x1, w1 = seen[1]
    np.testing.assert_array_equal(w1, model.weights[0])  # layer 1: fp32, untouched
    np.testing.assert_array_equal(x1, split.images)
    x2, w2 = seen[2]
    np.testing.assert_array_equal(quantize(w2, "bf16"), w2)  # on the bf16 grid
    np.testing.assert_array_equal(quantize(x2, "bf16"), x2)
    assert not np.array_equal(w2, model.weights[1])
    x3, w3 = seen[3]  # int4 with a per-tensor scale: integers in -7..7, the largest at 7
    for v in (x3, w3):
        np.testing.assert_array_equal(np.rint(v), v)
        assert np.abs(v).max() == 7


def test_layered_evaluate_equals_the_search_serving() -> None:
    import numpy as np

    from mixprec.data import Split
    from mixprec.experiments.search import serve_assignments
    from mixprec.nn import MLP, evaluate

    model = MLP((16, 8, 6, 4), seed=2)
    rng = np.random.default_rng(3)
    split = Split(rng.standard_normal((45, 16)).astype(np.float32), rng.integers(0, 4, 45))
    assignments = [("int4", "bf16", "fp32"), ("fp8", "int8", "int4"), ("fp8_e4m3", "fp32", "int8")]
    served = serve_assignments(model.weights, model.biases, split.images, split.labels,
                               assignments, batch_size=10)  # fmt: skip
    for a, s in zip(assignments, served, strict=True):
        reference = evaluate(model, split, policy=str(LayerPolicy.uniform(a)), batch_size=10)
        np.testing.assert_array_equal(s.correct, reference.predictions == split.labels)
        assert (s.accuracy, s.loss) == (reference.accuracy, reference.loss)


def test_memory_shows_the_cost_per_layer(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from mixprec.cli import main
    from mixprec.nn.cost import cost

    policy = "fp8@1=bf16@3=int4"
    assert main(["memory", "--policy", policy, "--no-measure", "--formats", "fp32", "--json"]) == 0
    layers = json.loads(capsys.readouterr().out)["cost"][policy]["layers"]
    assert [(c["weights"], c["activations"]) for c in layers] == [
        ("bf16", "bf16"), ("fp8_e4m3", "fp8_e4m3"), ("int4", "int4")
    ]  # fmt: skip
    assert [c["weight_bytes"] for c in layers] == [
        c.weight_bytes for c in cost((784, 128, 32, 10), ["bf16", "fp8", "int4"]).layers
    ]
    assert main(["memory", "--policy", policy, "--no-measure", "--formats", "fp32"]) == 0
    assert "| 3 | 32x10 | int4 | int4 | 164 (160 + 4 + 0) |" in capsys.readouterr().out


def test_a_serve_entry_may_be_a_policy_per_layer() -> None:
    from mixprec.experiments.serve import check, parse_serve

    config = parse_serve("fp8@1=bf16@3=int8->int16:wrap")
    assert config.kind == "policy" and isinstance(config.policy, LayerPolicy)
    assert config.policy.entry(3) == "int8->int16" and config.policy.entry(2) == "fp8"
    with pytest.raises(ValueError, match="serve entry 'fp8@1=fp9'"):
        check([], ["fp8@1=fp9"])
