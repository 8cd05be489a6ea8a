"""Serving a :class:`~mixprec.quant.layered.LayeredQuantizedMLP`: segment by segment.

Each serving segment (:func:`mixprec.quant.layered.segments`) is one
:class:`~mixprec.quant.QuantizedMLP` served by its own :class:`~mixprec.quant.QuantizedServing`;
the float32 output of a segment that is not the last passes through ReLU into the next (as a
uniform model's hidden layers do between their float steps). A model whose layers are all
integer is one segment, served integer-only.

``path``: ``None`` (each segment its scheme's default: ``integer`` for int8 layers,
``fake_quant`` otherwise), ``"integer"`` (every layer must be integer: one integer-only
segment) or ``"fake_quant"`` (every segment). ``mac`` and ``requantization`` apply to the
segments served on the integer path; the other segments use their schemes' default MACs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mixprec.mac import MAC
from mixprec.nn import Events, Served, image_batch
from mixprec.quant.requant import Requantization
from mixprec.quant.serving import PATHS, QuantizedServing

if TYPE_CHECKING:
    from mixprec.quant.layered import LayeredQuantizedMLP

__all__ = ["LayeredServing"]


@dataclass(frozen=True, init=False)
class LayeredServing:
    """A calibrated ``LayeredQuantizedMLP`` with how to serve it: a ``mixprec.nn.Servable``.

    Args:
        model: the calibrated model.
        path: ``None``, ``"integer"`` or ``"fake_quant"`` (see the module docstring).
        mac: the MAC of the integer segments (default ``int8->int32``).
        requantization: ``"gemmlowp"`` or ``"float"`` (integer segments).

    Raises:
        NotCalibratedError: the model is not calibrated.
        ValueError: an unknown path; ``"integer"`` with a layer that is not integer.
    """

    model: LayeredQuantizedMLP
    parts: tuple[tuple[int, int, QuantizedServing], ...]

    def __init__(
        self,
        model: LayeredQuantizedMLP,
        path: str | None = None,
        mac: MAC | str | None = None,
        requantization: Requantization | str = "gemmlowp",
    ) -> None:
        if path is not None and path not in PATHS:
            raise ValueError(f"unknown path {path!r}; use one of {', '.join(map(repr, PATHS))}")
        segments = model.segment_models()
        if path == "integer":
            floats = [
                f"layer {i + 1} ({q.scheme})"
                for start, stop, q in segments
                for i in range(start, stop)
                if not q.scheme.is_integer
            ]
            if floats:
                raise ValueError(
                    f"scheme {model.scheme} has no integer-only path: {', '.join(floats)} "
                    "is not int8; use path='fake_quant' or the default (per segment)"
                )
        parts = []
        for start, stop, q in segments:
            own = path if path is not None else ("integer" if q.scheme.is_integer else None)
            integer = own == "integer"
            serving = QuantizedServing(q, own, mac if integer else None, requantization)
            parts.append((start, stop, serving))
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "parts", tuple(parts))

    @property
    def sizes(self) -> tuple[int, ...]:
        """The model's layer sizes."""
        return self.model.sizes

    def __str__(self) -> str:
        def layers(start: int, stop: int) -> str:
            return f"layer {start + 1}" if stop == start + 1 else f"layers {start + 1}-{stop}"

        parts = "; ".join(f"{layers(a, b)} {s}" for a, b, s in self.parts)
        return f"{self.model.scheme}[{parts}]"

    def serve(self, images: np.ndarray, batch_size: int = 1000, stats: bool = True) -> Served:
        """Logits of ``images``, segment by segment, and (with ``stats``) the MAC events per
        layer (numbered in the whole model).

        Raises:
            ValueError: images of the wrong shape, a batch size below 1.
        """
        h = image_batch(images, self.sizes[0])
        events = Events()
        n_layers = len(self.sizes) - 1
        for start, stop, serving in self.parts:
            served = serving.serve(h, batch_size, stats)
            for (layer, role), counts in served.events.by_layer.items():
                events.add(layer + start, role, counts)
            h = served.logits if stop == n_layers else np.maximum(served.logits, 0)
        return Served(np.asarray(h, np.float32), events, str(self) if stats else "")

    def predict(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """float32 logits ``(n, classes)`` of ``images``."""
        return self.serve(images, batch_size, stats=False).logits
