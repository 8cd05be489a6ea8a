"""Train and serve entries of a sweep: what each name means, and checking them all up front.

A **train** entry is a trainable policy preset of ``mixprec.Policy.presets()``.

A **serve** entry is one of, tried in this order:

1. ``ptq:SCHEME[,option...]`` — post-training quantization of the trained model with
   ``mixprec.quant.quantize`` (e.g. ``ptq:int8-per-channel``, ``ptq:int4-weight-only:group=32``,
   ``ptq:int4-weight-only,method=gptq``,
   ``ptq:int8-per-channel,accumulator=int16,mac=int8->int16:wrap``, a scheme per layer
   ``ptq:int4-weight-only@1=int8-per-channel@3=int8-per-channel``),
   calibrated on the first ``PTQ_CALIBRATION`` training images, then served with the quantized
   model's own policy; ``qat:SCHEME[,option...]`` fine-tunes the model by quantization-aware
   training first (``qat:int4-per-channel,observer=mse,epochs=5``). The options are in
   :mod:`mixprec.experiments.quantized`.
2. a MAC override ``IN->ACC[:option...]`` (``int8->int16:wrap``, ``fp16->fp16``,
   ``fp16->fp16:chunked:64``; the notation of ``mixprec.mac.MAC.parse``) — the serving policy of
   the MAC's input format (the preset of that name if there is one, such as ``int8`` or
   ``bf16``, else the bare format policy below) with that MAC as its forward MAC.
3. a policy preset (``fp32``, ``bf16``, ``fp16``, ``fp8``, ``int8``, ...), served with its
   forward roles (weights, activations, forward MAC, scaling); or a policy per layer,
   ``BASE@LAYER=ENTRY...`` such as ``fp8@1=bf16@3=bf16`` (:mod:`mixprec.nn.layered`; checked
   before the MAC form, since an entry may hold a MAC: ``fp32@2=int8->int16:wrap``).
4. a format name (``fp8_e4m3``, ``fp8_e5m2``, ``e3m4``, ``int4``, ``mxfp6_e2m3``,
   ``nvfp4:tensor_scale=none``, ...) — weights and activations
   rounded to that format and multiplied exactly with float32 accumulation (``FMT->fp32``, order
   ``fast``). Float formats are used unscaled (a plain cast: values beyond the format's range
   saturate, tiny ones flush to its subnormals or zero; the ``fp8`` preset is the scaled
   alternative); integer formats get per-tensor symmetric scales and int32 accumulation, as the
   ``int8`` preset. Block formats (MX, NVFP4) quantize each operand along the matmul's
   reduction axis and multiply by the exact block MAC (``mxfp4->fp32``); MXFP8 E5M2, whose
   block dots the exact MAC cannot hold, by fp32 BLAS on the block values.

Names that are both a preset and a format (``fp32``, ``bf16``, ``fp16``, ``int8``, ``mxfp4``,
``nvfp4``) are presets.
``check`` resolves every entry of a sweep before anything runs and raises one error listing every
problem and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from mixprec._util.names import canonical
from mixprec.experiments.quantized import PTQ_CALIBRATION, QuantizedEntry
from mixprec.formats import BLOCK_FORMATS, FORMATS
from mixprec.formats.anyformat import get_format as get_any_format
from mixprec.mac import MAC
from mixprec.nn import Policy
from mixprec.nn.layered import LayerPolicy, format_policy
from mixprec.quant import SCHEMES

__all__ = [
    "PTQ_CALIBRATION",
    "ServeConfig",
    "check",
    "parse_serve",
    "serve_policy",
    "train_cost",
    "train_policy",
]


@dataclass(frozen=True)
class ServeConfig:
    """A parsed serve entry.

    Attributes:
        text: the entry as written in the sweep.
        kind: ``"ptq"``, ``"qat"``, ``"mac"``, ``"policy"`` or ``"format"`` (module doc).
        policy: the serving policy (``ptq``/``qat``: ``None``, the quantized model brings its
            own).
        scheme: the scheme, for ``ptq`` and ``qat``.
        quantized: the parsed ``ptq``/``qat`` entry (its options).
    """

    text: str
    kind: str
    policy: Policy | LayerPolicy | None = None
    scheme: str | None = None
    quantized: QuantizedEntry | None = None

    def __str__(self) -> str:
        return self.text


def _presets() -> dict[str, str]:
    return Policy.presets()


def _preset_key(name: str) -> str | None:
    key = canonical(name)
    return key if key in _presets() else None


def parse_serve(text: str) -> ServeConfig:
    """Resolve one serve entry (see the module doc).

    Raises:
        ValueError: the entry is none of the four kinds; the message lists what is allowed.
    """
    entry = text.strip()
    if entry.lower().startswith(("ptq:", "qat:")):
        try:
            quantized = QuantizedEntry.parse(entry)
        except ValueError as error:
            raise ValueError(
                f"serve entry {text!r}: {error} (the schemes are {', '.join(SCHEMES)}; write "
                f"{entry[:3].lower()}:SCHEME[,option...])"
            ) from None
        return ServeConfig(entry, quantized.kind, scheme=quantized.scheme, quantized=quantized)
    if "@" in entry:  # a policy per layer, BASE@LAYER=ENTRY (mixprec.nn.layered)
        try:
            layered = LayerPolicy.parse(entry)
        except ValueError as error:
            raise ValueError(f"serve entry {text!r}: {error}") from None
        return ServeConfig(entry, "policy", policy=layered)
    if "->" in entry:
        try:
            mac = MAC.parse(entry)
        except ValueError as error:
            raise ValueError(f"serve entry {text!r} is not a valid MAC: {error}") from None
        input_name = mac.input.name
        preset = _preset_key(input_name)
        base = Policy.preset(preset) if preset else format_policy(mac.input)
        return ServeConfig(entry, "mac", policy=base.with_mac(forward=mac))
    preset = _preset_key(entry)
    if preset is not None:
        return ServeConfig(entry, "policy", policy=Policy.preset(preset))
    try:
        fmt = get_any_format(entry)
    except ValueError:
        pass
    else:
        return ServeConfig(entry, "format", policy=format_policy(fmt))

    names = [*_presets(), *FORMATS, *BLOCK_FORMATS]
    close = difflib.get_close_matches(entry.lower(), names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"unknown serve entry {text!r}.{hint} A serve entry is a policy preset "
        f"({', '.join(_presets())}), a format name (e.g. fp8_e4m3, fp8_e5m2, e3m4, int4, mxfp4, "
        "nvfp4:tensor_scale=none; "
        "`mixprec formats` lists them), a MAC override such as int8->int16:wrap, fp16->fp16, "
        "bf16->fp32, or ptq:SCHEME."
    )


def serve_policy(text: str) -> Policy | LayerPolicy | None:
    """The serving policy of a serve entry (``None`` for ``ptq:``; see ``parse_serve``)."""
    return parse_serve(text).policy


def train_policy(text: str) -> Policy | LayerPolicy:
    """The policy of a train entry: a trainable preset, or one per layer (``fp8@1=bf16``).

    Raises:
        ValueError: not a preset, or a serving-only preset; the message lists the choices.
    """
    if "@" in text:
        layered = LayerPolicy.parse(text)
        for entry in (layered.base, *layered.overrides.values()):
            train_policy(entry)  # each entry a trainable preset
        return layered
    preset = _preset_key(text)
    trainable = [name for name in _presets() if Policy.preset(name).trainable]
    if preset is None:
        close = difflib.get_close_matches(text.strip().lower(), trainable, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown train policy {text!r}.{hint} The trainable presets are "
            f"{', '.join(trainable)}."
        )
    policy = Policy.preset(preset)
    if not policy.trainable:
        raise ValueError(
            f"train policy {text!r} is for serving only; train with one of "
            f"{', '.join(trainable)} and serve with {text!r}."
        )
    return policy


def train_cost(text: str) -> float:
    """A rough relative cost of training with a train entry, to start the longest cells first.

    One, plus one per emulated role: each format role (weights, activations, gradients,
    updates) that is not fp32, each MAC whose input is not fp32, and loss scaling; plus three
    for per-tensor scaling (every tensor is measured before it is rounded). Only the ranking
    matters, and only roughly: emulated policies start before plain fp32 ones, which fill the
    gaps at the end. An entry that does not resolve costs 1.
    """
    try:
        given = train_policy(text)
    except ValueError:
        return 1.0
    policy = given if isinstance(given, Policy) else Policy.preset(given.base)  # its base's
    formats = ("weights", "activations", "gradients", "updates")
    macs = ("forward_mac", "input_grad_mac", "weight_grad_mac")
    cost = 1.0 + sum(str(getattr(policy, role).format) != "fp32" for role in formats)
    cost += sum(getattr(policy, role).input.name != "fp32" for role in macs)
    cost += 3 * (str(getattr(policy.scaling, "value", policy.scaling)) != "none")
    cost += str(getattr(policy.loss_scaling, "value", policy.loss_scaling)) != "none"
    return cost


def check(train: Sequence[str], serve: Sequence[str]) -> None:
    """Resolve every train and serve entry; raise one error that lists every problem.

    Raises:
        ValueError: one line per bad entry.
    """
    problems = []
    for text in train:
        try:
            train_policy(text)
        except ValueError as error:
            problems.append(str(error))
    for text in serve:
        try:
            parse_serve(text)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise ValueError("the sweep has bad entries:\n  - " + "\n  - ".join(problems))
