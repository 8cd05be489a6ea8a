"""A precision per layer: a base policy with overrides for some layers, and its string form.

**String form** (accepted wherever a policy name is: ``--policy``, sweep entries, TOML)::

    BASE[@LAYER=ENTRY]...          e.g.  fp8@1=bf16@3=bf16    int8@2=int4    fp32@1=int8->int16:wrap

``BASE`` and each ``ENTRY`` are *policy entries*, with the meaning of a sweep's serve entries
(:func:`entry_policy`): a preset (``fp32``, ``bf16``, ``fp8``, ``int8``, ...), a format name
(``fp8_e4m3``, ``int4``, or a block format ``mxfp4``, ``mxfp8_e4m3:rceil``, ``nvfp4``: weights
and activations in that format; see :func:`format_policy`), or a MAC ``IN->ACC[:option...]``
(the policy of its input format with that forward MAC).
``LAYER`` counts from 1 (the first layer reads the image); an override gives that layer every
role of its entry's policy: the weights' format, the format of the layer's *input*
activations, the forward MAC and the scaling (and, in training, the gradient roles).

``@`` separates because it appears in no format, preset, MAC or PTQ name, means nothing to a
POSIX shell (no quoting needed unless an entry holds ``->``, which needs quotes anyway), and
leaves ``,`` to the comma-separated lists of sweeps and ``--formats``. ``str`` gives the
canonical form (overrides by layer, each entry canonical, overrides equal to the base dropped)
and ``LayerPolicy.parse(str(p)) == p``.

>>> p = LayerPolicy.parse("fp8@3=bf16@1=BF16")
>>> str(p), p.layer(2).name, p.layer(3).name
('fp8@1=bf16@3=bf16', 'fp8', 'bf16')
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixprec._util.names import canonical
from mixprec.formats import BLOCK_FORMATS, FORMATS, BlockFormat, IntFormat
from mixprec.formats.anyformat import get_format
from mixprec.mac import MAC
from mixprec.nn.compiled import Numerics, Scaled
from mixprec.nn.layers import affine_forward, relu_forward
from mixprec.nn.policy import Policy

__all__ = [
    "SEPARATOR",
    "LayerPolicy",
    "canonical_entry",
    "entry_numerics",
    "entry_policy",
    "format_policy",
    "join_layers",
    "layer_output",
    "parse_policy",
    "split_layers",
]

SEPARATOR = "@"


def _preset_key(name: str) -> str | None:
    key = canonical(name)
    return key if key in Policy.presets() else None


def format_policy(fmt: Any) -> Policy:
    """Weights and activations in ``fmt``, exact products, fp32 accumulation, serving only.

    Integer formats get per-tensor symmetric scales and an int32 accumulator (as the ``int8``
    preset); float formats are a plain cast (no scale: beyond the range saturates, tiny values
    flush to the subnormals or zero; the ``fp8`` preset is the scaled E4M3 alternative); block
    formats (OCP MX v1.0, NVFP4) bring their block scales, blocked along the matmul's K axis,
    and the exact block MAC ``FMT->fp32`` (one rounding per block into fp32, as the ``mxfp4``
    and ``nvfp4`` presets; :mod:`mixprec.mac.blockscaled`); MXFP8 E5M2, whose block dots the
    exact MAC cannot hold in float64, multiplies its block values by fp32 BLAS instead.
    """
    fmt = get_format(fmt)
    if isinstance(fmt, BlockFormat):
        try:
            mac = MAC.parse(f"{fmt}->fp32")
        except ValueError:  # E5M2 elements: no exact block MAC
            mac = MAC(input="fp32", accumulator="fp32", order="fast")
        return Policy(weights=fmt, activations=fmt, forward_mac=mac, trainable=False)
    if isinstance(fmt, IntFormat):
        return Policy(
            weights=fmt, activations=fmt, forward_mac=MAC(input=fmt, accumulator="int32"),
            scaling="per_tensor", trainable=False,
        )  # fmt: skip
    return Policy(
        weights=fmt, activations=fmt, forward_mac=MAC(input=fmt, accumulator="fp32", order="fast"),
        trainable=False,
    )  # fmt: skip


def _unknown(text: str) -> ValueError:
    names = [*Policy.presets(), *FORMATS, *BLOCK_FORMATS]
    close = difflib.get_close_matches(text.lower(), names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(
        f"unknown policy entry {text!r}.{hint} Presets: {', '.join(Policy.presets())}; or a "
        "format name (fp8_e4m3, int4, mxfp4, ...; `mixprec formats` lists them), or a MAC such as "
        "int8->int16:wrap; per layer: BASE@LAYER=ENTRY, e.g. fp8@1=bf16@3=bf16."
    )


def canonical_entry(text: str) -> str:
    """The canonical spelling of a policy entry (a preset key, a format name or a MAC's str).

    Raises:
        ValueError: not an entry; the message lists what is allowed.
    """
    entry = text.strip()
    if "->" in entry:
        try:
            return str(MAC.parse(entry))
        except ValueError as error:
            raise ValueError(f"policy entry {text!r} is not a valid MAC: {error}") from None
    preset = _preset_key(entry)
    if preset is not None:
        return preset
    try:
        fmt = get_format(entry)
    except ValueError:
        raise _unknown(text) from None
    return str(fmt) if isinstance(fmt, BlockFormat) else fmt.name  # str keeps a block's options


def entry_policy(text: str) -> Policy:
    """The ``Policy`` of one entry (see the module docstring).

    Raises:
        ValueError: not an entry.
    """
    entry = canonical_entry(text)
    if "->" in entry:
        mac = MAC.parse(entry)
        inputs = mac.input
        preset = _preset_key(str(inputs) if isinstance(inputs, BlockFormat) else inputs.name)
        base = Policy.preset(preset) if preset else format_policy(mac.input)
        return base.with_mac(forward=mac)
    preset = _preset_key(entry)
    return Policy.preset(preset) if preset is not None else format_policy(entry)


@dataclass(frozen=True)
class LayerPolicy:
    """A base policy entry and per-layer override entries (see the module docstring).

    Args:
        base: the entry of every layer without an override.
        overrides: ``{layer: entry}``, layers from 1.

    Raises:
        ValueError: a layer below 1, an unknown entry.
    """

    base: str
    overrides: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        base = canonical_entry(self.base)
        clean: dict[int, str] = {}
        for layer, text in sorted(self.overrides.items()):
            if isinstance(layer, bool) or not isinstance(layer, int) or layer < 1:
                raise ValueError(f"layer {layer!r}: layers count from 1 (the input layer is 1)")
            entry = canonical_entry(text)
            if entry != base:
                clean[layer] = entry
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "overrides", clean)

    @classmethod
    def parse(cls, text: str | LayerPolicy) -> LayerPolicy:
        """The per-layer policy of a string such as ``"fp8@1=bf16@3=bf16"``.

        Raises:
            ValueError: a malformed override, a repeated layer, an unknown entry.
        """
        if isinstance(text, LayerPolicy):
            return text
        return cls(*split_layers(str(text), "policy", "1=bf16"))

    @classmethod
    def uniform(cls, entries: list[str] | tuple[str, ...]) -> LayerPolicy:
        """The policy giving layer ``i + 1`` the entry ``entries[i]`` (base: the most common)."""
        canon = [canonical_entry(e) for e in entries]
        base = max(dict.fromkeys(canon), key=canon.count)  # most common, first seen on ties
        return cls(base, {i + 1: e for i, e in enumerate(canon) if e != base})

    def entry(self, layer: int) -> str:
        """The entry of a layer (from 1)."""
        return self.overrides.get(layer, self.base)

    def layer(self, layer: int) -> Policy:
        """The ``Policy`` of a layer (from 1)."""
        return entry_policy(self.entry(layer))

    def check(self, n_layers: int) -> None:
        """Raise ``ValueError`` when an override names a layer the model does not have."""
        beyond = [layer for layer in self.overrides if layer > n_layers]
        if beyond:
            raise ValueError(
                f"policy {self}: layer {beyond[0]} is overridden but the model has {n_layers} "
                f"layers (1..{n_layers})"
            )

    @property
    def is_uniform(self) -> bool:
        """True without overrides."""
        return not self.overrides

    def __str__(self) -> str:
        return join_layers(self.base, self.overrides)


def split_layers(text: str, what: str, example: str) -> tuple[str, dict[int, str]]:
    """``"BASE@L=ENTRY@..."`` split into the base and ``{layer: entry}`` (entries unchecked);
    the one parser of the per-layer strings of policies and quantization schemes.

    Args:
        text: the string; what: ``"policy"`` or ``"scheme"``, for the message; example: an
            override to show in it (``"1=bf16"``).

    Raises:
        ValueError: a malformed override, a repeated layer.

    >>> split_layers("int4-weight-only@3=int8-per-channel@1=int8", "scheme", "1=int8")
    ('int4-weight-only', {3: 'int8-per-channel', 1: 'int8'})
    """
    base, *parts = text.split(SEPARATOR)
    overrides: dict[int, str] = {}
    for part in parts:
        layer, sep, entry = part.partition("=")
        if not sep or not layer.strip().isdigit() or not entry.strip():
            raise ValueError(
                f"{what} {text!r}: override {part!r} is not LAYER=ENTRY (e.g. {example}, "
                "layers from 1)"
            )
        number = int(layer)
        if number in overrides:
            raise ValueError(f"{what} {text!r}: layer {number} is overridden twice")
        overrides[number] = entry
    return base, overrides


def join_layers(base: str, overrides: dict[int, str]) -> str:
    """The string of a base and its overrides (in the order given): ``split_layers``' inverse."""
    return base + "".join(f"{SEPARATOR}{k}={v}" for k, v in overrides.items())


def parse_policy(text: str | Policy | LayerPolicy) -> Policy | LayerPolicy:
    """A ``Policy`` for a uniform preset, else a ``LayerPolicy`` (per layer, or a format/MAC).

    Raises:
        ValueError: not a policy.
    """
    if isinstance(text, (Policy, LayerPolicy)):
        return text
    layered = LayerPolicy.parse(text)
    if layered.is_uniform and _preset_key(layered.base) is not None:
        return Policy.preset(layered.base)
    return layered


@functools.lru_cache(maxsize=64)
def entry_numerics(entry: str) -> Numerics:
    """The compiled ``Numerics`` of a policy entry, without event counts (cached: serving many
    assignments compiles each entry once)."""
    return Numerics(entry_policy(entry), count_events=False)


def layer_output(
    numerics: Numerics | str,
    layer: int,
    weights: np.ndarray,
    bias: np.ndarray | None,
    inputs: np.ndarray,
    last: bool,
    batch_size: int = 1000,
    weight_copy: Scaled | None = None,
) -> np.ndarray:
    """One layer served under its ``Numerics``: round input and weights, MAC, bias, ReLU.

    The operations of :func:`mixprec.nn.passes.forward` for this layer, batch by batch (each
    batch's input gets its own per-tensor scale), so serving a model layer by layer with each
    layer's own policy gives the numbers of a per-layer policy.

    Args:
        numerics: the layer's compiled policy, or a policy entry (:func:`entry_numerics`).
        layer: the layer's number, from 1 (it labels the events).
        weights, bias: the layer's float parameters.
        inputs: the layer's float32 input, every row (the previous layer's output).
        last: no ReLU (the logits).
        batch_size: rows per batch.
        weight_copy: the weights already rounded by ``numerics`` (skips rounding them again).

    Returns:
        float32 ``(rows, out)``.
    """
    if isinstance(numerics, str):
        numerics = entry_numerics(numerics)
    w = weight_copy if weight_copy is not None else numerics.weights.scaled(weights, layer)
    matmul = functools.partial(numerics.matmul, "forward", layer)
    out = np.empty((len(inputs), weights.shape[1]), np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN are counted in events
        for lo in range(0, len(inputs), batch_size):
            x = numerics.activations.scaled(inputs[lo : lo + batch_size], layer)
            z = affine_forward(x, w, bias, matmul=matmul)
            out[lo : lo + batch_size] = z if last else relu_forward(z, inplace=True)
    return out
