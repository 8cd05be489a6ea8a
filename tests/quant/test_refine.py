"""GPTQ and accumulator bounds on a calibrated post-training quantized model."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from mixprec.data import Dataset
from mixprec.nn.model import MLP
from mixprec.quant import a2q, quantize
from mixprec.quant.packing import unpack_int4
from mixprec.quant.refine import refine


@pytest.fixture(scope="module")
def base(synthetic: Dataset) -> MLP:
    from mixprec.train import train

    model = MLP((784, 32, 16, 10), seed=1)
    train(model, synthetic, epochs=2, progress=False, eval_split=None)
    return model


@pytest.mark.parametrize(
    "scheme", ["int8-per-channel", "int8-per-channel-asym", "int4-weight-only"]
)
def test_rtn_reproduces_post_training_quantization(
    base: MLP, synthetic: Dataset, scheme: str
) -> None:
    images = synthetic.train.images[:200]
    q = quantize(base, images, scheme)
    again = refine(quantize(base, images, scheme), base, images, method="rtn")
    for a, b in zip(q.arrays().values(), again.arrays().values(), strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize("bits", [12, 14, 16])
@pytest.mark.parametrize("scheme", ["int8-per-channel", "int8-per-channel-asym"])
def test_accumulator_bound_gives_zero_wraps(
    base: MLP, synthetic: Dataset, bits: int, scheme: str
) -> None:
    images = synthetic.train.images[:200]
    plain = quantize(base, images, scheme)
    q = refine(quantize(base, images, scheme), base, images, accumulator=bits)
    for i, codes in enumerate(q.weights_):
        lo = -128 if i == 0 else max(int(q.input_zero_points_[i]), -128)
        assert np.all(a2q.fits(codes.astype(np.int64), bits, lo, 127))
    mac = f"int8->int{bits}:wrap"
    _, events = q.predict(synthetic.test.images, mac=mac, stats=True)
    assert events.as_dict()["forward"]["wraps"] == 0
    assert_array_equal(q.predict(synthetic.test.images, mac=mac), q.predict(synthetic.test.images))
    _, events = plain.predict(synthetic.test.images, mac=mac, stats=True)
    assert events.as_dict()["forward"]["wraps"] > 0
    assert q.metadata["accumulator"] == f"int{bits}"


@pytest.mark.parametrize("scheme", ["int4-per-channel", "int4-per-channel-asym"])
def test_accumulator_bound_on_int4_activations(base: MLP, synthetic: Dataset, scheme: str) -> None:
    """W4A4: the bound uses the int4 input codes (-8..7; hidden layers max(z, -8)..7), so a
    10-bit accumulator never wraps, where plain PTQ's would."""
    images = synthetic.train.images[:200]
    plain = quantize(base, images, scheme)
    q = refine(quantize(base, images, scheme), base, images, accumulator=10)
    for i in range(q.n_layers):
        lo = -8 if i == 0 else max(int(q.input_zero_points_[i]), -8)
        assert np.all(a2q.fits(q.weight_codes(i).astype(np.int64), 10, lo, 7))
    _, events = q.predict(synthetic.test.images, mac="int8->int10:wrap", stats=True)
    assert events.as_dict()["forward"]["wraps"] == 0
    _, events = plain.predict(synthetic.test.images, mac="int8->int10:wrap", stats=True)
    assert events.as_dict()["forward"]["wraps"] > 0


@pytest.mark.parametrize("group", [32, 100])
def test_gptq_on_group_wise_weights(base: MLP, synthetic: Dataset, group: int) -> None:
    """GPTQ on a ``:group=N`` scheme keeps the groups' scales (the max-abs of each group) and
    lowers the first layer's output error against round to nearest on the same grid."""
    images = synthetic.train.images[:300]
    scheme = f"int3-weight-only:group={group}"
    rtn = quantize(base, images, scheme)
    q = refine(quantize(base, images, scheme), base, images, method="gptq")
    assert_array_equal(q.weight_scales_[0], rtn.weight_scales_[0])
    x, w = images.astype(np.float64), base.weights[0].astype(np.float64)
    errors = [np.sum((x @ (m.dequantized_weights()[0] - w)) ** 2) for m in (rtn, q)]
    assert errors[1] < errors[0]


def test_gptq_lowers_the_first_layer_error(base: MLP, synthetic: Dataset) -> None:
    images = synthetic.train.images[:300]
    rtn = quantize(base, images, "int4-weight-only")
    opt = refine(quantize(base, images, "int4-weight-only"), base, images, method="gptq")
    w = base.weights[0]
    errors = []
    for q in (rtn, opt):
        codes = unpack_int4(q.weights_[0], 784).astype(np.float32)
        errors.append(np.sum((images @ (w - codes * q.weight_scales_[0])) ** 2))
    assert errors[1] < errors[0]
    assert opt.metadata["method"] == "gptq"


def test_errors(base: MLP, synthetic: Dataset) -> None:
    images = synthetic.train.images[:50]
    with pytest.raises(ValueError, match=r"per-channel \(or group-wise\) schemes"):
        refine(quantize(base, images, "int8-per-tensor"), base, images, method="gptq")
    with pytest.raises(ValueError, match="integer-only scheme"):
        refine(quantize(base, images, "int4-weight-only"), base, images, accumulator=16)
    with pytest.raises(ValueError, match="unknown method"):
        refine(quantize(base, images, "int8-per-channel"), base, images, method="awq")
