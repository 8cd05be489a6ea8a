"""Stochastic rounding of accumulator additions, with N random bits as hardware does it.

Definition (N-bit stochastic rounding; gfloat's ``srnumbits``, NVIDIA Transformer Engine's
8-bit SR): with ``q`` the quantum of the format at ``|x|`` (the subnormal grid included),
``result = sign(x) * trunc_q(|x| + r q 2**-N)`` with ``r`` uniform in ``[0, 2**N)``: an N-bit
random integer added just below the last kept bit, then truncation toward zero. The result is
``lo = trunc_q(|x|)`` or ``lo + q``, up with probability ``floor(f 2**N) / 2**N`` where
``f = (|x| - lo) / q``: **bias** ``E[result] - x = -sign(x) q (f - floor(f 2**N) / 2**N)``,
in ``(-q 2**-N, 0]`` toward zero, and 0 when ``f`` has at most N bits. ``rounding="stochastic"``
without ``random_bits`` uses ``N = 52 - precision`` (28 for fp32, 41 for fp16): the most that a
float64 sum carries exactly, a bias below ``2**-28`` of an ulp.

Exactness: the sum ``acc + p`` of two float64 values is rounded to odd at 53 bits (TwoSum, as the
general adder does). Rounding to odd keeps every bit above the 53rd, and truncates in the binade
of the exact sum; ``floor(f 2**N)`` reads bits at most ``p + N <= 52`` below the leading one, so it
is that of the exact sum, and so is the result. One draw per addition, from ``rng``, in output
order (row-major), one k after another: a seeded Generator reproduces every bit.
"""

from __future__ import annotations

import numpy as np

from mixprec.formats import FloatFormat
from mixprec.formats.quantize import round_with_random_bits
from mixprec.formats.reference import overflow_value
from mixprec.formats.spec import Overflow
from mixprec.mac.accumulate import Adder, two_sum_round_to_odd
from mixprec.mac.stats import EventCounter

__all__ = ["stochastic_adder", "stochastic_round"]


def stochastic_round(
    x: np.ndarray, fmt: FloatFormat, rng: np.random.Generator, random_bits: int
) -> np.ndarray:
    """``x`` (float64, finite or not) rounded to ``fmt``'s grid with ``random_bits``-bit SR:
    :func:`mixprec.formats.quantize.round_with_random_bits` with one N-bit integer per element
    drawn from ``rng`` (``Generator.integers``, in ``x``'s order).

    The exponent range is unbounded above (the caller applies the overflow policy); NaN and
    ±inf pass through; zeros keep their sign where the format has -0.
    """
    draw = rng.integers(0, 1 << random_bits, size=x.shape, dtype=np.uint64)
    return round_with_random_bits(x, fmt, draw, random_bits, overflow=None)


def stochastic_adder(
    fmt: FloatFormat,
    overflow: Overflow,
    counter: EventCounter | None,
    rng: np.random.Generator,
    random_bits: int | None,
) -> Adder:
    """The adder ``acc + p`` with stochastic rounding to ``fmt`` (see the module)."""
    bits = 52 - fmt.precision if random_bits is None else random_bits
    top = fmt.max
    over_value = top if overflow is Overflow.SATURATE else overflow_value(fmt)
    event = "saturations" if overflow is Overflow.SATURATE else "overflows"

    def add(acc: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            s = two_sum_round_to_odd(acc, p)
            r = stochastic_round(s, fmt, rng, bits)
            over = np.isfinite(acc) & np.isfinite(p) & ~(np.abs(r) <= top)
            if over.any():
                r[over] = np.copysign(over_value, r[over])
                if counter is not None:
                    counter.add(event, np.count_nonzero(over))
        return r

    return add
