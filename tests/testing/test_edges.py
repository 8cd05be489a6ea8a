"""edge_values: every entry is a value of its format, and means what its label says."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest

import mixprec as mp
from mixprec.formats.spec import FloatFormat
from mixprec.testing import KINDS, assert_representable, edge_values
from tests.reference import max_value, neighbours

PARSED = ["e2m2", "e3m1fn", "e4m3b11fnuz", "e5m1fnuz", "e2m3finite", "int12", "uint3", "fixed<8,3>"]
NO_SUBNORMALS = FloatFormat(
    name="e4m3_nosub", exponent_bits=4, mantissa_bits=3, has_subnormals=False
)
FORMATS = [*mp.list_formats(), *map(mp.get_format, PARSED), NO_SUBNORMALS]
IDS = [f.name for f in FORMATS]
TINY = Fraction(1, 2**2000)  # far below any gap of any format


def _bits(x: np.ndarray) -> np.ndarray:
    """float64 bit patterns with every NaN made the same."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.isnan(x), np.nan, x).view(np.int64)


def _below(v: float, fmt) -> float:
    return float(neighbours(Fraction(v) - TINY, fmt)[0])


def _above(v: float, fmt) -> float:
    return float(neighbours(Fraction(v) + TINY, fmt)[1])


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_edge_values_are_values_of_the_format(fmt):
    edges = edge_values(fmt)
    assert len(edges) == len(set(edges.labels)) > 0
    x = edges.values
    np.testing.assert_array_equal(_bits(mp.quantize(x, fmt)), _bits(x))
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    if np.array_equal(x32, x, equal_nan=True):  # every format but fp64 and the wide integers
        np.testing.assert_array_equal(_bits(mp.quantize(x32, fmt)), _bits(x))
    if fmt.has_negative_zero or not np.any(np.signbit(x) & (x == 0)):
        assert len(set(_bits(x).tolist())) == len(x), "a value appears twice"


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_edge_values_round_trip_through_codes(fmt):
    x = edge_values(fmt).values
    codes = mp.encode(x, fmt)
    np.testing.assert_array_equal(_bits(mp.decode(codes, fmt, dtype=np.float64)), _bits(x))


def test_encode_one_edge_value_at_a_time():
    # As in @pytest.mark.parametrize("x", edges.values, ids=edges.labels): x is a numpy scalar.
    for _, x in edge_values("fp16", "finite"):
        assert mp.decode(mp.encode(np.float64(x), "fp16"), "fp16") == x


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_labels_mean_what_they_say(fmt):
    edges = dict(edge_values(fmt))
    for label, value in edges.items():
        if label.startswith("-") and label != "-zero":
            assert fmt.is_signed and value == -edges[label[1:]], label
            continue
        if label == "zero":
            assert value == 0 and not np.signbit(value)
        elif label == "-zero":
            assert value == 0 and np.signbit(value) and fmt.has_negative_zero
        elif label == "smallest_subnormal":
            assert fmt.has_subnormals and value == fmt.smallest_subnormal < fmt.smallest_normal
            assert _below(value, fmt) == 0
        elif label == "largest_subnormal":
            assert fmt.has_subnormals and value == _below(fmt.smallest_normal, fmt)
        elif label in ("smallest_normal", "max", "min"):
            assert value == getattr(fmt, label)
        elif label == "smallest_positive":
            assert fmt.is_integer and value == fmt.eps == _above(0, fmt)
        elif label == "largest_exact":  # integers wider than float64's significand
            assert Fraction(value) <= max_value(fmt) < Fraction(np.nextafter(value, np.inf))
            assert fmt.is_integer and value % fmt.eps == 0
        elif label == "next_below_max":
            assert value == _below(fmt.max, fmt)
        elif label == "one":
            assert value == 1
        elif label == "next_above_one":
            assert value == _above(1, fmt) == 1 + fmt.eps
        elif label == "next_below_one":
            assert value == _below(1, fmt)
        elif match := re.fullmatch(r"(below_)?2\*\*(-?\d+)", label):
            power = 2.0 ** int(match[2])
            assert fmt.emin <= int(match[2]) <= fmt.emax
            assert value == (_below(power, fmt) if match[1] else power)
        elif label in ("inf", "nan"):
            assert getattr(fmt, f"has_{label}") and (
                np.isnan(value) if label == "nan" else value > 0
            )
        else:
            pytest.fail(f"unexpected label {label!r}")
    # the format's properties appear (under some label: a value is listed once)
    values = {(v, bool(np.signbit(v))) for v in edges.values() if not np.isnan(v)}
    assert (fmt.smallest_normal, False) in values
    assert (fmt.max, False) in values or "largest_exact" in edges
    assert ("nan" in edges) == fmt.has_nan and ("inf" in edges) == fmt.has_inf
    assert ("-inf" in edges) == (fmt.has_inf and fmt.is_signed)
    assert ("-zero" in edges) == fmt.has_negative_zero
    assert ("-max" in edges or "-largest_exact" in edges) == fmt.is_signed
    if fmt.has_subnormals and fmt.mantissa_bits > 0:
        assert (fmt.smallest_subnormal, False) in values


@pytest.mark.parametrize("fmt", FORMATS, ids=IDS)
def test_kinds_select_what_they_name(fmt):
    everything = edge_values(fmt)
    by_kind = {kind: edge_values(fmt, kind) for kind in KINDS}
    assert by_kind["all"].labels == everything.labels
    for kind, edges in by_kind.items():
        assert set(edges.labels) <= set(everything.labels), kind
        assert [everything[label] for label in edges.labels] == pytest.approx(
            edges.values.tolist(), nan_ok=True
        )
    a = np.abs(everything.values)
    finite = np.isfinite(everything.values)
    for label, magnitude, is_finite in zip(everything.labels, a, finite, strict=True):
        assert (label in by_kind["special"].labels) == (not is_finite), label
        assert (label in by_kind["finite"].labels) == is_finite, label
        assert (label in by_kind["zero"].labels) == (magnitude == 0), label
        subnormal = is_finite and 0 < magnitude < fmt.smallest_normal
        assert (label in by_kind["subnormal"].labels) == subnormal, label
        if label in by_kind["normal"].labels:
            assert is_finite and magnitude >= fmt.smallest_normal, label
    assert {"max", "largest_exact"} & set(by_kind["range"].labels)
    if isinstance(fmt, FloatFormat) and fmt.emin <= 0 <= fmt.emax:
        assert 1.0 in by_kind["one"].values


E4M3 = edge_values("fp8_e4m3")


@pytest.mark.parametrize("x", E4M3.values, ids=E4M3.labels)
def test_parametrize_by_edge_values(x, request):
    assert request.node.callspec.id in E4M3.labels
    assert_representable(x, "fp8_e4m3")


def test_labels_values_iteration_and_repr():
    edges = edge_values("fp8_e4m3", "range")
    assert list(edges.labels) == [
        "smallest_subnormal",
        "-smallest_subnormal",
        "smallest_normal",
        "-smallest_normal",
        "max",
        "-max",
        "next_below_max",
        "-next_below_max",
    ]
    assert edges["max"] == 448.0 and list(edges)[0] == ("smallest_subnormal", 2.0**-9)
    assert repr(edge_values("fp4_e2m1", "zero")) == "EdgeValues(fp4_e2m1: zero=0.0, -zero=-0.0)"
    assert edge_values("fp6_e2m3", "special").labels == ()
    assert edge_values("int8", "special").labels == ()


@pytest.mark.parametrize(("fmt", "expected"), [("e8m0", 2.0**-127), ("fp4_e2m1", 0.5)])
def test_smallest_positive_value(fmt, expected):
    positive = edge_values(fmt, "finite").values
    assert positive[positive > 0].min() == expected


def test_binades_of_wide_formats_are_sampled():
    labels = edge_values("fp32", "binade").labels
    powers = sorted({int(m[1]) for lb in labels if (m := re.search(r"2\*\*(-?\d+)", lb))})
    assert powers == [-125, -124, -1, 1, 125, 126, 127]  # -126 is smallest_normal, 0 is one


def test_errors_say_what_is_allowed():
    with pytest.raises(ValueError, match="unknown edge-value kind 'subnormals'; allowed: all"):
        edge_values("fp16", "subnormals")
    with pytest.raises(KeyError, match="fp8_e4m3fnuz has no edge value '-zero'; its labels: zero"):
        edge_values("fp8_e4m3fnuz")["-zero"]
