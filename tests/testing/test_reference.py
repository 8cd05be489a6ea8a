"""The Fraction oracle of tests/reference.py on cases checked by hand against the specs."""

from __future__ import annotations

import doctest
import math
from fractions import Fraction

import pytest

from tests import reference
from tests.reference import exact_round, finite_values, max_value, neighbours

hexf = float.fromhex

# (format, value, rounding, overflow, expected): each line checked by hand against the spec.
CASES = [
    # OCP OFP8 rev 1.0 §5, E4M3: max 448 = 0x1.cp8, the NaN slot 480 sits above it.
    ("fp8_e4m3", 464.0, "nearest_even", "saturate", 448.0),  # tie 448 | 480: 448 is even
    ("fp8_e4m3", 464.0, "nearest_even", "inf", 448.0),
    ("fp8_e4m3", 465.0, "nearest_even", "inf", math.nan),
    ("fp8_e4m3", 465.0, "nearest_even", "saturate", 448.0),
    ("fp8_e4m3", 464.0, "nearest_away", "inf", math.nan),
    ("fp8_e4m3", 1000.0, "toward_zero", "inf", 448.0),  # IEEE 754 §7.4: toward zero gives max
    ("fp8_e4m3", -1000.0, "up", "inf", -448.0),
    ("fp8_e4m3", -1000.0, "down", "inf", math.nan),
    ("fp8_e4m3", math.inf, "nearest_even", "saturate", 448.0),
    ("fp8_e4m3", -math.inf, "nearest_even", "inf", math.nan),
    ("fp8_e4m3", hexf("0x1p-10"), "nearest_even", "saturate", 0.0),  # half the smallest subnormal
    ("fp8_e4m3", hexf("0x1p-10"), "nearest_away", "saturate", hexf("0x1p-9")),
    ("fp8_e4m3", hexf("0x3p-10"), "nearest_even", "saturate", hexf("0x1p-8")),  # 1.5 -> 2 ulps
    ("fp8_e4m3", -hexf("0x1p-11"), "nearest_even", "saturate", -0.0),
    ("fp8_e4m3", -hexf("0x1p-11"), "down", "saturate", -hexf("0x1p-9")),
    ("fp8_e4m3", 1.0 + hexf("0x1p-5"), "odd", "saturate", 1.125),
    ("fp8_e4m3", 1.125 + hexf("0x1p-5"), "odd", "saturate", 1.125),
    ("fp8_e4m3", 1.0 + hexf("0x1p-5"), "up", "saturate", 1.125),
    ("fp8_e4m3", 1.0 + hexf("0x1p-5"), "toward_zero", "saturate", 1.0),
    ("fp8_e4m3", 15.5, "nearest_even", "saturate", 16.0),  # across the binade edge
    # OCP OFP8 §5, E5M2: IEEE-like, max 57344, 61440 is the tie with 2**16.
    ("fp8_e5m2", 61440.0, "nearest_even", "inf", math.inf),
    ("fp8_e5m2", 61439.0, "nearest_even", "inf", 57344.0),
    ("fp8_e5m2", 61440.0, "nearest_even", "saturate", 57344.0),
    ("fp8_e5m2", 1e9, "odd", "inf", 57344.0),
    ("fp8_e5m2", -math.inf, "toward_zero", "saturate", -math.inf),
    ("fp8_e5m2", math.nan, "nearest_even", "saturate", math.nan),
    # IEEE 754 binary16: max 65504, 65520 is the tie with 2**16.
    ("fp16", 65520.0, "nearest_even", "inf", math.inf),
    ("fp16", 65520.0, "nearest_even", "saturate", 65504.0),
    ("fp16", math.nextafter(65520.0, 0.0), "nearest_even", "inf", 65504.0),
    ("fp16", 65520.0, "down", "inf", 65504.0),
    ("fp16", hexf("0x1p-25"), "nearest_even", "saturate", 0.0),
    ("fp16", math.nextafter(hexf("0x1p-25"), 1.0), "nearest_even", "saturate", hexf("0x1p-24")),
    ("fp16", -0.0, "nearest_even", "saturate", -0.0),
    ("fp16", 1.0 + hexf("0x1p-11"), "nearest_even", "saturate", 1.0),
    ("fp16", 1.0 + hexf("0x3p-11"), "nearest_even", "saturate", 1.0 + hexf("0x1p-9")),
    # bf16: subnormals down to 2**-133; the largest subnormal is 0x1.fcp-127.
    ("bf16", hexf("0x1p-134"), "nearest_even", "saturate", 0.0),
    ("bf16", hexf("0x3p-134"), "nearest_even", "saturate", hexf("0x1p-132")),
    ("bf16", hexf("0x5p-134"), "nearest_even", "saturate", hexf("0x1p-132")),
    ("bf16", hexf("0x1p-140"), "up", "saturate", hexf("0x1p-133")),
    ("bf16", hexf("0x1.fcp-127"), "nearest_even", "saturate", hexf("0x1.fcp-127")),
    ("bf16", hexf("0x1.fdp-127"), "nearest_even", "saturate", hexf("0x1.fcp-127")),
    ("bf16", hexf("0x1.fep-127"), "nearest_even", "saturate", hexf("0x1p-126")),
    ("bf16", 3.39e38, "nearest_even", "inf", hexf("0x1.fep127")),  # max + half an ulp: 3.3962e38
    ("bf16", 3.4e38, "nearest_even", "inf", math.inf),
    # fnuz: no -0, max 240 (E4M3FNUZ), 57344 (E5M2FNUZ), NaN on overflow.
    ("fp8_e4m3fnuz", -0.0, "nearest_even", "saturate", 0.0),
    ("fp8_e4m3fnuz", -hexf("0x1p-20"), "nearest_even", "saturate", 0.0),
    ("fp8_e4m3fnuz", 247.0, "nearest_even", "inf", 240.0),
    ("fp8_e4m3fnuz", 248.0, "nearest_even", "inf", math.nan),  # tie 240 | 256: 256 is even
    ("fp8_e5m2fnuz", 1e6, "nearest_even", "inf", math.nan),
    # OCP MX v1.0 §5.3.3: FP4 E2M1 values 0, 0.5, 1, 1.5, 2, 3, 4, 6; no inf, no NaN.
    ("fp4_e2m1", 5.0, "nearest_even", "saturate", 4.0),
    ("fp4_e2m1", 5.0, "nearest_away", "saturate", 6.0),
    ("fp4_e2m1", 0.25, "nearest_even", "saturate", 0.0),
    ("fp4_e2m1", 0.75, "nearest_even", "saturate", 1.0),
    ("fp4_e2m1", 7.0, "nearest_even", "inf", 6.0),
    ("fp4_e2m1", math.inf, "nearest_even", "inf", 6.0),
    ("fp6_e3m2", 30.0, "nearest_even", "inf", 28.0),
    ("fp6_e2m3", 7.75, "nearest_even", "saturate", 7.5),
    # OCP MX §5.4.1 E8M0: unsigned powers of two 2**-127 .. 2**127, NaN at 0xFF, no zero.
    ("e8m0", 1.5, "nearest_even", "saturate", 2.0),
    ("e8m0", 1.5, "odd", "saturate", 1.0),
    ("e8m0", 0.0, "nearest_even", "saturate", math.nan),
    ("e8m0", -1.0, "nearest_even", "saturate", math.nan),
    ("e8m0", hexf("0x1p-140"), "toward_zero", "saturate", hexf("0x1p-127")),
    ("e8m0", hexf("0x1.8p127"), "nearest_even", "inf", math.nan),
    ("e8m0", hexf("0x1.8p127"), "nearest_even", "saturate", hexf("0x1p127")),
    # Integers and fixed point: two's complement.
    ("int8", 2.5, "nearest_even", "saturate", 2.0),
    ("int8", 3.5, "nearest_even", "saturate", 4.0),
    ("int8", -2.5, "nearest_even", "saturate", -2.0),
    ("int8", -2.5, "nearest_away", "saturate", -3.0),
    ("int8", -2.5, "up", "saturate", -2.0),
    ("int8", -2.5, "down", "saturate", -3.0),
    ("int8", 2.5, "odd", "saturate", 3.0),
    ("int8", -0.0, "nearest_even", "saturate", 0.0),
    ("int8", -0.25, "nearest_even", "saturate", 0.0),
    ("int8", 130.0, "nearest_even", "wrap", -126.0),
    ("int8", 130.0, "nearest_even", "saturate", 127.0),
    ("int8", -129.0, "nearest_even", "saturate", -128.0),
    ("int8", 127.5, "nearest_even", "wrap", -128.0),
    ("int8", math.inf, "nearest_even", "saturate", 127.0),
    ("int8", -math.inf, "nearest_even", "saturate", -128.0),
    ("uint8", -1.0, "nearest_even", "wrap", 255.0),
    ("uint8", -1.0, "nearest_even", "saturate", 0.0),
    ("int4", 9.0, "nearest_even", "wrap", -7.0),
    ("fixed<16,8>", hexf("0x1p-9"), "nearest_even", "saturate", 0.0),
    ("fixed<16,8>", hexf("0x3p-9"), "nearest_even", "saturate", hexf("0x1p-7")),
    ("fixed<16,8>", 200.0, "nearest_even", "saturate", hexf("0x7fffp-8")),
    ("fixed<16,8>", 128.0, "nearest_even", "wrap", -128.0),
]


def _same(a: float, b: float) -> bool:
    """Equal floats, NaN equal to NaN, the sign of zero significant."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@pytest.mark.parametrize(
    ("fmt", "value", "rounding", "overflow", "expected"),
    CASES,
    ids=[f"{c[0]}-{c[1]!r}-{c[2]}-{c[3]}" for c in CASES],
)
def test_exact_round_hand_checked(fmt, value, rounding, overflow, expected):
    assert _same(exact_round(value, fmt, rounding, overflow), expected)


def test_exact_round_takes_fractions_and_the_enums():
    from mixprec import Overflow, Rounding

    third = Fraction(1, 3)
    assert exact_round(third, "fp8_e4m3", Rounding.NEAREST_EVEN, Overflow.SATURATE) == 0.34375
    assert exact_round(third, "fp8_e4m3", "down") == 0.3125
    assert exact_round(-third, "int8") == 0.0


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        ("fp8_e4m3", 1.0, (1, 1)),
        ("fp8_e4m3", 1.0625, (1, Fraction(9, 8))),
        ("fp8_e4m3", -1.0625, (Fraction(-9, 8), -1)),
        ("fp8_e4m3", 449.0, (448, None)),
        ("fp8_e4m3", -449.0, (None, -448)),
        ("fp8_e4m3", 0.0, (0, 0)),
        ("fp8_e4m3", 1e-9, (0, Fraction(1, 512))),
        ("bf16", 1e-45, (0, Fraction(1, 2**133))),
        ("e8m0", 1e-45, (None, Fraction(1, 2**127))),
        ("e8m0", 3.0, (2, 4)),
        ("e8m0", -3.0, (None, Fraction(1, 2**127))),
        ("int8", 127.5, (127, None)),
        ("uint4", -0.5, (None, 0)),
    ],
)
def test_neighbours(fmt, value, expected):
    assert neighbours(value, fmt) == expected


@pytest.mark.parametrize(
    ("fmt", "count", "largest"),
    [
        ("fp8_e4m3", 253, 448),  # 256 codes - 2 NaN - duplicate zero
        ("fp8_e5m2", 247, 57344),  # 256 - 2 inf - 6 NaN - duplicate zero
        ("fp8_e4m3fnuz", 255, 240),  # 256 - the NaN at 0x80
        ("fp4_e2m1", 15, 6),
        ("e8m0", 255, 2**127),
        ("fp16", 63487, 65504),  # 65536 - 2 * 1024 inf/NaN - duplicate zero
        # bf16: 65536 - 2 * 128 inf/NaN - duplicate zero
        ("bf16", 65279, Fraction(0xFF, 2**7) * 2**127),
        ("int4", 16, 7),
        ("fixed<8,4>", 256, Fraction(127, 16)),
    ],
)
def test_finite_values(fmt, count, largest):
    values = finite_values(fmt)
    assert len(values) == count
    assert values == sorted(set(values))
    assert values[-1] == largest == max_value(fmt)


def test_errors():
    with pytest.raises(ValueError, match="unknown rounding mode"):
        exact_round(1.0, "fp16", "nearest")
    with pytest.raises(ValueError, match="overflow 'wrap'"):
        exact_round(1.0, "fp16", overflow="wrap")
    with pytest.raises(ValueError, match="overflow 'inf'"):
        exact_round(1.0, "int8", overflow="inf")
    with pytest.raises(OverflowError, match="out of range for int8"):
        exact_round(128.0, "int8", overflow="error")
    with pytest.raises(ValueError, match="NaN"):
        exact_round(math.nan, "int8")
    with pytest.raises(ValueError, match="inf"):
        exact_round(math.inf, "int8", overflow="wrap")
    with pytest.raises(ValueError, match="<= 16 bits"):
        finite_values("fp32")


def test_doctests():
    assert doctest.testmod(reference).failed == 0
