"""``Policy``: the precision of every role in training and serving, and the presets.

A role is a kind of tensor or of matrix product:

======================  ==========================================================================
``weights``             format of the weights as the matmuls see them (the compute copy)
``activations``         format of the activations that feed a matmul (the input and hidden layers);
                        the logits leave the last MAC in its accumulator format, and the softmax
                        and loss are computed in float32, as in mixed-precision recipes
``gradients``           format of every gradient: of the logits, of the hidden activations, of the
                        weights and biases. Gradients round with ``overflow="inf"`` (as an IEEE
                        cast): an overflow shows as inf or NaN, which loss scaling detects
``updates``             format of the weight update (``-lr * velocity`` for SGD) before it is added
``forward_mac``         the MAC of ``x @ w`` (training and serving)
``input_grad_mac``      the MAC of ``dy @ w.T`` (backward, gradient of a layer's input)
``weight_grad_mac``     the MAC of ``x.T @ dy`` (backward, gradient of the weights)
======================  ==========================================================================

and, for training: ``master_weights`` (``"fp32"``: a float32 copy is updated and rounded to the
weight format before each step; ``"none"``: the weights live in their format and each update is
rounded into it, to nearest or stochastically, ``update_rounding``), and ``loss_scaling``
(``"none"``, ``"static"``, or ``"dynamic"``: skip the step and halve the scale when a gradient is
inf or NaN, double it after ``growth_interval`` clean steps; Micikevicius et al. 2018, "Mixed
Precision Training", section 3.2).

``scaling="per_tensor"`` gives each weight, activation and gradient tensor its own scale before it
is rounded, and the MAC works on the scaled values; its result is divided by the two scales.
Float formats get a power-of-two scale that brings the tensor's largest magnitude into the top
binade of the format (so scaling itself rounds nothing; FP8 recipes, Micikevicius et al. 2022,
"FP8 Formats for Deep Learning", section 4.3, with the current rather than a delayed amax);
integer formats get the symmetric scale ``max / amax`` (the gemmlowp/TFLite scheme with zero
point 0): an integer weight or activation format requires it. Biases are added to the MAC's
result in its accumulator precision (float32 after the scales are divided out), as an int32 or
float32 bias in hardware.

The presets and why each is what it is: :mod:`mixprec.nn.presets`.

>>> str(Policy.preset("fp16-amp")), str(Policy.preset("int8").with_mac(forward="int8->int16:wrap"))
('fp16-amp', 'int8[forward_mac=int8->int16]')
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from typing import Any

from mixprec._util.choice import as_choice
from mixprec._util.names import canonical
from mixprec.formats import FP32, BlockFormat, FloatFormat, IntFormat, Overflow, Rounding
from mixprec.formats.anyformat import AnyFormat
from mixprec.formats.anyformat import get_format as get_any_format
from mixprec.mac import MAC
from mixprec.nn.presets import PRESETS
from mixprec.nn.spec import Granularity, TensorSpec

__all__ = ["LossScaling", "MasterWeights", "Policy", "Scaling"]


class MasterWeights(str, enum.Enum):
    """Where the weights being learned live: a float32 copy, or only their own format."""

    FP32 = "fp32"
    NONE = "none"


class LossScaling(str, enum.Enum):
    """Loss scaling: none, a fixed scale, or a dynamic one (Micikevicius et al. 2018)."""

    NONE = "none"
    STATIC = "static"
    DYNAMIC = "dynamic"


class Scaling(str, enum.Enum):
    """Scales of the rounded tensors: none, or one per tensor (power of two for floats)."""

    NONE = "none"
    PER_TENSOR = "per_tensor"


def _choice(kind: type[enum.Enum], value: object, field: str) -> Any:
    return as_choice(kind, value, f"Policy.{field}")


def _mac(value: object, field: str) -> MAC:
    if isinstance(value, MAC):
        return value
    if isinstance(value, str):
        return MAC.parse(value)
    raise TypeError(f"Policy.{field} must be a MAC or a string such as 'bf16->fp32', got {value!r}")


_ROLES_FORMATS = ("weights", "activations", "gradients", "updates")

#: The overflow of each tensor role: gradients overflow to inf, as an IEEE cast, so that loss
#: scaling sees an overflow as inf or NaN; the others saturate.
ROLE_OVERFLOW = {
    "weights": Overflow.SATURATE, "activations": Overflow.SATURATE, "gradients": Overflow.INF,
    "updates": Overflow.SATURATE,
}  # fmt: skip
#: The roles that ``scaling="per_tensor"`` scales (an update is added to the weights unscaled).
SCALED_ROLES = ("weights", "activations", "gradients")
_ROLES_MACS = ("forward_mac", "input_grad_mac", "weight_grad_mac")


def _role_spec(role: str, value: object, scaling: Scaling) -> TensorSpec:
    """A role's spec: a ``TensorSpec`` as given, or the default spec of a format (name)."""
    if isinstance(value, TensorSpec):
        return value
    if isinstance(value, dict):  # the JSON form of as_dict
        return TensorSpec(**value)
    if not isinstance(value, (str, FloatFormat, IntFormat, BlockFormat)):
        raise TypeError(f"Policy.{role} must be a TensorSpec or a format (name), got {value!r}")
    fmt = get_any_format(value)
    scaled = scaling is Scaling.PER_TENSOR and role in SCALED_ROLES
    block = isinstance(fmt, BlockFormat)
    return TensorSpec(
        format=fmt,
        scaling=Granularity.PER_TENSOR if scaled and not block else Granularity.NONE,
        overflow=ROLE_OVERFLOW[role],
    )


def _spec_value(role: str, spec: TensorSpec, scaling: Scaling) -> str | dict[str, Any]:
    """A role's JSON form: the format name for the default spec, else the spec's fields."""
    if spec == _role_spec(role, spec.format, scaling):
        return str(spec.format)
    out: dict[str, Any] = {"format": str(spec.format), "scaling": spec.scaling.value}
    if spec.group_size is not None:
        out["group_size"] = spec.group_size
    out.update(overflow=spec.overflow.value, rounding=spec.rounding.value)
    return out


def _check_roles(policy: Policy) -> None:
    """The role combinations a policy refuses (see :class:`Policy`, Raises)."""
    specs = policy.specs()
    for role in ("weights", "activations"):
        spec = specs[role]
        if isinstance(spec.format, IntFormat) and not spec.is_scaled:
            raise ValueError(
                f"integer {role} ({spec.format.name}) need a scale: pass scaling='per_tensor'"
            )
    blocks = [role for role, spec in specs.items() if spec.is_block]
    if "updates" in blocks:
        raise ValueError(
            f"updates in a block format ({specs['updates'].format}) are not supported: an "
            "update is added elementwise; use an element format"
        )
    if policy.trainable:
        for role in ("gradients", "updates"):
            fmt = specs[role].format
            if isinstance(fmt, IntFormat):
                raise ValueError(
                    f"integer {role} ({fmt.name}) are not supported in training; use a float "
                    "format, or trainable=False for a serving policy"
                )
        if "weights" in blocks and policy.master_weights is not MasterWeights.FP32:
            raise ValueError(
                f"block-scaled weights ({specs['weights'].format}) are quantized by each matmul "
                "from a float32 copy: pass master_weights='fp32'"
            )


@dataclass(frozen=True, kw_only=True)
class Policy:
    """The formats and MAC units of every role, and how training keeps and scales its numbers.

    Every field accepts the string form of its value (a format name, a MAC spec such as
    ``"fp16->fp32"`` or ``MAC(...)``, an enum value). Build one role by role, start from a preset
    with :meth:`preset`, and change it with :meth:`replace` or :meth:`with_mac`.

    Args:
        weights, activations, gradients, updates: formats of the roles (see the module docstring).
        forward_mac, input_grad_mac, weight_grad_mac: MAC units of the three matmuls.
        master_weights: ``"fp32"`` or ``"none"`` (see :class:`MasterWeights`).
        update_rounding: ``"nearest_even"`` or ``"stochastic"``: how an update is rounded into
            weights that have no master copy.
        loss_scaling: ``"none"``, ``"static"`` or ``"dynamic"``.
        loss_scale: the static scale, or the initial dynamic one (a power of two is exact).
        growth_interval: dynamic scaling doubles the scale after this many clean steps.
        scaling: ``"none"`` or ``"per_tensor"`` (see the module docstring).
        trainable: ``False`` for serving-only policies (``train`` refuses them).
        name: the preset this policy was made from (kept by :meth:`replace`, which lists the
            changes in ``str``), or ``None`` for a policy built from scratch.

    Raises:
        ValueError: an unknown format, MAC or choice; a non-positive loss scale or interval; an
            integer weight or activation format without ``scaling="per_tensor"``; an integer
            gradient or update format in a trainable policy.
    """

    weights: TensorSpec | AnyFormat | str = FP32
    activations: TensorSpec | AnyFormat | str = FP32
    gradients: TensorSpec | AnyFormat | str = FP32
    updates: TensorSpec | AnyFormat | str = FP32
    forward_mac: MAC | str = "fp32->fp32"
    input_grad_mac: MAC | str = "fp32->fp32"
    weight_grad_mac: MAC | str = "fp32->fp32"
    master_weights: MasterWeights | str = MasterWeights.NONE
    update_rounding: Rounding | str = Rounding.NEAREST_EVEN
    loss_scaling: LossScaling | str = LossScaling.NONE
    loss_scale: float = 1.0
    growth_interval: int = 2000
    scaling: Scaling | str = Scaling.NONE
    trainable: bool = True
    name: str | None = None

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "scaling", _choice(Scaling, self.scaling, "scaling"))
        for role in _ROLES_FORMATS:
            put(self, role, _role_spec(role, getattr(self, role), Scaling(self.scaling)))
        for role in _ROLES_MACS:
            put(self, role, _mac(getattr(self, role), role))
        put(self, "master_weights", _choice(MasterWeights, self.master_weights, "master_weights"))
        put(self, "loss_scaling", _choice(LossScaling, self.loss_scaling, "loss_scaling"))
        rounding = _choice(Rounding, self.update_rounding, "update_rounding")
        if rounding not in (Rounding.NEAREST_EVEN, Rounding.STOCHASTIC):
            raise ValueError(
                f"Policy.update_rounding={rounding.value!r}: use 'nearest_even' or 'stochastic'"
            )
        put(self, "update_rounding", rounding)
        scale = float(self.loss_scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"Policy.loss_scale must be finite and > 0, got {self.loss_scale!r}")
        put(self, "loss_scale", scale)
        if isinstance(self.growth_interval, bool) or not isinstance(self.growth_interval, int):
            raise TypeError(f"Policy.growth_interval must be an int, got {self.growth_interval!r}")
        if self.growth_interval < 1:
            raise ValueError(f"Policy.growth_interval must be >= 1, got {self.growth_interval}")
        _check_roles(self)

    # -- presets ---------------------------------------------------------------------------------
    @staticmethod
    def presets() -> dict[str, str]:
        """The preset names and a one-line description of each."""
        return {name: description for name, (description, _) in PRESETS.items()}

    @classmethod
    def preset(cls, name: str | Policy) -> Policy:
        """The policy of a preset name (a ``Policy`` is returned as it is).

        Raises:
            ValueError: an unknown name; the message lists the presets.
        """
        if isinstance(name, Policy):
            return name
        key = canonical(name)
        if key not in PRESETS:
            listing = "; ".join(f"{k}: {d}" for k, (d, _) in PRESETS.items())
            raise ValueError(f"unknown policy {name!r}. Presets: {listing}")
        return cls(**PRESETS[key][1], name=key)

    # -- changes ---------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> Policy:
        """A copy with some fields changed (``name`` is kept: ``str`` shows the differences).

        A role that holds its default spec (as a format name makes it) follows a change of
        ``scaling``; a role given its own ``TensorSpec`` keeps it.
        """
        for role in _ROLES_FORMATS:
            spec = getattr(self, role)
            if role not in changes and spec == _role_spec(role, spec.format, Scaling(self.scaling)):
                changes[role] = spec.format
        return dataclasses.replace(self, **changes)

    def with_mac(
        self,
        forward: MAC | str | None = None,
        input_grad: MAC | str | None = None,
        weight_grad: MAC | str | None = None,
    ) -> Policy:
        """A copy with other MAC units, e.g. ``policy.with_mac(forward="int8->int16:wrap")``."""
        changes = {
            f"{role}_mac": mac
            for role, mac in (
                ("forward", forward),
                ("input_grad", input_grad),
                ("weight_grad", weight_grad),
            )
            if mac is not None
        }
        return self.replace(**changes)

    # -- tensor specs ----------------------------------------------------------------------------
    def specs(self, layer: int | None = None) -> dict[str, TensorSpec]:
        """The :class:`~mixprec.nn.spec.TensorSpec` of each tensor role (the role fields).

        Args:
            layer: the layer (1-based) whose specs are wanted; ``None`` for the policy's default.
                A ``Policy`` gives every layer its own fields (per-layer policies:
                :class:`mixprec.nn.layered.LayerPolicy`).

        Returns:
            ``{"weights": ..., "activations": ..., "gradients": ..., "updates": ...}``.
        """
        return {role: getattr(self, role) for role in _ROLES_FORMATS}

    # -- description -----------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready strings and numbers (``Policy(**d)`` rebuilds it)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in _ROLES_FORMATS:
                value = _spec_value(field.name, value, Scaling(self.scaling))
            elif field.name in _ROLES_MACS:
                value = str(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            out[field.name] = value
        return out

    def changes(self) -> dict[str, Any]:
        """The fields that differ from the preset ``name`` (all of them without a preset)."""
        mine = self.as_dict()
        if self.name is None or self.name not in PRESETS:
            return {k: v for k, v in mine.items() if k != "name"}
        base = Policy.preset(self.name).as_dict()
        return {k: v for k, v in mine.items() if v != base[k]}

    def __str__(self) -> str:
        """The preset name, with the fields changed from it; or a compact role summary."""
        if self.name is not None and self.name in PRESETS:
            diff = self.changes()
            if not diff:
                return self.name
            return f"{self.name}[{','.join(f'{k}={v}' for k, v in diff.items())}]"
        macs = {str(self.forward_mac), str(self.input_grad_mac), str(self.weight_grad_mac)}
        names = {role: str(getattr(self, role).format) for role in _ROLES_FORMATS}
        parts = [
            f"w={names['weights']}",
            f"a={names['activations']}",
            f"g={names['gradients']}",
            f"u={names['updates']}",
            "mac="
            + (
                "/".join(str(getattr(self, r)) for r in _ROLES_MACS)
                if len(macs) > 1
                else macs.pop()
            ),
            f"master={MasterWeights(self.master_weights).value}",
        ]
        if (
            self.master_weights is MasterWeights.NONE
            and self.update_rounding is Rounding.STOCHASTIC
        ):
            parts.append("sr")
        if self.loss_scaling is not LossScaling.NONE:
            parts.append(f"ls={LossScaling(self.loss_scaling).value}:{self.loss_scale:g}")
        if self.scaling is Scaling.PER_TENSOR:
            parts.append("per_tensor")
        if not self.trainable:
            parts.append("serving")
        return " ".join(parts)
