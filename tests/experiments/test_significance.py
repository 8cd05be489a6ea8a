"""McNemar's test against hand-computed cases and a brute-force binomial."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest

from mixprec.experiments.significance import EXACT_BELOW, mcnemar, mcnemar_counts, mean_std


def test_exact_hand_computed() -> None:
    # b=1, c=6: P(X <= 1) for X ~ Bin(7, 1/2) is (1 + 7) / 128; two-sided doubles it.
    result = mcnemar_counts(1, 6)
    assert (result.method, result.p_value, result.statistic) == ("exact", 16 / 128, None)
    assert mcnemar_counts(6, 1).p_value == result.p_value
    # b=0, c=5: 2 / 32
    assert mcnemar_counts(0, 5).p_value == 2 / 32
    assert mcnemar_counts(3, 3).p_value == 1.0


def test_chi_square_hand_computed() -> None:
    # b=40, c=20: (|40-20| - 1)^2 / 60 = 361/60; p = P(chi2_1 > 6.01667) = 0.0141714 (tables)
    result = mcnemar_counts(40, 20)
    assert result.method == "chi2"
    assert result.statistic == pytest.approx(361 / 60)
    assert result.p_value == pytest.approx(0.0141714, abs=5e-7)
    # chi2_1 = 3.841459 is the 5 % critical value: (|b-c|-1)^2/(b+c) = 3.841459 at b+c=100
    # needs |b-c| = 20.6; b=61, c=39 gives 441/100 = 4.41 -> p = 0.03573
    assert mcnemar_counts(61, 39).p_value == pytest.approx(0.035729, abs=1e-6)
    assert mcnemar_counts(30, 30).p_value == 1.0


def test_no_discordant_pairs() -> None:
    assert mcnemar_counts(0, 0).p_value == 1.0
    assert not mcnemar_counts(0, 0).is_significant()


def test_exact_against_brute_force() -> None:
    # Enumerate every outcome of n fair coin flips: p = P(|X - n/2| >= |b - n/2|).
    for n in range(1, 11):
        sums = [sum(flips) for flips in product((0, 1), repeat=n)]
        for b in range(n + 1):
            extreme = abs(b - n / 2)
            count = sum(1 for s in sums if abs(s - n / 2) >= extreme)
            assert mcnemar_counts(b, n - b).p_value == pytest.approx(count / 2**n, rel=1e-12)


def test_threshold_switches_method() -> None:
    assert mcnemar_counts(20, EXACT_BELOW - 1 - 20).method == "exact"
    assert mcnemar_counts(20, EXACT_BELOW - 20).method == "chi2"


def test_from_vectors() -> None:
    base = np.array([1, 1, 1, 0, 1, 0, 1, 1], dtype=bool)
    other = np.array([1, 0, 0, 0, 1, 1, 0, 1], dtype=bool)
    result = mcnemar(base, other)
    assert (result.b, result.c, result.discordant) == (3, 1, 4)
    assert result.p_value == pytest.approx(2 * 5 / 16)  # P(X<=1), X ~ Bin(4, 1/2) = 5/16
    with pytest.raises(ValueError, match="paired"):
        mcnemar(base, other[:-1])
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_counts(-1, 2)


def test_mean_std() -> None:
    assert mean_std([0.5])[0] == 0.5 and math.isnan(mean_std([0.5])[1])
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
