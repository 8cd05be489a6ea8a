"""The cost model: bytes equal the bytes of the arrays really stored; MACs and BOPs by layer."""

from __future__ import annotations

import numpy as np
import pytest

from mixprec.formats import to_storage
from mixprec.nn import MLP
from mixprec.nn.compiled import tensor_scale
from mixprec.nn.cost import cost
from mixprec.nn.layered import LayerPolicy, entry_policy
from mixprec.quant import SCHEMES, quantize
from mixprec.quant.packing import pack_int4
from mixprec.quant.schemes import scheme_precision

SIZES = (12, 7, 5, 3)


def stored_arrays(model: MLP, entries: list[str]) -> list[np.ndarray]:
    """The arrays a serving file would keep for each layer: codes, weight scale, bias."""
    arrays = []
    for w, b, entry in zip(model.weights, model.biases, entries, strict=True):
        policy = entry_policy(entry)
        fmt = policy.weights.format
        scaled = str(policy.scaling.value) == "per_tensor"
        if fmt.name in ("int8", "int4"):
            s = tensor_scale(w, fmt)
            codes = np.clip(np.rint(w * np.float32(s)), -fmt.max, fmt.max).astype(np.int8)
            arrays.append(pack_int4(codes) if fmt.name == "int4" else codes)
            arrays.append(np.float32(s).reshape(()))
        else:
            arrays.append(to_storage(w, fmt))
            if scaled:
                arrays.append(np.float32(1.0).reshape(()))
        if b is not None:
            arrays.append(b.astype(np.float32))
    return arrays


@pytest.mark.parametrize(
    "entries",
    [
        ["fp32", "fp32", "fp32"],
        ["int8", "int8", "int8"],
        ["int4", "int4", "int4"],
        ["bf16", "fp8_e4m3", "int4"],
        ["fp8", "int8", "fp16"],
    ],
    ids=lambda e: "-".join(e),
)
def test_weight_bytes_are_the_bytes_of_the_stored_arrays(entries: list[str]) -> None:
    model = MLP(SIZES, seed=1)
    c = cost(model, entries)
    assert c.weight_bytes == sum(a.nbytes for a in stored_arrays(model, entries))
    assert cost(model, LayerPolicy.uniform(entries)).weight_bytes == c.weight_bytes


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_scheme_bytes_equal_the_quantized_model_arrays(scheme: str) -> None:
    model = MLP(SIZES, seed=2)
    x = np.random.default_rng(0).standard_normal((40, SIZES[0])).astype(np.float32)
    q = quantize(model, x, scheme=scheme)
    assert cost(model, scheme_precision(scheme)).weight_bytes == q.nbytes


@pytest.mark.parametrize(
    ("fmt", "bits"),
    [("mxfp4", 4), ("nvfp4", 4), ("mxfp8_e4m3", 8), ("mxfp6_e2m3", 6), ("mxint8", 8)],
)
def test_block_format_bytes_are_the_bytes_of_block_storage(fmt: str, bits: int) -> None:
    """Codes, one scale per block of 32 (16) along K per column, NVFP4's tensor scale: what
    ``to_storage`` of the weights blocked along their reduction axis holds (K = 70, 7, 5: the
    blocks are partial and the packed codes do not end on a byte boundary per column)."""
    from mixprec.formats.anyformat import to_storage as to_storage_any

    model = MLP((70, 7, 5, 3), seed=1)
    c = cost(model, fmt)
    for layer, w, b in zip(c.layers, model.weights, model.biases, strict=True):
        stored = to_storage_any(w, fmt, axis=0)
        assert layer.code_bytes + layer.scale_bytes == stored.nbytes
        assert layer.bias_bytes == (0 if b is None else b.astype(np.float32).nbytes)
        assert layer.bops == layer.macs * bits * bits  # element bits; scales once per block


@pytest.mark.parametrize("scheme", ["int4-weight-only:group=4", "int3-weight-only:group=5"])
def test_group_wise_scheme_bytes_equal_the_quantized_model_arrays(scheme: str) -> None:
    """A float32 scale per group of inputs of each output channel (partial last groups)."""
    model = MLP(SIZES, seed=2)
    x = np.random.default_rng(0).standard_normal((40, SIZES[0])).astype(np.float32)
    assert cost(model, scheme_precision(scheme)).weight_bytes == quantize(model, x, scheme).nbytes


def test_macs_bops_and_activation_bytes_by_layer() -> None:
    c = cost((784, 128, 32, 10), ["int4", "bf16", "fp32"], batch=4)
    assert [layer.macs for layer in c.layers] == [784 * 128, 128 * 32, 32 * 10]
    assert [layer.bops for layer in c.layers] == [784 * 128 * 16, 128 * 32 * 256, 320 * 1024]
    # int4 input packed two a byte plus its scale; bf16 2 B; fp32 4 B
    assert [layer.activation_bytes for layer in c.layers] == [
        4 * 784 // 2 + 4,
        4 * 128 * 2,
        4 * 32 * 4,
    ]
    assert c.macs == 104_768 and c.bops == sum(layer.bops for layer in c.layers)


def test_book_fp32_weights_are_the_books_count() -> None:
    assert cost(MLP.book(), "fp32").weight_bytes == 419_712


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="2 layer policies for a model of 3 layers"):
        cost(SIZES, ["fp32", "int8"])
    with pytest.raises(ValueError, match="batch must be an integer >= 1"):
        cost(SIZES, "fp32", batch=0)
    with pytest.raises(ValueError, match="unknown policy entry"):
        cost(SIZES, "fp9")
