"""Quantization schemes: the formats and granularity of a quantized model's weights and inputs.

A scheme names the formats and the granularity (see :data:`SCHEMES`):

==========================  =====================================================================
``int8-per-tensor``         int8 weights, one symmetric scale per weight matrix; int8 activations,
                            symmetric (zero point 0); int32 biases
``int8-per-channel``        as above with one weight scale per output channel
``int8-per-tensor-asym``    int8 activations asymmetric: a scale and a zero point per tensor
``int8-per-channel-asym``   per-channel weights, asymmetric activations
``fp8_e4m3``, ``fp8_e5m2``  OCP FP8 weights and activations, per-tensor float32 scales that map
                            the calibrated largest magnitude to the format's max; fp32 biases
``fp8_e4m3-per-channel``,   the same with one weight scale per output channel
``fp8_e5m2-per-channel``
``int4-weight-only``        int4 weights (-7..7), one scale per output channel, packed two per
                            byte; float32 activations and biases
``int3-weight-only``,       int3 (-3..3) and int2 (-1..1) weights the same way, packed as a bit
``int2-weight-only``        stream of 3 or 2 bits per code (:mod:`mixprec.quant.packing`)
``int4-per-channel``        W4A4: int4 weights (-7..7) per output channel, int4 activations
                            (-8..7) per tensor, symmetric; int32 biases; served integer-only
``int4-per-channel-asym``   the same with asymmetric int4 activations (a zero point per tensor)
``int4-per-channel-a8``     W4A8: int4 weights per output channel, int8 activations per tensor
``mxfp8``, ``mxfp4``,       block-scaled weights and activations (OCP MX v1.0 MXFP8 E4M3 and
``nvfp4``                   MXFP4, NVIDIA NVFP4), blocks along each matmul's K axis, served by
                            the exact block MAC (``mxfp4->fp32``); fp32 biases. Weight codes and
                            scales are static; activation block scales are computed per batch
                            (each row's blocks: per sample); NVFP4's activation tensor scale is
                            calibrated (static), see :mod:`mixprec.quant.blockptq`
``mxfp8-weight-only``,      the same block weights, float32 activations (as ``int4-weight-only``)
``mxfp4-weight-only``,
``nvfp4-weight-only``
==========================  =====================================================================

A weight-only integer scheme takes a **group size** as a parameter, parsed by name:
``int4-weight-only:group=32`` (also ``int3-``, ``int2-``; any size >= 1): one scale per output
channel and group of that many consecutive inputs (:mod:`mixprec.quant.groupwise`; the last
group is shorter when the size does not divide the fan-in, e.g. 784 = 24 * 32 + 16; a size at
least the fan-in is one group, i.e. per channel).

Integer-only serving carries int4 codes in int8 containers: the MAC (``int8->int32``) sees the
same integers, so the products and sums are exact, and the requantization clamps to the
activation format's range (-8..7 for int4).

A :class:`Scheme` is validated when it is built: only the combinations the serving paths
(:mod:`mixprec.quant.serving`) run as declared are accepted, so a scheme never silently serves
otherwise than it says.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from mixprec._util.names import canonical
from mixprec.formats import (
    FP8_E4M3,
    FP8_E5M2,
    FP32,
    INT4,
    INT8,
    FloatFormat,
    Format,
    IntFormat,
    Overflow,
    Rounding,
)
from mixprec.formats.anyformat import get_format as get_any_format
from mixprec.formats.block import BlockFormat, TensorScale, get_block_format
from mixprec.mac.blockscaled import BlockMAC
from mixprec.nn.cost import SCALE_BYTES, LayerPrecision
from mixprec.nn.spec import Granularity, TensorSpec

__all__ = ["SCHEMES", "Scheme", "scheme_precision"]

INT3, INT2 = IntFormat(name="int3", bits=3), IntFormat(name="int2", bits=2)

#: The weight formats a scheme may use.
WEIGHT_FORMATS = (INT8, INT4, INT3, INT2, FP8_E4M3, FP8_E5M2)

#: The formats of integer-only schemes' weights and activations (codes fit int8 containers).
INTEGER_ONLY_FORMATS = (INT8, INT4)


@dataclass(frozen=True, kw_only=True)
class Scheme:
    """A quantization scheme: formats and granularity of weights and activations.

    Args:
        name: the short name (``int8-per-channel``, ...).
        weights: format of the weights (int8, int4, fp8_e4m3, fp8_e5m2, or a block format:
            ``mxfp8_e4m3``, ``mxfp4``, ``nvfp4``, ...), or its name.
        per_channel: one weight scale per output channel (else one per matrix; block formats:
            ``False``, they bring their own scales).
        activations: format of every layer's input, or ``None`` (weight-only: float32): int8
            with int8 weights (served integer-only), the weights' fp8 format, or the weights'
            block format (served by the exact block MAC).
        symmetric_activations: activation zero point 0; else a zero point per tensor (integer
            activations only).
        group_size: weight-only integer schemes: one weight scale per output channel and group
            of this many inputs (``None``: per channel or per tensor).

    Raises:
        ValueError: a format or combination the serving paths cannot run as declared; the
            message says which combinations exist.
    """

    name: str
    weights: Format | BlockFormat
    per_channel: bool
    activations: Format | BlockFormat | None
    symmetric_activations: bool = True
    group_size: int | None = None

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "weights", get_any_format(self.weights))
        if self.activations is not None:
            put(self, "activations", get_any_format(self.activations))
        if not isinstance(self.per_channel, bool):
            raise TypeError(f"per_channel must be True or False, got {self.per_channel!r}")
        if isinstance(self.weights, BlockFormat) or isinstance(self.activations, BlockFormat):
            _check_block(self)
            return
        weights, activations = self.weights, self.activations
        if weights not in WEIGHT_FORMATS:
            allowed = ", ".join(f.name for f in WEIGHT_FORMATS)
            raise ValueError(f"Scheme {self.name!r}: weights {weights.name}; use one of {allowed}")
        if activations is None:
            ok = True
        elif isinstance(weights, FloatFormat):
            ok = activations == weights and self.symmetric_activations
        else:
            ok = weights in INTEGER_ONLY_FORMATS and activations in INTEGER_ONLY_FORMATS
        self._check_group()
        if not ok:
            raise ValueError(
                f"Scheme {self.name!r}: weights {weights.name} with activations "
                f"{activations.name if activations else None}"
                f"{'' if self.symmetric_activations else ' (asymmetric)'} cannot be served as "
                "declared; use int8 or int4 weights with int8 or int4 activations "
                "(integer-only), fp8 weights with the same fp8 activations (symmetric), or "
                "activations=None (weight-only)"
            )

    def _check_group(self) -> None:
        size = self.group_size
        if size is None:
            return
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(
                f"Scheme {self.name!r}: group_size must be an integer >= 1, got {size!r}"
            )
        if self.activations is not None or not isinstance(self.weights, IntFormat):
            raise ValueError(
                f"Scheme {self.name!r}: group-wise weights with {self.activations} activations "
                "cannot be served as declared; group-wise scales are for weight-only integer "
                "schemes (int4-weight-only:group=32, ...): integer-only serving needs one scale "
                "per output channel"
            )
        if not self.per_channel:
            raise ValueError(f"Scheme {self.name!r}: group-wise scales are per output channel too")

    @classmethod
    def from_specs(
        cls,
        name: str,
        weights: TensorSpec,
        activations: TensorSpec | None,
        symmetric_activations: bool = True,
    ) -> Scheme:
        """A scheme from the :class:`~mixprec.nn.TensorSpec` of its weights and layer inputs.

        Args:
            name: the scheme's name.
            weights: per-tensor or per-channel scaling, saturating, round-to-nearest-even.
            activations: per-tensor scaling, saturating, round-to-nearest-even; or ``None``
                (weight-only: float32 inputs).
            symmetric_activations: zero point 0 (else one per tensor; int8 only).

        Raises:
            ValueError: a spec the quantized model cannot serve as declared (other scaling,
                overflow or rounding), or a combination :class:`Scheme` refuses.
        """
        allowed: dict[str, tuple[Granularity, ...]] = {
            "weights": (Granularity.PER_TENSOR, Granularity.PER_CHANNEL, Granularity.PER_GROUP),
            "activations": (Granularity.PER_TENSOR,),
        }
        for role, spec in (("weights", weights), ("activations", activations)):
            if spec is None:
                continue
            if (
                spec.scaling not in ((Granularity.NONE,) if spec.is_block else allowed[role])
                or spec.overflow is not Overflow.SATURATE
                or spec.rounding is not Rounding.NEAREST_EVEN
            ):
                raise ValueError(
                    f"Scheme {name!r}: {role} {spec!r} cannot be served as declared; "
                    f"quantized {role} use scaling {' or '.join(g.value for g in allowed[role])} "
                    "(block formats: none), overflow 'saturate' and rounding 'nearest_even'"
                )
        grouped = weights.scaling is Granularity.PER_GROUP
        return cls(
            name=name, weights=weights.format,
            per_channel=grouped or weights.scaling is Granularity.PER_CHANNEL,
            activations=None if activations is None else activations.format,
            symmetric_activations=symmetric_activations,
            group_size=weights.group_size if grouped else None,
        )  # fmt: skip

    @property
    def weight_spec(self) -> TensorSpec:
        """The weights' :class:`~mixprec.nn.TensorSpec`."""
        if isinstance(self.weights, BlockFormat):
            return TensorSpec(format=self.weights)
        if self.group_size is not None:
            return TensorSpec(
                format=self.weights, scaling=Granularity.PER_GROUP, group_size=self.group_size
            )
        scaling = Granularity.PER_CHANNEL if self.per_channel else Granularity.PER_TENSOR
        return TensorSpec(format=self.weights, scaling=scaling)

    @property
    def activation_spec(self) -> TensorSpec | None:
        """The layer inputs' :class:`~mixprec.nn.TensorSpec` (``None``: weight-only)."""
        if self.activations is None:
            return None
        if isinstance(self.activations, BlockFormat):
            return TensorSpec(format=self.activations)
        return TensorSpec(format=self.activations, scaling=Granularity.PER_TENSOR)

    @property
    def is_block(self) -> bool:
        """Block-scaled weights (MX, NVFP4): served by :mod:`mixprec.quant.blockptq`."""
        return isinstance(self.weights, BlockFormat)

    @property
    def block(self) -> BlockFormat:
        """The block format of a block scheme's weights (and activations).

        Raises:
            ValueError: the scheme is not block-scaled.
        """
        if not isinstance(self.weights, BlockFormat):
            raise ValueError(f"scheme {self.name} is not block-scaled (weights {self.weights})")
        return self.weights

    @property
    def is_integer(self) -> bool:
        """Integer weights and activations (int8 or int4): the integer-only path exists."""
        return self.activations is not None and self.activations in INTEGER_ONLY_FORMATS

    @property
    def is_weight_only(self) -> bool:
        """Weights quantized, activations float32."""
        return self.activations is None

    @classmethod
    def parse(cls, name: Scheme | str) -> Scheme:
        """The scheme of a name (case, ``_`` and ``-`` ignored), with an optional group size:
        ``int4-weight-only:group=32``.

        Raises:
            ValueError: an unknown name or parameter; the message lists the schemes and the
                closest one.
        """
        if isinstance(name, Scheme):
            return name
        base, _, params = str(name).partition(":")
        if params:
            return _grouped(cls.parse(base), params, str(name))
        key = canonical(name)
        for known, scheme in SCHEMES.items():
            if canonical(known) == key:
                return scheme
        close = difflib.get_close_matches(str(name), list(SCHEMES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown quantization scheme {name!r}; known schemes: {', '.join(SCHEMES)}.{hint}"
        )

    def __str__(self) -> str:
        return self.name


def _grouped(base: Scheme, params: str, text: str) -> Scheme:
    """``base`` with the group size of ``params`` (``group=N``)."""
    key, _, value = params.partition("=")
    if canonical(key) != "group" or not value.strip().isdigit() or int(value) < 1:
        raise ValueError(
            f"scheme {text!r}: the parameter {params!r} is not group=N with N >= 1; write e.g. "
            "int4-weight-only:group=32"
        )
    size = int(value)
    if not base.is_weight_only or base.group_size is not None:
        grouped = ", ".join(n for n, s in SCHEMES.items() if s.is_weight_only)
        raise ValueError(
            f"scheme {text!r}: group sizes are for the weight-only integer schemes ({grouped}), "
            f"not {base.name}"
        )
    return Scheme.from_specs(
        f"{base.name}:group={size}",
        TensorSpec(format=base.weights, scaling=Granularity.PER_GROUP, group_size=size),
        None,
    )


def _schemes() -> dict[str, Scheme]:
    """The shipped schemes, each built from the specs of its weights and inputs."""
    tensor, channel = Granularity.PER_TENSOR, Granularity.PER_CHANNEL
    out: dict[str, Scheme] = {}
    for label, granularity in (("per-tensor", tensor), ("per-channel", channel)):
        for suffix, symmetric in (("", True), ("-asym", False)):
            name = f"int8-{label}{suffix}"
            out[name] = Scheme.from_specs(
                name, TensorSpec(format=INT8, scaling=granularity),
                TensorSpec(format=INT8, scaling=tensor), symmetric,
            )  # fmt: skip
    for fmt in (FP8_E4M3, FP8_E5M2):
        for suffix, granularity in (("", tensor), ("-per-channel", channel)):
            name = f"{fmt.name}{suffix}"
            out[name] = Scheme.from_specs(
                name, TensorSpec(format=fmt, scaling=granularity),
                TensorSpec(format=fmt, scaling=tensor),
            )  # fmt: skip
    for bits in (INT4, INT3, INT2):
        name = f"{bits.name}-weight-only"
        out[name] = Scheme.from_specs(name, TensorSpec(format=bits, scaling=channel), None)
    for name, activations, symmetric in (
        ("int4-per-channel", INT4, True), ("int4-per-channel-asym", INT4, False),
        ("int4-per-channel-a8", INT8, True),
    ):  # fmt: skip
        out[name] = Scheme.from_specs(
            name, TensorSpec(format=INT4, scaling=channel),
            TensorSpec(format=activations, scaling=tensor), symmetric,
        )  # fmt: skip
    for name, block in BLOCK_SCHEME_FORMATS.items():  # named as the policy presets
        spec = TensorSpec(format=get_block_format(block))
        out[name] = Scheme.from_specs(name, spec, spec)
        out[f"{name}-weight-only"] = Scheme.from_specs(f"{name}-weight-only", spec, None)
    return out


#: The block formats of the shipped block schemes, by scheme name (the policy presets' names).
BLOCK_SCHEME_FORMATS = {"mxfp8": "mxfp8_e4m3", "mxfp4": "mxfp4", "nvfp4": "nvfp4"}


def _check_block(s: Scheme) -> None:
    """A block scheme: block weights; activations None or the same block format, which the
    exact block MAC must take (its block dots exact in float64: not E5M2)."""
    weights, activations = s.weights, s.activations
    problem = ""
    if not isinstance(weights, BlockFormat):
        problem = f"block activations {activations} need the same block format for the weights"
    elif s.per_channel or s.group_size is not None:
        problem = f"{weights} brings its own scales (one per block); use per_channel=False"
    elif activations is not None and (activations != weights or not s.symmetric_activations):
        problem = f"activations {activations} must be the weights' {weights} (symmetric)"
    elif activations is not None:
        try:
            BlockMAC(weights)
        except ValueError as error:
            problem = f"no exact block MAC for {weights} ({error})"
    if problem:
        raise ValueError(
            f"Scheme {s.name!r}: {problem}; a block scheme has block weights and either the "
            "same block activations (served by the block MAC) or activations=None"
        )


#: The schemes by name.
SCHEMES: dict[str, Scheme] = _schemes()


def scheme_precision(scheme: Scheme | str) -> LayerPrecision:
    """The ``mixprec.nn.cost.LayerPrecision`` of a post-training quantization scheme.

    Its stored input parameters: a float32 scale, and for integer activations an int8 zero
    point (:class:`mixprec.quant.QuantizedMLP` stores both, the zero point also when symmetric).
    A group-wise scheme (``...:group=N``) is counted with one scale per output channel: the
    cost model has no per-group weight scales, so it undercounts their ``(ceil(in / N) - 1) *
    out`` extra float32 scales (``QuantizedMLP.nbytes`` counts them).
    """
    s = Scheme.parse(scheme)
    if s.is_block:  # the block scales are counted by the cost model from the format
        calibrated = s.activations is not None and s.block.tensor_scale is TensorScale.AMAX
        return LayerPrecision(
            weights=s.block, activations=FP32 if s.activations is None else s.block,
            static_input_bytes=SCALE_BYTES if calibrated else 0,
        )  # fmt: skip
    static = 0
    if s.activations is not None:
        static = SCALE_BYTES + (1 if isinstance(s.activations, IntFormat) else 0)
    return LayerPrecision(
        weights=s.weights,
        activations=s.activations if s.activations is not None else FP32,
        weight_scales="channel" if s.per_channel or s.group_size else "tensor",
        weight_group=s.group_size,
        activation_scaled=False,
        static_input_bytes=static,
    )
