"""Numeric event counters of a MAC run: the emulator's IEEE exception flags, counted exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class MacStats:
    """Exact counts of the numeric events of one (or, summed with ``+``, several) MAC runs.

    Every count refers to the order of additions actually used (the MAC's ``order``; for
    ``fast`` the order the result is computed in, see :class:`mixprec.mac.MAC`).

    Attributes:
        wraps: accumulator additions whose exact result left the range of an integer
            accumulator and was wrapped modulo ``2**bits`` (two's complement).
        saturations: accumulator additions whose result was clamped to the accumulator's
            ``min``/``max`` (``overflow="saturate"``): for an integer accumulator, the exact sum
            left the range; for a float accumulator, finite operands gave a sum that rounds
            beyond ``max`` (an IEEE overflow, IEEE 754-2019 §7.4).
        overflows: float accumulator additions of finite operands that overflowed to ±inf (or
            to NaN in a format without inf) under ``overflow="inf"``.
        input_saturations: input elements (of both operands, and the bias into the accumulator
            format) beyond the format's range that quantization clamped to its ``max`` or
            ``min`` (±inf too where the format has no inf; where it has, inf stays inf).
            Operands already in the format's storage dtype are not quantized.
        input_flushes: non-zero input elements that quantization rounded to zero (underflow,
            or a fraction below an integer format's resolution).
        product_roundings: products that the product format could not hold exactly (0 without
            a product format).
        product_overflows: products beyond the product format's range (they became ±inf/NaN,
            ±max or wrapped, by the overflow policy).
        inf_results: entries of the result that are ±inf.
        nan_results: entries of the result that are NaN.

    >>> MacStats(wraps=2) + MacStats(wraps=1, nan_results=4)
    MacStats(wraps=3, saturations=0, overflows=0, input_saturations=0, input_flushes=0, \
product_roundings=0, product_overflows=0, inf_results=0, nan_results=4)
    """

    wraps: int = 0
    saturations: int = 0
    overflows: int = 0
    input_saturations: int = 0
    input_flushes: int = 0
    product_roundings: int = 0
    product_overflows: int = 0
    inf_results: int = 0
    nan_results: int = 0

    def __add__(self, other: MacStats) -> MacStats:
        if not isinstance(other, MacStats):
            return NotImplemented
        return MacStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def __radd__(self, other: object) -> MacStats:
        if other == 0:  # sum(list_of_stats)
            return self
        return NotImplemented

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain ``{name: count}`` dict (for logs and result tables)."""
        return asdict(self)

    @property
    def total(self) -> int:
        """The number of events of every kind."""
        return sum(self.as_dict().values())


class EventCounter:
    """A mutable tally used while one matmul runs; frozen into :class:`MacStats` at the end."""

    __slots__ = tuple(f.name for f in fields(MacStats))

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def add(self, name: str, count: object) -> None:
        setattr(self, name, getattr(self, name) + int(count))  # type: ignore[call-overload]

    def merge(self, other: EventCounter) -> None:
        for name in self.__slots__:
            self.add(name, getattr(other, name))

    def freeze(self) -> MacStats:
        return MacStats(**{name: getattr(self, name) for name in self.__slots__})
