"""Event counters of a run: the MACs' (``MacStats``) and the tensor roundings' per layer and role.

Tensor rounding events, per layer and role (``weights``, ``activations``, ``gradients``):
``saturations`` (finite values beyond the format's max, clamped to ±max), ``overflows`` (finite
gradients beyond the max, which become inf as in an IEEE cast), ``flushes`` (non-zero values that
round to zero). MAC events are ``mixprec.mac.MacStats``, per matmul role (``forward``,
``input_grad``, ``weight_grad``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["MAC_ROLES", "TENSOR_ROLES", "Events", "RoundingStats"]

MAC_ROLES = ("forward", "input_grad", "weight_grad")
TENSOR_ROLES = ("weights", "activations", "gradients")


@dataclass(frozen=True)
class RoundingStats:
    """Events of rounding tensors to a role's format (summable with ``+``)."""

    saturations: int = 0
    overflows: int = 0
    flushes: int = 0

    def __add__(self, other: RoundingStats) -> RoundingStats:
        return RoundingStats(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(self))
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Events:
    """Event counters summed per (layer, role); layers count from 1."""

    def __init__(self) -> None:
        self.by_layer: dict[tuple[int, str], Any] = {}

    def add(self, layer: int, role: str, stats: Any) -> None:
        """Add ``stats`` (a ``MacStats`` or ``RoundingStats``) to the count of (layer, role)."""
        key = (layer, role)
        previous = self.by_layer.get(key)
        self.by_layer[key] = stats if previous is None else previous + stats

    def merge(self, other: Events) -> None:
        """Add every count of ``other`` to these (batches of one serving run)."""
        for (layer, role), stats in other.by_layer.items():
            self.add(layer, role, stats)

    def touch(self, layer: int, role: str, zero: Any) -> None:
        """Record that (layer, role) ran with no event (``zero`` is its kind's empty stats)."""
        self.by_layer.setdefault((layer, role), zero)

    def total(self, role: str) -> Any:
        """The sum over layers of one role's stats, or None if it has none."""
        found = [s for (_, r), s in self.by_layer.items() if r == role]
        return sum(found[1:], found[0]) if found else None

    def as_dict(self) -> dict[str, dict[str, int]]:
        """``{"layer1.forward": {...}, ..., "forward": {...}}``: by layer and role, then by role."""
        out = {
            f"layer{layer}.{role}": s.as_dict()
            for (layer, role), s in sorted(self.by_layer.items())
        }
        for role in (*MAC_ROLES, *TENSOR_ROLES):
            total = self.total(role)
            if total is not None:
                out[role] = total.as_dict()
        return out
