"""``edge_values``: the named edge cases of a format, ready for ``pytest.mark.parametrize``."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mixprec.formats.registry import get_format
from mixprec.formats.spec import FloatFormat, Format, IntFormat

KINDS = ("all", "finite", "special", "zero", "subnormal", "normal", "range", "one", "binade")
"""The subsets :func:`edge_values` can select; see its docstring."""

_BINADES_SHOWN = 32  # formats with more binades show the first, the last and those around 1


@dataclass(frozen=True, eq=False)
class EdgeValues:
    """Named values of a format: ``values[i]`` is called ``labels[i]``.

    Iterating gives ``(label, value)`` pairs; ``edges["max"]`` looks a value up by label.
    For pytest: ``@pytest.mark.parametrize("x", edges.values, ids=edges.labels)``.
    """

    fmt: Format
    labels: tuple[str, ...]
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[tuple[str, float]]:
        return iter(zip(self.labels, self.values.tolist(), strict=True))

    def __getitem__(self, label: str) -> float:
        try:
            return float(self.values[self.labels.index(label)])
        except ValueError:
            raise KeyError(
                f"{self.fmt.name} has no edge value {label!r}; its labels: {', '.join(self.labels)}"
            ) from None

    def __repr__(self) -> str:
        items = ", ".join(f"{label}={value!r}" for label, value in self)
        return f"EdgeValues({self.fmt.name}: {items})"


def edge_values(fmt: Format | str, kind: str = "all") -> EdgeValues:
    """The named edge cases of a format, each a value of the format.

    Args:
        fmt: a format or its name.
        kind: which subset (every label below appears only where the format has that value, and
            a value appears once, under its first label):

            * ``"all"``: everything below.
            * ``"finite"``: all but ±inf and NaN.
            * ``"special"``: ``inf``, ``-inf``, ``nan``.
            * ``"zero"``: ``zero`` and ``-zero``.
            * ``"subnormal"``: ``±smallest_subnormal``, ``±largest_subnormal``.
            * ``"normal"``: every finite non-zero entry that is not subnormal.
            * ``"range"``: the extremes: ``±smallest_subnormal`` (integers:
              ``±smallest_positive``), ``±smallest_normal``, ``±max``, ``next_below_max``
              (signed integers also ``min``, one below ``-max``; integers of more than 53 bits
              have ``largest_exact``, the largest value that is a float64, instead of ``max``
              and ``next_below_max``).
            * ``"one"``: ``one``, ``next_above_one``, ``next_below_one``, ``-one``.
            * ``"binade"``: the powers of two that start each binade, ``2**e``, and the value just
              below each, ``below_2**e`` (formats with more than 32 binades: the lowest three, the
              three around 1 and the highest three). Empty for integer formats.

            Negative entries carry a ``-`` before the label of their magnitude.

    Returns:
        An :class:`EdgeValues`: ``labels`` and float64 ``values`` in the order above, negatives
        after their positive counterparts.

    Raises:
        ValueError: an unknown ``kind``.

    >>> edges = edge_values("fp8_e4m3", kind="range")
    >>> dict(edges)  # doctest: +NORMALIZE_WHITESPACE
    {'smallest_subnormal': 0.001953125, '-smallest_subnormal': -0.001953125,
     'smallest_normal': 0.015625, '-smallest_normal': -0.015625, 'max': 448.0, '-max': -448.0,
     'next_below_max': 416.0, '-next_below_max': -416.0}
    >>> edge_values("fp8_e5m2", kind="special").labels
    ('inf', '-inf', 'nan')
    >>> edge_values("fp8_e4m3fnuz")["zero"], len(edge_values("fp8_e4m3fnuz", "zero"))
    (0.0, 1)
    """
    fmt = get_format(fmt)
    if kind not in KINDS:
        raise ValueError(f"unknown edge-value kind {kind!r}; allowed: {', '.join(KINDS)}")
    entries = _float_entries(fmt) if isinstance(fmt, FloatFormat) else _int_entries(fmt)
    merged: dict[tuple[object, ...], tuple[str, float, set[str]]] = {}
    for label, value, kinds in entries:  # a value keeps its first label and all its kinds
        key = (value, bool(np.signbit(value))) if not np.isnan(value) else (0.0, False, "nan")
        merged.setdefault(key, (label, value, set()))[2].update(kinds)
    chosen = [
        (label, value)
        for label, value, kinds in merged.values()
        if kind == "all" or kind in kinds or (kind == "finite" and "special" not in kinds)
    ]
    labels = tuple(label for label, _ in chosen)
    values = np.array([value for _, value in chosen], dtype=np.float64)
    return EdgeValues(fmt=fmt, labels=labels, values=values)


Entry = tuple[str, float, frozenset[str]]


def _with_negatives(fmt: Format, positives: list[Entry]) -> list[Entry]:
    out: list[Entry] = []
    for label, value, kinds in positives:
        out.append((label, value, kinds))
        if fmt.is_signed and value != 0:
            out.append((f"-{label}", -value, kinds))
    return out


def _float_entries(fmt: FloatFormat) -> list[Entry]:
    m, sn, top = fmt.mantissa_bits, fmt.smallest_normal, fmt.max

    def below(v: float) -> float:
        """The largest value of ``fmt`` below the positive value ``v >= smallest_normal``."""
        if v == sn:
            return v - fmt.smallest_subnormal if fmt.has_subnormals else 0.0
        fraction, exponent = math.frexp(v)  # v = fraction * 2**exponent, fraction in [0.5, 1)
        binade_below = exponent - 1 - (1 if fraction == 0.5 else 0)  # a power of two: lower gap
        return v - math.ldexp(1.0, binade_below - m)

    def k(*names: str) -> frozenset[str]:
        return frozenset(names)

    zero: list[Entry] = []
    if fmt.has_zero:
        zero.append(("zero", 0.0, k("zero")))
        if fmt.has_negative_zero:
            zero.append(("-zero", -0.0, k("zero")))
    positives: list[Entry] = []
    if fmt.has_subnormals and m > 0:
        positives.append(("smallest_subnormal", fmt.smallest_subnormal, k("subnormal", "range")))
        positives.append(("largest_subnormal", sn - fmt.smallest_subnormal, k("subnormal")))
    positives.append(("smallest_normal", sn, k("normal", "range")))
    positives.append(("max", top, k("normal", "range")))
    positives.append(("next_below_max", below(top), k("normal", "range")))
    if fmt.emin <= 0 <= fmt.emax:
        positives.append(("one", 1.0, k("normal", "one")))
        if 1.0 + fmt.eps <= top:
            positives.append(("next_above_one", 1.0 + fmt.eps, k("normal", "one")))
        if 1.0 > sn or fmt.has_subnormals:
            after = "subnormal" if 1.0 == sn else "normal"
            positives.append(("next_below_one", below(1.0), k(after, "one")))
    for e in _binade_exponents(fmt):
        power = 2.0**e
        positives.append((f"2**{e}", power, k("normal", "binade")))
        if e > fmt.emin or fmt.has_subnormals:
            after = "normal" if e > fmt.emin else "subnormal"
            positives.append((f"below_2**{e}", below(power), k(after, "binade")))
    positives = [entry for entry in positives if entry[1] > 0 or fmt.has_zero]
    special: list[Entry] = []
    if fmt.has_inf:
        special += [("inf", np.inf, k("special")), ("-inf", -np.inf, k("special"))]
    if fmt.has_nan:
        special.append(("nan", np.nan, k("special")))
    negatives_too = _with_negatives(fmt, positives)
    if not fmt.is_signed:
        special = [entry for entry in special if entry[1] > 0 or np.isnan(entry[1])]
    return zero + negatives_too + special


def _binade_exponents(fmt: FloatFormat) -> list[int]:
    exponents = list(range(fmt.emin, fmt.emax + 1))
    if len(exponents) <= _BINADES_SHOWN:
        return exponents
    middle = [e for e in (-1, 0, 1) if fmt.emin <= e <= fmt.emax]
    return sorted(set(exponents[:3] + middle + exponents[-3:]))


def _int_entries(fmt: IntFormat) -> list[Entry]:
    eps = fmt.eps

    def k(*names: str) -> frozenset[str]:
        return frozenset(names)

    top_code = fmt.max_code
    if top_code < 2**53:
        top: list[Entry] = [
            ("max", fmt.max, k("normal", "range")),
            ("next_below_max", fmt.max - eps, k("normal", "range")),
        ]
    else:  # int64, uint64 ...: max is no float64; the largest code that is one
        exact = top_code - top_code % 2 ** (top_code.bit_length() - 53)
        top = [("largest_exact", math.ldexp(exact, -fmt.frac_bits), k("normal", "range"))]
    positives: list[Entry] = [("smallest_positive", eps, k("normal", "range")), *top]
    if 1.0 <= fmt.max and fmt.frac_bits >= 0:
        positives.insert(1, ("one", 1.0, k("normal", "one")))
    entries = [("zero", 0.0, k("zero"))]
    if fmt.is_signed:  # two's complement: one more negative value than positive ones
        entries += _with_negatives(fmt, positives)
        entries.append(("min", fmt.min, k("normal", "range")))
    else:
        entries += positives
    return [entry for entry in entries if entry[1] >= fmt.min]
