"""The table of rounding rules: every mode, and its decisions at each place, by hand from
IEEE 754-2019 §4.3 (and round-to-odd, stochastic rounding)."""

from __future__ import annotations

import numpy as np
import pytest

from mixprec.formats.rounding import RULES, Away, round_away
from mixprec.formats.spec import Rounding

# (frac in quanta, last kept bit odd, negative) -> away?  for each deterministic mode
PLACES = [(0.25, False, False), (0.5, False, False), (0.5, True, False), (0.75, True, True),
          (0.5, True, True), (0.25, False, True), (0.0, True, False)]  # fmt: skip
EXPECTED = {
    Rounding.NEAREST_EVEN: [False, False, True, True, True, False, False],
    Rounding.NEAREST_AWAY: [False, True, True, True, True, False, False],
    Rounding.TOWARD_ZERO: [False, False, False, False, False, False, False],
    Rounding.UP: [True, True, True, False, False, False, False],
    Rounding.DOWN: [False, False, False, True, True, True, False],
    Rounding.ODD: [True, True, False, False, False, True, False],
}


def test_every_mode_has_one_rule() -> None:
    assert set(RULES) == set(Rounding)
    for rule in RULES.values():
        assert rule.is_nearest or rule.is_uniform


@pytest.mark.parametrize("mode", list(EXPECTED), ids=lambda m: m.value)
def test_decisions_at_each_place(mode: Rounding) -> None:
    frac = np.array([p[0] for p in PLACES])
    odd = np.array([p[1] for p in PLACES])
    negative = np.array([p[2] for p in PLACES])
    away = round_away(mode, frac, 0.5, lambda: odd, negative)
    assert away.tolist() == EXPECTED[mode]


def test_stochastic_compares_the_uniform_numbers() -> None:
    frac = np.array([0.25, 0.25, 0.0])
    uniform = np.array([0.2, 0.3, 0.0])
    away = round_away(Rounding.STOCHASTIC, frac, 0.5, lambda: frac > 0, frac < 0, uniform)
    assert away.tolist() == [True, False, False]
    with pytest.raises(ValueError, match="needs rng"):
        round_away(Rounding.STOCHASTIC, frac, 0.5, lambda: frac > 0, frac < 0)
    assert RULES[Rounding.STOCHASTIC].at_half is Away.AT_RANDOM
