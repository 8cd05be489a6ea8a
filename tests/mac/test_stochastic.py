"""Stochastic rounding in accumulators: unbiased, N-bit bias as predicted, Higham's harmonic sum."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mixprec as mp
from mixprec.mac import MAC
from mixprec.mac.stochastic import stochastic_round

# Hoeffding: P(|mean - p| >= t) <= 2 exp(-2 n t**2); t for a failure chance of 1e-6
N_SAMPLES = 200 * 200
BOUND = math.sqrt(math.log(2e6) / (2 * N_SAMPLES))  # 0.0135


def _up_share(mac: MAC, tiny: float, sign: float = 1.0) -> float:
    """Share of 40,000 independent sums ``1 + tiny`` (fp16 grid: ulp 2**-10 at 1) rounded up."""
    a = np.full((200, 2), sign)
    a[:, 1] = sign * tiny
    y = mac.matmul(a, np.ones((2, 200)))
    ups = np.abs(y) > 1.0
    assert np.all((np.abs(y) == 1.0) | (np.abs(y) == 1 + 2.0**-10))  # a neighbour, always
    return float(ups.mean())


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_stochastic_rounding_is_unbiased(sign: float) -> None:
    # 1 + 2**-12 is a quarter of an ulp above 1: rounded up with probability 1/4
    mac = MAC("fp16", "fp16", rounding="stochastic", rng=np.random.default_rng(1))
    assert abs(_up_share(mac, 2.0**-12, sign) - 0.25) < BOUND


def test_n_bit_stochastic_rounding_has_the_predicted_bias() -> None:
    # f = 3/8 of an ulp; with 2 random bits P(up) = floor(f * 4) / 4 = 1/4, a bias of -ulp/8
    two = MAC("fp16", "fp16", rounding="stochastic", random_bits=2, rng=np.random.default_rng(2))
    assert abs(_up_share(two, 3 * 2.0**-13) - 0.25) < BOUND
    three = MAC("fp16", "fp16", rounding="stochastic", random_bits=3, rng=np.random.default_rng(3))
    assert abs(_up_share(three, 3 * 2.0**-13) - 0.375) < BOUND  # f has 3 bits: no bias
    # one bit: anything below half an ulp is truncated
    one = MAC("fp16", "fp16", rounding="stochastic", random_bits=1, rng=np.random.default_rng(4))
    assert _up_share(one, 3 * 2.0**-13) == 0.0


def test_stochastic_round_probability_is_exact_for_every_residue() -> None:
    # every residue k / 2**N of an ulp gives P(up) = k / 2**N: the draw r >= 2**N - k
    fmt = mp.get_format("bf16")
    rng = np.random.default_rng(5)
    k = np.arange(16)
    x = 1 + k * 2.0**-7 / 16  # bf16 ulp at 1 is 2**-7; residues in sixteenths
    draws = np.stack([stochastic_round(x, fmt, rng, 4) for _ in range(4000)])
    share = (draws > 1).mean(axis=0)
    assert np.all(np.abs(share - k / 16) < math.sqrt(math.log(2e6 * 16) / (2 * 4000)))


def test_seeded_generators_reproduce_every_bit() -> None:
    a = np.random.default_rng(0).standard_normal((8, 50))
    b = np.random.default_rng(1).standard_normal((50, 6))

    def run(seed: int) -> np.ndarray:
        mac = MAC("bf16", "bf16", rounding="stochastic", rng=np.random.default_rng(seed))
        return mac.matmul(a, b)

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))
    with pytest.raises(ValueError, match="needs a generator"):
        MAC.parse("bf16->bf16:stochastic").matmul(a, b)


@pytest.mark.parametrize(("fmt", "stagnation"), [("fp16", 7.0859375), ("bf16", 5.0625)])
def test_harmonic_series_stagnates_with_round_to_nearest(fmt: str, stagnation: float) -> None:
    # Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., §4 / Higham & Pranesh
    mac = MAC.parse(f"{fmt}->{fmt}")
    terms = mp.quantize(1 / np.arange(1, 4097), fmt).astype(np.float64)
    for n in (513, 1000, 4096):
        assert mac.dot(terms[:n], np.ones(n)).item() == stagnation
    if fmt == "fp16":
        assert mac.dot(terms[:511], np.ones(511)).item() < stagnation  # reached at n = 512


@pytest.mark.parametrize("fmt", ["fp16", "bf16"])
def test_harmonic_series_keeps_growing_with_stochastic_rounding(fmt: str) -> None:
    n = 8192
    terms = mp.quantize(1 / np.arange(1, n + 1), fmt).astype(np.float64)
    exact = float(np.sum(terms))  # the sum of the rounded terms, exact enough in float64
    assert abs(exact - (math.log(n) + 0.5772)) < 0.05
    mac = MAC(fmt, fmt, rounding="stochastic", rng=np.random.default_rng(11))
    runs = mac.matmul(np.tile(terms, (64, 1)), np.ones((n, 1)))  # 64 independent sums
    # each addition's rounding error has mean 0 and variance <= ulp * term (ulp of the sum, < 16
    # here: at most 2**(3 - m)); summed over the series, the mean of 64 runs has
    # sd <= sqrt(ulp * H_n) / 8 (0.02 for fp16, 0.13 for bf16): a 5 sd bound
    ulp = 2.0 ** (3 - mp.get_format(fmt).mantissa_bits)
    bound = 5 * math.sqrt(ulp * exact) / 8
    assert abs(float(runs.mean()) - exact) < bound
    assert float(runs.mean()) > (7.0859375 if fmt == "fp16" else 5.0625) + 2
