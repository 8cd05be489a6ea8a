"""The order of the additions of a dot product: sequential, pairwise, chunked:N or fast."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from mixprec._util.choice import as_choice


class OrderKind(str, enum.Enum):
    """How the products of one dot product are added (see :class:`Order`)."""

    SEQUENTIAL = "sequential"
    PAIRWISE = "pairwise"
    CHUNKED = "chunked"
    FAST = "fast"


@dataclass(frozen=True)
class Order:
    """The order of the additions of one dot product of length K.

    * ``sequential``: ``acc = init``, then ``acc = round(acc + p[k])`` for k = 0 .. K-1.
    * ``pairwise``: a binary tree: adjacent terms are added in pairs, level by level, an odd
      term out moving up unchanged (the tree splits off the largest power-of-two prefix); the
      tree's sum is then added to the initial value.
    * ``chunked:N``: sequential inside chunks of N products, each chunk from +0; the chunk sums
      are added in sequence to the initial value (Wang et al., NeurIPS 2018, "Training deep
      neural networks with 8-bit floating point numbers").
    * ``fast``: any order; allowed only where the result cannot depend on it (integer
      accumulators that wrap) or where the MAC's semantics leave it free (fp32 and fp64
      accumulators: "any order, each addition rounded once to the accumulator", as BLAS sgemm).

    The initial value is the bias of :meth:`MAC.affine`, else +0.

    >>> Order.parse("chunked:64"), str(Order.parse("pairwise"))
    (Order(kind=<OrderKind.CHUNKED: 'chunked'>, chunk=64), 'pairwise')
    """

    kind: OrderKind
    chunk: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _enum(OrderKind, self.kind, "order"))
        if self.kind is OrderKind.CHUNKED:
            if isinstance(self.chunk, bool) or not isinstance(self.chunk, (int, np.integer)):
                raise ValueError(
                    f"order 'chunked' needs a chunk size, e.g. 'chunked:64'; got {self.chunk!r}"
                )
            if self.chunk < 1:
                raise ValueError(f"chunk size must be >= 1, got {self.chunk}")
            object.__setattr__(self, "chunk", int(self.chunk))
        elif self.chunk is not None:
            raise ValueError(
                f"only 'chunked' takes a chunk size; got {self.kind.value}:{self.chunk}"
            )

    @classmethod
    def parse(cls, text: Order | str) -> Order:
        """Read ``sequential``, ``pairwise``, ``fast`` or ``chunked:N``."""
        if isinstance(text, Order):
            return text
        if isinstance(text, OrderKind):
            return cls(text)
        if not isinstance(text, str):
            raise TypeError(
                f"an order is a string such as 'sequential' or 'chunked:64', got {text!r}"
            )
        name, _, size = text.strip().lower().partition(":")
        if name == "chunked":
            if not size.strip().isdigit():
                raise ValueError(
                    f"order {text!r}: write the chunk size as 'chunked:N', e.g. 'chunked:64'"
                )
            return cls(OrderKind.CHUNKED, int(size))
        if size:
            raise ValueError(f"order {text!r}: only 'chunked' takes a size ('chunked:N')")
        return cls(_enum(OrderKind, name, "order"))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"chunked:{self.chunk}" if self.kind is OrderKind.CHUNKED else self.kind.value


def _enum(enum_type: type[enum.Enum], value: object, what: str) -> enum.Enum:
    hint = " (as 'chunked:N')" if enum_type is OrderKind else ""
    return as_choice(enum_type, value, what, hint)
