"""Number formats as frozen dataclasses of independent parameters.

A float format is (exponent bits, mantissa bits, bias, special-value scheme, subnormals on/off,
signed or not, zero or not); everything else (``max``, ``eps``, ``smallest_normal`` ...) is a
derived property named as in :class:`numpy.finfo`. An integer format is a two's-complement or
unsigned integer of any width up to 64 bits; fixed point is an integer with a binary scale
(``frac_bits``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union

import numpy as np

from mixprec._util.choice import as_choice


class Special(str, enum.Enum):
    """Where a float format keeps its special values.

    * ``ieee``: the top exponent holds ±inf (mantissa 0) and NaNs (IEEE 754-2019 §3.4).
    * ``fn``: finite, no inf; NaN only where exponent and mantissa are all ones (OCP 8-bit
      Floating Point Specification, E4M3; a format with no mantissa bits loses its whole top
      binade to NaN, as the MX scale E8M0).
    * ``fnuz``: finite, no inf, no negative zero; the negative-zero code 0x80.. is the one NaN.
    * ``finite``: no inf and no NaN: every code is a number (OCP Microscaling FP6/FP4).
    """

    IEEE = "ieee"
    FN = "fn"
    FNUZ = "fnuz"
    FINITE = "finite"


class Rounding(str, enum.Enum):
    """Rounding modes; each reduces to one decision, "round away from zero?"."""

    NEAREST_EVEN = "nearest_even"
    NEAREST_AWAY = "nearest_away"
    TOWARD_ZERO = "toward_zero"
    UP = "up"
    DOWN = "down"
    STOCHASTIC = "stochastic"
    ODD = "odd"


class Overflow(str, enum.Enum):
    """What a value beyond the format's range becomes.

    * ``saturate``: ±max (±inf *inputs* stay ±inf where the format has inf).
    * ``inf``: IEEE 754 behaviour, as the OCP FP8 spec's non-saturating conversion: ±inf where the
      format has inf, else NaN; directed modes that round toward zero give ±max. A format with
      neither inf nor NaN saturates.
    * ``wrap``: integers only, two's-complement wrap-around (modulo 2**bits).
    * ``error``: integers only, raise :class:`OverflowError`.
    """

    SATURATE = "saturate"
    INF = "inf"
    WRAP = "wrap"
    ERROR = "error"


_choice = as_choice


def as_rounding(value: Rounding | str) -> Rounding:
    """Accept a :class:`Rounding` or its string value."""
    return as_choice(Rounding, value, "rounding mode")


def as_overflow(value: Overflow | str) -> Overflow:
    """Accept an :class:`Overflow` or its string value."""
    return as_choice(Overflow, value, "overflow policy")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def _check_bool(owner: object, name: str) -> None:
    """Refuse a non-bool flag (``has_subnormals="no"`` would read as true); numpy bools become
    Python bools."""
    value = getattr(owner, name)
    if isinstance(value, np.bool_):
        object.__setattr__(owner, name, bool(value))
    elif not isinstance(value, bool):
        raise TypeError(
            f"{name} must be True or False, got {value!r} ({type(value).__name__}); "
            f"write {name}={bool(value) if isinstance(value, int) else 'True or False'}"
        )


@dataclass(frozen=True, kw_only=True)
class FloatFormat:
    """A binary floating-point format.

    Args:
        name: the format's name in tables and errors.
        exponent_bits: width of the exponent field (1 to 11).
        mantissa_bits: stored fraction bits, without the implicit leading one (0 to 52).
        bias: exponent bias; ``None`` means the IEEE bias ``2**(exponent_bits - 1) - 1``.
        special: where inf and NaN live (:class:`Special`).
        has_subnormals: ``False`` flushes: values below ``smallest_normal`` round to 0 or to
            ``smallest_normal`` as any other pair of neighbours.
        is_signed: ``False`` for formats with no sign bit (the MX scale E8M0).
        has_zero: ``False`` makes the lowest exponent code an ordinary binade (E8M0: code 0 is
            2**-127); such a format has no subnormals.

    >>> fp8 = FloatFormat(name="fp8_e4m3", exponent_bits=4, mantissa_bits=3, special="fn")
    >>> fp8.max, fp8.smallest_subnormal, fp8.bits
    (448.0, 0.001953125, 8)
    """

    name: str
    exponent_bits: int
    mantissa_bits: int
    bias: int | None = None
    special: Special = Special.IEEE
    has_subnormals: bool = True
    is_signed: bool = True
    has_zero: bool = True

    def __post_init__(self) -> None:
        for flag in ("has_subnormals", "is_signed", "has_zero"):
            _check_bool(self, flag)
        _check_int("exponent_bits", self.exponent_bits, 1, 11)
        _check_int("mantissa_bits", self.mantissa_bits, 0, 52)
        if self.bias is None:
            object.__setattr__(self, "bias", 2 ** (self.exponent_bits - 1) - 1)
        _check_int("bias", self.bias, -(2**11), 2**11)
        object.__setattr__(self, "special", _choice(Special, self.special, "special-value scheme"))
        if not self.has_zero and self.has_subnormals:
            object.__setattr__(self, "has_subnormals", False)
        if self.special is Special.FNUZ and not self.is_signed:
            raise ValueError(
                "an fnuz format keeps its NaN at the negative-zero code: it needs a sign"
            )
        if self.special is Special.IEEE and self.exponent_bits < 2:
            raise ValueError(
                f"an ieee format with {self.exponent_bits} exponent bit has no finite normal "
                "numbers; use special='fn' or 'finite', or more exponent bits"
            )
        if self.special is Special.IEEE and self.mantissa_bits == 0:
            raise ValueError(
                "an ieee format with 0 mantissa bits has no NaN code; use special='fn' (NaN at "
                "all ones, as E8M0) or 'finite'"
            )
        if self.max <= 0 or self.emax < self.emin:
            raise ValueError(f"format {self.name!r} has no finite positive numbers")

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def bits(self) -> int:
        """Total width of a code in bits."""
        return int(self.is_signed) + self.exponent_bits + self.mantissa_bits

    @property
    def precision(self) -> int:
        """Significand bits including the implicit one (numpy's ``nmant + 1``)."""
        return self.mantissa_bits + 1

    @property
    def is_integer(self) -> bool:
        return False

    # -- exponent range -------------------------------------------------------------------------
    @property
    def emin(self) -> int:
        """Exponent of ``smallest_normal``."""
        assert self.bias is not None
        return (1 if self.has_zero else 0) - self.bias

    @property
    def emax(self) -> int:
        """Exponent of ``max``."""
        assert self.bias is not None
        top = 2**self.exponent_bits - 1
        loses_top_binade = self.special is Special.IEEE or (
            self.special is Special.FN and self.mantissa_bits == 0
        )
        return int(top - int(loses_top_binade) - self.bias)

    # -- derived values (exact: every one is a float64) -------------------------------------------
    @property
    def max(self) -> float:
        """Largest finite value."""
        m = self.mantissa_bits
        top_significand = 2 ** (m + 1) - 1
        if self.special is Special.FN and m > 0:
            top_significand -= 1  # the all-ones code is NaN
        return float(top_significand * 2.0 ** (self.emax - m))

    @property
    def min(self) -> float:
        """Most negative finite value (``-max``), or the smallest value of an unsigned format."""
        if self.is_signed:
            return -self.max
        return 0.0 if self.has_zero else self.smallest_normal

    @property
    def smallest_normal(self) -> float:
        return float(2.0**self.emin)

    @property
    def smallest_subnormal(self) -> float:
        """Smallest positive value (``smallest_normal`` when there are no subnormals)."""
        if not self.has_subnormals:
            return self.smallest_normal
        return float(2.0 ** (self.emin - self.mantissa_bits))

    @property
    def eps(self) -> float:
        """Gap between 1 and the next larger value."""
        return float(2.0**-self.mantissa_bits)

    # aliases of DESIGN.md
    min_normal = smallest_normal
    min_subnormal = smallest_subnormal

    # -- special values ---------------------------------------------------------------------------
    @property
    def has_inf(self) -> bool:
        return self.special is Special.IEEE

    @property
    def has_nan(self) -> bool:
        return self.special is not Special.FINITE

    @property
    def has_negative_zero(self) -> bool:
        return self.is_signed and self.has_zero and self.special is not Special.FNUZ

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, kw_only=True)
class IntFormat:
    """A two's-complement (or unsigned) integer, optionally fixed point.

    The value of code ``k`` is ``k * 2**-frac_bits``.

    Args:
        name: the format's name.
        bits: width, 1 to 64 (a signed format needs at least 2).
        is_signed: two's complement if ``True``.
        frac_bits: binary point position (fixed point); 0 for plain integers.

    >>> IntFormat(name="int8", bits=8).max, IntFormat(name="fixed<16,8>", bits=16, frac_bits=8).eps
    (127.0, 0.00390625)
    """

    name: str
    bits: int
    is_signed: bool = True
    frac_bits: int = 0

    def __post_init__(self) -> None:
        _check_bool(self, "is_signed")
        _check_int("bits", self.bits, 2 if self.is_signed else 1, 64)
        _check_int("frac_bits", self.frac_bits, -64, 64)

    @property
    def is_integer(self) -> bool:
        return True

    @property
    def max_code(self) -> int:
        """Largest integer code value (before the binary scale)."""
        return int(2 ** (self.bits - 1) - 1 if self.is_signed else 2**self.bits - 1)

    @property
    def min_code(self) -> int:
        return -(2 ** (self.bits - 1)) if self.is_signed else 0

    @property
    def max(self) -> float:
        return float(self.max_code * 2.0**-self.frac_bits)

    @property
    def min(self) -> float:
        return float(self.min_code * 2.0**-self.frac_bits)

    @property
    def eps(self) -> float:
        """Resolution: the gap between neighbouring values."""
        return float(2.0**-self.frac_bits)

    smallest_normal = eps
    smallest_subnormal = eps
    min_normal = eps
    min_subnormal = eps
    has_inf = False
    has_nan = False
    has_negative_zero = False
    has_subnormals = False
    has_zero = True

    def __str__(self) -> str:
        return self.name


Format = Union[FloatFormat, IntFormat]  # noqa: UP007 (a runtime alias on Python 3.10 too)
