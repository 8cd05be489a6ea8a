"""Every rounding mode as one rule: "round the magnitude away from zero?", by where it lies.

A magnitude strictly between two neighbouring values of a format lies below, at or above the
midpoint between them; each mode decides, for each of the three places, whether it goes to the
neighbour farther from zero. The modes side by side (IEEE 754-2019 §4.3; stochastic rounding as
in Croci et al., "Stochastic rounding: implementation, error analysis and applications", R. Soc.
Open Sci. 2022; round-to-odd as in Boldo & Melquiond, IEEE TC 57(4), 2008):

================  ===========  ===========  ===========
mode              below half   at half      above half
================  ===========  ===========  ===========
``nearest_even``  never        if odd       always
``nearest_away``  never        always       always
``toward_zero``   never        never        never
``up``            if positive  if positive  if positive
``down``          if negative  if negative  if negative
``odd``           if even      if even      if even
``stochastic``    at random    at random    at random
================  ===========  ===========  ===========

"if odd" / "if even" look at the last kept bit (the neighbour nearer zero); "at random" rounds
away with probability equal to the discarded fraction. :data:`RULES` is that table; every path
that rounds (the float64 reference, the float32 bit arithmetic, the MAC's overflow test) reads it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mixprec.formats.spec import Rounding

Mask = Any  # a boolean ndarray, or a Python/numpy bool broadcast against one


class Away(enum.Enum):
    """When a magnitude in one place between two neighbours rounds away from zero."""

    NEVER = "never"
    ALWAYS = "always"
    IF_ODD = "if odd"  # the last kept bit is 1: away makes it even
    IF_EVEN = "if even"  # the last kept bit is 0: away makes it odd
    IF_POSITIVE = "if positive"
    IF_NEGATIVE = "if negative"
    AT_RANDOM = "at random"


@dataclass(frozen=True)
class Rule:
    """One mode's decision below, at and above the midpoint (an exact value never moves)."""

    below_half: Away
    at_half: Away
    above_half: Away

    @property
    def is_nearest(self) -> bool:
        """Below half stays, above half goes: only the tie is the mode's own."""
        return self.below_half is Away.NEVER and self.above_half is Away.ALWAYS

    @property
    def is_uniform(self) -> bool:
        """The same decision wherever the magnitude lies (directed, odd and stochastic modes)."""
        return self.below_half is self.at_half is self.above_half


_N, _A = Away.NEVER, Away.ALWAYS
RULES: dict[Rounding, Rule] = {
    Rounding.NEAREST_EVEN: Rule(_N, Away.IF_ODD, _A),
    Rounding.NEAREST_AWAY: Rule(_N, _A, _A),
    Rounding.TOWARD_ZERO: Rule(_N, _N, _N),
    Rounding.UP: Rule(Away.IF_POSITIVE, Away.IF_POSITIVE, Away.IF_POSITIVE),
    Rounding.DOWN: Rule(Away.IF_NEGATIVE, Away.IF_NEGATIVE, Away.IF_NEGATIVE),
    Rounding.ODD: Rule(Away.IF_EVEN, Away.IF_EVEN, Away.IF_EVEN),
    Rounding.STOCHASTIC: Rule(Away.AT_RANDOM, Away.AT_RANDOM, Away.AT_RANDOM),
}


def decide(away: Away, odd: Callable[[], Mask], negative: Mask) -> Mask:
    """The deterministic decision ``away`` for each element.

    Args:
        away: any kind but ``AT_RANDOM``.
        odd: returns whether the last kept bit is 1 (called only by ``IF_ODD`` / ``IF_EVEN``).
        negative: the sign of each value.
    """
    if away is Away.NEVER:
        return False
    if away is Away.ALWAYS:
        return True
    if away is Away.IF_ODD:
        return odd()
    if away is Away.IF_EVEN:
        return np.logical_not(odd())
    if away is Away.IF_POSITIVE:
        return np.logical_not(negative)
    if away is Away.IF_NEGATIVE:
        return negative
    raise ValueError(f"{away.value!r} is not a deterministic decision")


def round_away(
    mode: Rounding,
    frac: np.ndarray,
    half: Any,
    odd: Callable[[], Mask],
    negative: Mask,
    uniform: np.ndarray | None = None,
) -> np.ndarray:
    """Whether each magnitude rounds away from zero, by :data:`RULES`.

    Args:
        mode: the rounding mode.
        frac: the discarded part of each magnitude, in any unit in which a quantum is ``2 *
            half`` (0: exact, never moves); an array of floats or of ordered bit patterns.
        half: half a quantum in the unit of ``frac``.
        odd: returns whether the last kept bit is 1.
        negative: the sign of each value.
        uniform: for stochastic rounding, uniform random numbers in ``[0, 2 * half)`` in the
            unit of ``frac``: away with probability ``frac / (2 * half)``.

    Raises:
        ValueError: stochastic rounding without ``uniform``.
    """
    rule = RULES[mode]
    if rule.is_uniform:
        if rule.below_half is Away.AT_RANDOM:
            if uniform is None:
                raise ValueError("stochastic rounding needs rng=np.random.default_rng(seed)")
            return np.asarray(uniform < frac)
        away = decide(rule.below_half, odd, negative)
        if np.ndim(away) == 0:  # one decision for all: one comparison (or none)
            return np.asarray(frac > 0) if away else np.zeros(np.shape(frac), bool)
        return np.asarray((frac > 0) & away)
    if not rule.is_nearest:  # pragma: no cover - every rule of the table is one of the two
        raise ValueError(f"no evaluation for the rule of {mode.value!r}")
    tie = decide(rule.at_half, odd, negative)
    if np.ndim(tie) == 0:
        return np.asarray(frac >= half if tie else frac > half)
    return np.asarray((frac > half) | ((frac == half) & tie))


# -- stochastic rounding with N random bits ----------------------------------------------------
MAX_RANDOM_BITS = 64


def check_random_bits(random_bits: object, mode: Rounding) -> None:
    """Refuse an invalid ``random_bits`` (see :func:`mixprec.formats.quantize`).

    Raises:
        ValueError: not an int in ``[1, 64]``, or given with a mode other than stochastic.
    """
    if random_bits is None:
        return
    if isinstance(random_bits, bool) or not isinstance(random_bits, (int, np.integer)):
        raise ValueError(
            f"random_bits must be an int from 1 to {MAX_RANDOM_BITS} (or None for exact "
            f"stochastic rounding), got {random_bits!r}"
        )
    if not 1 <= random_bits <= MAX_RANDOM_BITS:
        raise ValueError(
            f"random_bits must be from 1 to {MAX_RANDOM_BITS}, got {random_bits}; hardware "
            "stochastic rounding uses a few (8 in NVIDIA Transformer Engine)"
        )
    if mode is not Rounding.STOCHASTIC:
        raise ValueError(
            f"random_bits={random_bits} is for rounding='stochastic', not {mode.value!r}; "
            "pass rounding='stochastic' or drop random_bits"
        )


def as_generator(rng: object, mode: Rounding) -> np.random.Generator | None:
    """The ``rng`` argument of quantize/encode as a Generator (an int seeds one), or None.

    Raises:
        TypeError: neither a Generator, an int seed nor None.
        ValueError: stochastic rounding without one.
    """
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        rng = np.random.default_rng(int(rng))
    elif rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {rng!r}")
    if mode is Rounding.STOCHASTIC and rng is None:
        raise ValueError("stochastic rounding needs rng=np.random.default_rng(seed)")
    return rng


def draw_random_bits(rng: np.random.Generator, random_bits: int, size: int) -> np.ndarray:
    """``size`` uniform integers in ``[0, 2**random_bits)`` as uint64: the top bits of the
    generator's raw 64-bit words, deterministic for a seeded generator."""
    words = rng.bit_generator.random_raw(size)
    ints: np.ndarray = np.right_shift(words, np.uint64(MAX_RANDOM_BITS - random_bits))
    return ints


def away_by_random_bits(frac: np.ndarray, random: np.ndarray, random_bits: int) -> np.ndarray:
    """Whether each magnitude rounds away when ``random / 2**N`` is added to its discarded
    fraction ``frac`` (in quanta, ``0 <= frac < 1``) and the sum is truncated: iff
    ``floor(frac * 2**N) + random >= 2**N``.

    ``frac * 2**N`` is exact in float64 (a power-of-two scaling) and below ``2**N``, so its
    floor ``F`` is an exact uint64; the test runs as ``F > 0 and random >= 2**N - F`` in uint64,
    where ``2**N - F`` cannot overflow.
    """
    scaled = np.floor(np.ldexp(frac, random_bits)).astype(np.uint64)
    threshold = np.uint64(2**random_bits - 1) - scaled + np.uint64(1)
    away: np.ndarray = (scaled > 0) & (random >= threshold)
    return away
