"""The book's memory figures, exactly, and their extension to formats and policies."""

from __future__ import annotations

import json

import pytest

from mixprec.nn import MLP, counts, memory


def test_the_books_counts_and_fp32_bytes() -> None:
    c = counts(batch=128)
    assert (c.weights, c.activations, c.gradients) == (104_928, 128 * 954, 128 * 160)
    assert c.serve_activations == 784 + 128
    assert c.forward_macs == 784 * 128 + 128 * 32 + 32 * 10
    fp32 = memory(batch=128, formats=["fp32"]).row("fp32")
    assert fp32.weights_bytes == 419_712  # "420 KB"
    assert fp32.train_bytes == 990_080  # "1.0 MB"
    assert fp32.serve_bytes == 423_360  # printed "424 KB" (rounded up)
    assert fp32.measured_weights_bytes == 419_712 and fp32.measured_train_bytes == 990_080


@pytest.mark.parametrize(
    ("name", "bits"), [("bf16", 16), ("fp8_e4m3", 8), ("int8", 8), ("int4", 4)]
)
def test_every_format_scales_with_its_bits(name: str, bits: int) -> None:
    row = memory(formats=[name]).row(name)
    assert row.bits == bits
    assert row.weights_bytes == 104_928 * bits // 8
    assert row.train_bytes == 247_520 * bits // 8
    assert row.serve_bytes == 105_840 * bits // 8
    # measured: ml_dtypes stores int4 in a whole byte; the others as computed
    assert row.measured_weights_bytes == 104_928 * max(bits, 8) // 8


def test_intensity_grows_with_the_batch() -> None:
    small, large = memory(batch=1, measure=False), memory(batch=128, measure=False)
    assert large.row("fp32").train_intensity > 50 * small.row("fp32").train_intensity / 2
    assert large.row("fp32").serve_intensity == pytest.approx(2 * 104_768 / 423_360)
    assert large.row("fp8_e4m3").train_intensity == pytest.approx(
        4 * large.row("fp32").train_intensity
    )


def test_policy_rows_add_the_master_copy() -> None:
    report = memory(policy=["fp16-amp", "fp16", "fp32"], formats=[])
    amp, pure, fp32 = report.policies
    assert amp.master_bytes == 419_712 and pure.master_bytes == 0 and fp32.master_bytes == 0
    assert amp.weights_bytes == 209_856 + 419_712
    assert pure.train_bytes == 990_080 // 2
    assert fp32.train_bytes == 990_080
    assert report.policy is amp and "fp16-amp" in report.table()
    json.dumps(report.as_dict())


def test_other_models_and_errors() -> None:
    model = MLP((10, 4, 3), output_bias=True)
    c = counts(model, batch=2)
    assert c.weights == 10 * 4 + 4 + 4 * 3 + 3 == model.n_parameters
    assert counts((10, 4, 3), batch=2, output_bias=True) == c
    with pytest.raises(ValueError, match="batch sizes must be >= 1"):
        counts(batch=0)
    with pytest.raises(ValueError, match="unknown format"):
        memory(formats=["fp7"])
