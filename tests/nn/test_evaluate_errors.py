"""evaluate refuses what is not a Split, and says what to use instead."""

from __future__ import annotations

import numpy as np
import pytest

import mixprec as mp


def test_evaluate_needs_a_split() -> None:
    with pytest.raises(TypeError, match="use mixprec.nn.predict"):
        mp.nn.evaluate(mp.nn.MLP.book(), np.zeros((3, 784), np.float32))
