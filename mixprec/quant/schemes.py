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
==========================  =====================================================================

A :class:`Scheme` is validated when it is built: only the combinations the serving paths
(:mod:`mixprec.quant.serving`) run as declared are accepted, so a scheme never silently serves
otherwise than it says.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import cast

from mixprec._util.names import canonical
from mixprec.formats import (
    FP8_E4M3,
    FP8_E5M2,
    INT4,
    INT8,
    FloatFormat,
    Format,
    IntFormat,
    Overflow,
    Rounding,
    get_format,
)
from mixprec.nn.cost import SCALE_BYTES, LayerPrecision
from mixprec.nn.spec import Granularity, TensorSpec

__all__ = ["SCHEMES", "Scheme", "scheme_precision"]

#: The weight formats a scheme may use.
WEIGHT_FORMATS = (INT8, INT4, FP8_E4M3, FP8_E5M2)


@dataclass(frozen=True, kw_only=True)
class Scheme:
    """A quantization scheme: formats and granularity of weights and activations.

    Args:
        name: the short name (``int8-per-channel``, ...).
        weights: format of the weights (int8, int4, fp8_e4m3, fp8_e5m2), or its name.
        per_channel: one weight scale per output channel (else one per matrix).
        activations: format of every layer's input, or ``None`` (weight-only: float32): int8
            with int8 weights (served integer-only), or the weights' fp8 format.
        symmetric_activations: activation zero point 0; else a zero point per tensor (int8
            activations only).

    Raises:
        ValueError: a format or combination the serving paths cannot run as declared; the
            message says which combinations exist.
    """

    name: str
    weights: Format
    per_channel: bool
    activations: Format | None
    symmetric_activations: bool = True

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "weights", get_format(self.weights))
        if self.activations is not None:
            put(self, "activations", get_format(self.activations))
        if not isinstance(self.per_channel, bool):
            raise TypeError(f"per_channel must be True or False, got {self.per_channel!r}")
        weights, activations = self.weights, self.activations
        if weights not in WEIGHT_FORMATS:
            allowed = ", ".join(f.name for f in WEIGHT_FORMATS)
            raise ValueError(f"Scheme {self.name!r}: weights {weights.name}; use one of {allowed}")
        if activations is None:
            ok = True
        elif isinstance(weights, FloatFormat):
            ok = activations == weights and self.symmetric_activations
        else:
            ok = weights == INT8 and activations == INT8
        if not ok:
            raise ValueError(
                f"Scheme {self.name!r}: weights {weights.name} with activations "
                f"{activations.name if activations else None}"
                f"{'' if self.symmetric_activations else ' (asymmetric)'} cannot be served as "
                "declared; use int8 weights with int8 activations (integer-only), fp8 weights "
                "with the same fp8 activations (symmetric), or activations=None (weight-only)"
            )

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
            "weights": (Granularity.PER_TENSOR, Granularity.PER_CHANNEL),
            "activations": (Granularity.PER_TENSOR,),
        }
        for role, spec in (("weights", weights), ("activations", activations)):
            if spec is None:
                continue
            if spec.is_block:
                raise ValueError(
                    f"Scheme {name!r}: {role} {spec!r}: block-scaled PTQ schemes are not "
                    "supported yet; use an element format"
                )
            if (
                spec.scaling not in allowed[role]
                or spec.overflow is not Overflow.SATURATE
                or spec.rounding is not Rounding.NEAREST_EVEN
            ):
                raise ValueError(
                    f"Scheme {name!r}: {role} {spec!r} cannot be served as declared; "
                    f"quantized {role} use scaling {' or '.join(g.value for g in allowed[role])}, "
                    "overflow 'saturate' and rounding 'nearest_even'"
                )
        return cls(
            name=name, weights=cast(Format, weights.format),  # not a block format (checked)
            per_channel=weights.scaling is Granularity.PER_CHANNEL,
            activations=None if activations is None else cast(Format, activations.format),
            symmetric_activations=symmetric_activations,
        )  # fmt: skip

    @property
    def weight_spec(self) -> TensorSpec:
        """The weights' :class:`~mixprec.nn.TensorSpec`."""
        scaling = Granularity.PER_CHANNEL if self.per_channel else Granularity.PER_TENSOR
        return TensorSpec(format=self.weights, scaling=scaling)

    @property
    def activation_spec(self) -> TensorSpec | None:
        """The layer inputs' :class:`~mixprec.nn.TensorSpec` (``None``: weight-only)."""
        if self.activations is None:
            return None
        return TensorSpec(format=self.activations, scaling=Granularity.PER_TENSOR)

    @property
    def is_integer(self) -> bool:
        """int8 weights and activations: the integer-only serving path exists."""
        return self.activations is not None and self.activations == INT8

    @property
    def is_weight_only(self) -> bool:
        """Weights quantized, activations float32."""
        return self.activations is None

    @classmethod
    def parse(cls, name: Scheme | str) -> Scheme:
        """The scheme of a name (case, ``_`` and ``-`` ignored).

        Raises:
            ValueError: an unknown name; the message lists the schemes and the closest one.
        """
        if isinstance(name, Scheme):
            return name
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
    out["int4-weight-only"] = Scheme.from_specs(
        "int4-weight-only", TensorSpec(format=INT4, scaling=channel), None
    )
    return out


#: The schemes by name.
SCHEMES: dict[str, Scheme] = _schemes()


def scheme_precision(scheme: Scheme | str) -> LayerPrecision:
    """The ``mixprec.nn.cost.LayerPrecision`` of a post-training quantization scheme.

    Its stored input parameters: a float32 scale, and for integer activations an int8 zero
    point (:class:`mixprec.quant.QuantizedMLP` stores both, the zero point also when symmetric).
    """
    s = Scheme.parse(scheme)
    static = 0
    if s.activations is not None:
        static = SCALE_BYTES + (1 if isinstance(s.activations, IntFormat) else 0)
    return LayerPrecision(
        weights=s.weights,
        activations=s.activations if s.activations is not None else get_format("fp32"),
        weight_scales="channel" if s.per_channel else "tensor",
        activation_scaled=False,
        static_input_bytes=static,
    )
