"""``ptq:`` and ``qat:`` serve entries with options: parsing, errors, and a cell that runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixprec.experiments import Cell, Sweep, parse_serve, run_cell


def test_entries_parse_with_their_options() -> None:
    config = parse_serve("ptq:int8-per-channel,method=gptq,accumulator=int16,mac=int8->int16:wrap")
    assert config.kind == "ptq" and config.scheme == "int8-per-channel"
    entry = config.quantized
    assert entry is not None and entry.accumulator == 16 and entry.get("method") == "gptq"
    assert entry.get("mac") == "int8->int16:wrap"
    config = parse_serve("ptq:int4-weight-only:group=32")
    assert config.scheme == "int4-weight-only:group=32"
    entry = parse_serve("qat:int4-per-channel,observer=mse,epochs=5,lr=0.003,lsq").quantized
    assert entry is not None and entry.kind == "qat" and entry.get("lsq") == ""
    assert (entry.number("epochs", 2, int), entry.number("lr", 0.001, float)) == (5, 0.003)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ptq:int8-per-channel,epochs=2", "unknown option 'epochs'"),
        ("qat:int8-per-channel,method=gptq", "unknown option 'method'"),
        ("ptq:int8-per-channel,observer=entropy", "observer='entropy'; use one of minmax"),
        ("ptq:int8-per-channel,accumulator=16", "write intP with P in 8..32"),
        ("qat:int4-per-channel,epochs=0", "epochs must be > 0"),
        ("qat:int4-per-channel,lr=fast", "lr='fast' is not a number"),
        ("ptq:int8-per-channel,mac=int8->int99", "serve entry"),
        ("ptq:int4-weight-only:group=0", "not group=N"),
        ("qat:mxfp4", "block-scaled mxfp4: train with the block policy"),
        ("qat:fp8_e4m3-per-channel,lsq", "LSQ.* take integer formats"),
        ("qat:int8-per-tensor,accumulator=int16", "take per-channel weights"),
        ("qat:int4-per-channel-asym,lsq", "LSQ.*need symmetric activations"),
        ("qat:int4-weight-only:group=32,lsq", "group-wise scales go with neither"),
        ("qat:int8-per-channel,accumulator=int16,lsq", "accumulator bound needs .* no LSQ"),
    ],
)
def test_bad_entries_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_serve(text)


def test_a_cell_serves_quantized_entries(tiny_data: Path) -> None:
    """PTQ with an accumulator bound served on the narrow MAC wraps 0 times (plain PTQ on the
    same MAC wraps); group-wise, GPTQ and QAT entries each give a record of their own."""
    serve = (
        "ptq:int8-per-channel,mac=int8->int12:wrap",
        "ptq:int8-per-channel,accumulator=int12,mac=int8->int12:wrap",
        "ptq:int3-weight-only:group=32,method=gptq",
        "qat:int4-per-channel,observer=mse,epochs=1",
    )
    sweep = Sweep.from_dict({"dataset": "fashion-mnist", "data_dir": str(tiny_data), "epochs": 1})
    records = run_cell(Cell(sweep=sweep, train="fp32", seed=0, serve=serve)).records
    assert [r["serve"] for r in records] == list(serve)
    assert [r["serve_kind"] for r in records] == ["ptq", "ptq", "ptq", "qat"]
    wraps = [r["events"].get("wraps", 0) for r in records[:2]]
    assert wraps[0] > 0 and wraps[1] == 0
    assert "int8->int12" in records[1]["serve_policy"]
    assert "int3-weight-only:group=32" in records[2]["serve_policy"]
    assert "int4-per-channel[integer" in records[3]["serve_policy"]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in records)


def test_the_quantization_experiment_resolves() -> None:
    from mixprec.experiments import check, load_experiment

    sweep = load_experiment("quantization")
    check(sweep.train, sweep.serve)
    kinds = {parse_serve(text).kind for text in sweep.serve}
    assert {"ptq", "qat"} <= kinds and len(sweep.serve) > 40
