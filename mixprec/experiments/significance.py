"""Paired significance of accuracy changes: McNemar's test on the same test images.

Two classifiers evaluated on the same ``n`` images give paired outcomes. Only the discordant
pairs carry information: ``b`` images the baseline gets right and the other gets wrong, and ``c``
the reverse. Under the null hypothesis (both have the same accuracy on this distribution) each
discordant pair goes either way with probability 1/2, so ``b ~ Binomial(b + c, 1/2)``.

- Exact test (``b + c < EXACT_BELOW``): the two-sided binomial p-value
  ``min(1, 2 * sum_{i <= min(b, c)} C(b + c, i) / 2^(b + c))``, computed in exact integers.
- Otherwise the chi-square approximation with Edwards' continuity correction,
  ``chi2 = max(0, |b - c| - 1)^2 / (b + c)`` with one degree of freedom (the correction never
  overshoots: ``b == c`` gives 0 and p = 1), whose survival function is
  ``erfc(sqrt(chi2 / 2))``.

McNemar, Q. (1947), Psychometrika 12(2), 153-157; Edwards, A. L. (1948), Psychometrika 13,
185-187. The threshold of 25 discordant pairs is the usual rule of thumb for when the chi-square
approximation is adequate; Dietterich (1998), Neural Computation 10(7), 1895-1923, recommends
McNemar's test for comparing two classifiers on one test set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["EXACT_BELOW", "McNemar", "mcnemar", "mcnemar_counts", "mean_std"]

EXACT_BELOW = 25  # discordant pairs below which the exact binomial test is used


@dataclass(frozen=True)
class McNemar:
    """The result of McNemar's test.

    Attributes:
        b: pairs the baseline gets right and the other classifier wrong.
        c: pairs the baseline gets wrong and the other classifier right.
        p_value: two-sided p-value.
        method: ``"exact"`` (binomial) or ``"chi2"`` (with continuity correction).
        statistic: the chi-square statistic, or ``None`` for the exact test.
    """

    b: int
    c: int
    p_value: float
    method: str
    statistic: float | None = None

    @property
    def discordant(self) -> int:
        """``b + c``: the pairs on which the two classifiers disagree about correctness."""
        return self.b + self.c

    def is_significant(self, alpha: float = 0.05) -> bool:
        """True when ``p_value < alpha``."""
        return self.p_value < alpha


def mcnemar_counts(b: int, c: int, exact_below: int = EXACT_BELOW) -> McNemar:
    """McNemar's test from the two discordant counts.

    Args:
        b: pairs the baseline gets right and the other wrong.
        c: pairs the baseline gets wrong and the other right.
        exact_below: use the exact binomial test when ``b + c`` is below this.

    Returns:
        A ``McNemar`` result; ``p_value`` is 1.0 when there is no discordant pair.

    Raises:
        ValueError: a negative count.

    >>> mcnemar_counts(1, 6).p_value  # 2 * (1 + 7) / 2**7
    0.125
    >>> round(mcnemar_counts(40, 20).p_value, 6)  # (|40 - 20| - 1)^2 / 60 = 6.016667
    0.014171
    """
    b, c = int(b), int(c)
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}.")
    n = b + c
    if n == 0:
        return McNemar(b, c, 1.0, "exact")
    if n < exact_below:
        tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
        return McNemar(b, c, min(1.0, 2 * tail / 2**n), "exact")
    statistic = max(0, abs(b - c) - 1) ** 2 / n
    return McNemar(b, c, math.erfc(math.sqrt(statistic / 2)), "chi2", statistic)


def mcnemar(
    baseline_correct: np.ndarray, other_correct: np.ndarray, exact_below: int = EXACT_BELOW
) -> McNemar:
    """McNemar's test on paired per-image correctness.

    Args:
        baseline_correct: booleans, one per test image: the baseline classified it correctly.
        other_correct: the same for the other classifier, on the same images in the same order.
        exact_below: use the exact binomial test when fewer pairs than this are discordant.

    Returns:
        A ``McNemar`` result.

    Raises:
        ValueError: the two vectors differ in shape.

    >>> base = np.array([1, 1, 1, 0, 1, 0], dtype=bool)
    >>> other = np.array([1, 0, 0, 0, 1, 1], dtype=bool)
    >>> r = mcnemar(base, other)
    >>> (r.b, r.c, r.p_value)
    (2, 1, 1.0)
    """
    base = np.asarray(baseline_correct, dtype=bool)
    other = np.asarray(other_correct, dtype=bool)
    if base.shape != other.shape:
        raise ValueError(
            f"McNemar's test needs paired outcomes on the same images; got {base.shape} and "
            f"{other.shape}."
        )
    b = int(np.count_nonzero(base & ~other))
    c = int(np.count_nonzero(~base & other))
    return mcnemar_counts(b, c, exact_below)


def mean_std(values: list[float] | np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``); the deviation is NaN for one value.

    >>> mean_std([1.0, 2.0, 3.0])
    (2.0, 1.0)
    """
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return math.nan, math.nan
    std = float(array.std(ddof=1)) if array.size > 1 else math.nan
    return float(array.mean()), std
