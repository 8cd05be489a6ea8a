"""Serving cost of an MLP with a precision per layer: stored bytes, activation bytes, MACs, BOPs.

Per layer ``l`` with ``n_in`` inputs, ``n_out`` outputs, a weight format of ``b_w`` bits and an
activation format (of the layer's input, the tensor that feeds its MAC) of ``b_a`` bits:

* **weight bytes** (as stored): the weight codes packed along the reduction axis, each column
  of ``n_in`` codes in ``ceil(n_in * b_w / 8)`` bytes (int4: two codes a byte, as
  :func:`mixprec.quant.packing.pack_int4`; 8, 16 and 32-bit formats: one code per element, as
  :func:`mixprec.formats.to_storage`; block formats: all codes of the tensor in one packed run,
  as :class:`mixprec.formats.BlockStorage`), plus the scales, plus the bias;
* **scale bytes**: one float32 (4 B) per weight tensor when the layer's policy scales per
  tensor (integer formats always do), one per output channel for a per-channel scheme, and for
  a block-scaled format one scale per block of ``block_size`` codes along ``n_in``, at the
  scale format's bits;
* **bias bytes**: 4 B per bias value: biases are added to the MAC's result in float32 (or as an
  int32 in an integer scheme), never in the weight format;
* **activation bytes** at batch ``N``: the layer's input, ``N * n_in`` values packed at
  ``b_a`` bits, plus a 4 B float32 scale when it is scaled per tensor (computed per batch:
  dynamic quantization);
* **MACs** per sample: ``n_in * n_out``;
* **BOPs** (bit operations) per sample: ``MACs * b_w * b_a``, the measure of HAWQ-V3 (Yao et
  al. 2021, section 3.4) and Brevitas. A block-scaled format counts its element bits (its shared
  scale is applied once per block, not per product).

Totals are the sums over layers. fp32 everywhere for the book's MLP: 419,712 B of weight codes
(the book's 420 KB, where the biases are counted at 4 B too), 104,768 MACs.

>>> c = cost((784, 128, 32, 10), "fp32")
>>> c.weight_bytes, c.macs, c.bops == 104_768 * 32 * 32
(419712, 104768, True)
>>> cost((784, 128, 32, 10), "int8").weight_bytes  # 104,768 codes + 3 scales + 160 biases
105420
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from mixprec.formats import BlockFormat, Format, IntFormat
from mixprec.formats.block import TensorScale
from mixprec.nn.layered import entry_policy
from mixprec.nn.model import MLP
from mixprec.nn.policy import Policy

__all__ = ["Cost", "LayerCost", "LayerPrecision", "cost", "layer_precision"]

SCALE_BYTES = 4  # a float32 scale
BIAS_BYTES = 4  # a float32 (or int32) bias value


@dataclass(frozen=True)
class LayerPrecision:
    """What the cost model needs to know of one layer's precision.

    Attributes:
        weights: the weight format.
        activations: the format of the layer's input.
        weight_scales: ``"none"``, ``"tensor"`` or ``"channel"`` (block formats bring their own).
        weight_group: with ``"channel"``, a scale per ``weight_group`` inputs of each output
            channel (group-wise schemes: ``ceil(n_in / weight_group)`` float32 scales a column).
        activation_scaled: the input carries a per-tensor scale.
        static_input_bytes: bytes of stored input quantization parameters (a calibrated
            scale and zero point, as post-training quantization keeps them), counted in the
            layer's scale bytes.
    """

    weights: Format | BlockFormat
    activations: Format | BlockFormat
    weight_scales: str = "none"
    weight_group: int | None = None
    activation_scaled: bool = False
    static_input_bytes: int = 0

    def __post_init__(self) -> None:
        if self.weight_scales not in ("none", "tensor", "channel"):
            raise ValueError(
                f"weight_scales={self.weight_scales!r}: use 'none', 'tensor' or 'channel'"
            )


def layer_precision(policy: Policy | str | LayerPrecision) -> LayerPrecision:
    """The :class:`LayerPrecision` of a serving policy, or of a policy entry (``"int8"``,
    ``"fp8_e4m3"``, ``"bf16"``: see :func:`mixprec.nn.layered.entry_policy`).

    Integer formats and ``scaling="per_tensor"`` give a per-tensor weight scale and a scaled
    input.
    """
    if isinstance(policy, LayerPrecision):
        return policy
    p = policy if isinstance(policy, Policy) else entry_policy(policy)
    w, a = p.specs()["weights"], p.specs()["activations"]
    weights, activations = w.format, a.format
    return LayerPrecision(
        weights=weights,
        activations=activations,
        weight_scales="tensor" if w.is_scaled or isinstance(weights, IntFormat) else "none",
        activation_scaled=a.is_scaled or isinstance(activations, IntFormat),
    )


def _element_bits(fmt: Format | BlockFormat) -> int:
    """Bits of one stored element (a block format's element format's bits)."""
    element = getattr(fmt, "element", None)
    return int(element.bits) if element is not None else int(fmt.bits)


def _block_scale_bytes(fmt: Format | BlockFormat, n_in: int, n_out: int) -> int:
    """Bytes of a block-scaled format's scales: one per block along ``n_in`` of each of the
    ``n_out`` columns, at the scale format's bits (a byte: E8M0, E4M3), and NVFP4's float32
    tensor scale (as :class:`mixprec.formats.BlockStorage` stores them)."""
    if not isinstance(fmt, BlockFormat):
        return 0
    blocks = -(-n_in // fmt.block_size)
    scales = -(-blocks * fmt.scale.bits * n_out // 8)
    return scales + (SCALE_BYTES if fmt.tensor_scale is not TensorScale.NONE else 0)


def _code_bytes(fmt: Format | BlockFormat, n_in: int, n_out: int) -> int:
    """Bytes of the element codes of an ``(n_in, n_out)`` tensor: packed by column along
    ``n_in`` (element formats), or in one run in C order (block formats, as
    :class:`mixprec.formats.BlockStorage` packs them)."""
    bits = _element_bits(fmt)
    if isinstance(fmt, BlockFormat):
        return _packed(n_in * n_out, 1, bits)
    return _packed(n_in, n_out, bits)


def _packed(values_per_column: int, columns: int, bits: int) -> int:
    return -(-values_per_column * bits // 8) * columns


@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer (see the module docstring); bytes are exact integers."""

    layer: int
    n_in: int
    n_out: int
    weights: str
    activations: str
    code_bytes: int
    scale_bytes: int
    bias_bytes: int
    activation_bytes: int
    macs: int
    bops: int

    @property
    def weight_bytes(self) -> int:
        """Stored bytes of the layer: codes, scales and bias."""
        return self.code_bytes + self.scale_bytes + self.bias_bytes


def _layer_cost(
    layer: int, n_in: int, n_out: int, has_bias: bool, p: LayerPrecision, batch: int
) -> LayerCost:
    w_bits, a_bits = _element_bits(p.weights), _element_bits(p.activations)
    scales = _block_scale_bytes(p.weights, n_in, n_out)
    groups = 1 if p.weight_group is None else -(-n_in // p.weight_group)
    per_kind = {"none": 0, "tensor": SCALE_BYTES, "channel": SCALE_BYTES * n_out * groups}
    scales += per_kind[p.weight_scales]
    scales += p.static_input_bytes
    activation = _packed(batch * n_in, 1, a_bits)
    activation += _block_scale_bytes(p.activations, n_in, batch)
    activation += SCALE_BYTES if p.activation_scaled else 0
    macs = n_in * n_out
    return LayerCost(
        layer=layer,
        n_in=n_in,
        n_out=n_out,
        weights=p.weights.name,
        activations=p.activations.name,
        code_bytes=_code_bytes(p.weights, n_in, n_out),
        scale_bytes=scales,
        bias_bytes=BIAS_BYTES * n_out if has_bias else 0,
        activation_bytes=activation,
        macs=macs,
        bops=macs * w_bits * a_bits,
    )


@dataclass(frozen=True)
class Cost:
    """The cost of a model under a precision per layer: the layers and their totals."""

    layers: tuple[LayerCost, ...]
    batch: int

    @property
    def weight_bytes(self) -> int:
        """Stored bytes of every layer (codes, scales, biases)."""
        return sum(c.weight_bytes for c in self.layers)

    @property
    def activation_bytes(self) -> int:
        """Bytes of every layer's input at the batch size."""
        return sum(c.activation_bytes for c in self.layers)

    @property
    def macs(self) -> int:
        """MACs per sample."""
        return sum(c.macs for c in self.layers)

    @property
    def bops(self) -> int:
        """Bit operations per sample."""
        return sum(c.bops for c in self.layers)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: totals and one dict per layer."""
        return {
            "batch": self.batch,
            "weight_bytes": self.weight_bytes,
            "activation_bytes": self.activation_bytes,
            "macs": self.macs,
            "bops": self.bops,
            "layers": [asdict(c) | {"weight_bytes": c.weight_bytes} for c in self.layers],
        }

    def table(self) -> str:
        """A Markdown table, one row per layer and a total."""
        lines = [
            "| layer | shape | weights | activations | weight B (codes + scales + bias) | "
            f"activation B (batch {self.batch}) | MACs | BOPs |",
            "|---|---|---|---|---:|---:|---:|---:|",
        ]
        for c in self.layers:
            lines.append(
                f"| {c.layer} | {c.n_in}x{c.n_out} | {c.weights} | {c.activations} | "
                f"{c.weight_bytes:,} ({c.code_bytes:,} + {c.scale_bytes:,} + {c.bias_bytes:,}) | "
                f"{c.activation_bytes:,} | {c.macs:,} | {c.bops:,} |"
            )
        lines.append(
            f"| total | | | | {self.weight_bytes:,} | {self.activation_bytes:,} | "
            f"{self.macs:,} | {self.bops:,} |"
        )
        return "\n".join(lines)


def _layer_policies(policy: Any, n_layers: int) -> list[LayerPrecision]:
    """One ``LayerPrecision`` per layer from a policy, a per-layer policy or a sequence."""
    if isinstance(policy, (str, Policy, LayerPrecision)):
        return [layer_precision(policy)] * n_layers
    layer = getattr(policy, "layer", None)
    if callable(layer):  # a per-layer policy: layer(i) is the Policy of layer i (from 1)
        return [layer_precision(layer(i)) for i in range(1, n_layers + 1)]
    chosen = list(policy)
    if len(chosen) != n_layers:
        raise ValueError(
            f"{len(chosen)} layer policies for a model of {n_layers} layers; give one per layer "
            "or a single policy for all"
        )
    return [layer_precision(p) for p in chosen]


def cost(
    model: MLP | Sequence[int],
    policy: Any = "fp32",
    batch: int = 1,
    output_bias: bool = False,
) -> Cost:
    """The serving cost of ``model`` under ``policy`` (see the module docstring).

    Args:
        model: an ``MLP`` or its layer sizes, input first.
        policy: a ``Policy`` or preset name for every layer; a sequence of them, one per layer
            (or of ``LayerPrecision``); or a per-layer policy (an object whose ``layer(i)`` is
            the ``Policy`` of layer ``i``, counting from 1).
        batch: the batch size of the activation bytes.
        output_bias: with sizes only: whether the last layer has a bias.

    Returns:
        A :class:`Cost`.

    Raises:
        ValueError: a batch below 1, a policy count that is not the layer count, an unknown
            policy.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    if isinstance(model, MLP):
        sizes = model.sizes
        has_bias = [b is not None for b in model.biases]
    else:
        sizes = tuple(int(s) for s in model)
        has_bias = [True] * (len(sizes) - 2) + [output_bias]
    if len(sizes) < 2:
        raise ValueError(f"a model needs at least two layer sizes, got {sizes}")
    precisions = _layer_policies(policy, len(sizes) - 1)
    layers = tuple(
        _layer_cost(i + 1, n_in, n_out, has_bias[i], precisions[i], batch)
        for i, (n_in, n_out) in enumerate(pairwise(sizes))
    )
    return Cost(layers=layers, batch=batch)
