"""``TensorSpec``: the precision of one tensor — its format, scaling, overflow and rounding.

One vocabulary for every tensor mixprec rounds: the roles of a training or serving
:class:`~mixprec.nn.Policy` (``policy.specs()``) and the weights and inputs of a post-training
quantization scheme (``mixprec.quant.Scheme.from_specs``). A spec's ``format`` is any
``mixprec.formats`` format, element or block-scaled (``"mxfp8_e4m3"``, ``"nvfp4"``). A block
format brings its own scales (one per block along the axis its consumer names: the reduction
axis of a matmul), so its spec takes ``scaling="none"``.

Scaling (how values are mapped onto the format's grid before rounding):

==================  ===============================================================================
``none``            the values themselves are rounded
``per_tensor``      one scale per tensor (power of two for float formats, ``max / amax`` for int)
``per_channel``     one scale per output channel (a weight matrix's columns)
``per_group``       one scale per ``group_size`` consecutive values along the input axis
==================  ===============================================================================

>>> TensorSpec(format="fp8_e4m3", scaling="per_tensor")
TensorSpec(format=fp8_e4m3, scaling=per_tensor, overflow=saturate, rounding=nearest_even)
>>> TensorSpec(format="mxfp4").is_block
True
>>> TensorSpec(format="int4", scaling="per_group")
Traceback (most recent call last):
ValueError: TensorSpec(scaling='per_group') needs group_size >= 1, got None
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mixprec._util.choice import as_choice
from mixprec.formats import BlockFormat, Format, Overflow, Rounding
from mixprec.formats.anyformat import get_format

__all__ = ["Granularity", "TensorSpec"]


class Granularity(str, enum.Enum):
    """How many scales a tensor gets (see the module docstring)."""

    NONE = "none"
    PER_TENSOR = "per_tensor"
    PER_CHANNEL = "per_channel"
    PER_GROUP = "per_group"


@dataclass(frozen=True, kw_only=True)
class TensorSpec:
    """The precision of one tensor.

    Args:
        format: the format (a ``Format``, a ``BlockFormat`` or the name of either).
        scaling: ``"none"``, ``"per_tensor"``, ``"per_channel"`` or ``"per_group"``.
        group_size: values per scale with ``per_group`` (else ``None``).
        overflow: what values beyond the format's range become (``"saturate"``, ``"inf"``).
        rounding: the rounding mode.

    Raises:
        ValueError: an unknown format or choice, a group size without ``per_group`` or a
            ``per_group`` without one, a block format with a scaling other than ``none``.
    """

    format: Format | BlockFormat
    scaling: Granularity = Granularity.NONE
    group_size: int | None = None
    overflow: Overflow = Overflow.SATURATE
    rounding: Rounding = Rounding.NEAREST_EVEN

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "format", get_format(self.format))
        put(self, "scaling", as_choice(Granularity, self.scaling, "TensorSpec.scaling"))
        put(self, "overflow", as_choice(Overflow, self.overflow, "TensorSpec.overflow"))
        put(self, "rounding", as_choice(Rounding, self.rounding, "TensorSpec.rounding"))
        if isinstance(self.format, BlockFormat) and self.scaling is not Granularity.NONE:
            raise ValueError(
                f"TensorSpec(format={str(self.format)!r}) is block-scaled (one scale per "
                f"{self.format.block_size} values); it takes scaling='none', not "
                f"{self.scaling.value!r}"
            )
        grouped = self.scaling is Granularity.PER_GROUP
        size = self.group_size
        if grouped and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(
                f"TensorSpec(scaling='per_group') needs group_size >= 1, got {self.group_size!r}"
            )
        if not grouped and size is not None:
            raise ValueError(
                f"TensorSpec(group_size={size!r}) is for scaling='per_group', not "
                f"{self.scaling.value!r}; drop group_size or use per_group"
            )

    @property
    def is_block(self) -> bool:
        """Whether the format is block-scaled (its scales run along its consumer's axis)."""
        return isinstance(self.format, BlockFormat)

    @property
    def is_scaled(self) -> bool:
        """Whether the tensor gets a scale before it is rounded."""
        return self.scaling is not Granularity.NONE

    def __repr__(self) -> str:
        group = f", group_size={self.group_size}" if self.group_size is not None else ""
        return (
            f"TensorSpec(format={self.format}, scaling={self.scaling.value}{group}, "
            f"overflow={self.overflow.value}, rounding={self.rounding.value})"
        )
