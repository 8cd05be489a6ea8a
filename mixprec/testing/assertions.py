"""Assertions in the style of :mod:`numpy.testing`, in terms of a format's codes and ULPs."""

from __future__ import annotations

import numpy as np

from mixprec.formats.codec import encode
from mixprec.formats.registry import get_format
from mixprec.formats.spec import Format
from mixprec.testing.cases import RoundingCases
from mixprec.testing.grid import is_representable, ulp_distance

_SHOWN = 5  # differing elements listed in a failure message


def _arrays(actual: object, expected: object) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual)
    b = np.asarray(expected)
    for name, array in (("actual", a), ("expected", b)):
        if array.dtype.kind not in "fiub" and not (array.dtype.kind == "V" and array.itemsize <= 2):
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
    try:
        a, b = np.broadcast_arrays(a, b)
    except ValueError:
        raise AssertionError(f"shapes differ: actual {a.shape}, expected {b.shape}") from None
    with np.errstate(invalid="ignore"):
        return a.astype(np.float64), b.astype(np.float64)


def _show(value: float, fmt: Format, representable: bool) -> str:
    """``0x3c (1.5)``, or the value and why it has no code."""
    if not representable:
        return f"{value!r} (not a value of {fmt.name})"
    code = int(encode(np.array([value]), fmt)[0])  # (1-d: encode of a 0-d array fails)
    width = (fmt.bits + 3) // 4
    return f"0x{code:0{width}x} ({value!r})"


def _where(index: tuple[int, ...], shape: tuple[int, ...]) -> str:
    """``[3]`` for a vector, ``[1, 2]`` for a matrix, ``[()]`` for a scalar."""
    return f"[{', '.join(map(str, index))}]" if shape else "[()]"


def assert_bits_equal(
    actual: object, expected: object | RoundingCases, fmt: Format | str | None = None
) -> None:
    """Assert that ``actual`` and ``expected`` hold the same values of ``fmt``, code for code.

    NaN equals NaN (any sign, any payload); the sign of zero counts where the format has -0
    (``-0.0`` and ``0.0`` are one code in fnuz and integer formats). A value that is not in the
    format never matches. Shapes broadcast as in :func:`numpy.testing.assert_equal`.

    Args:
        actual: the values to check (any real array: float, int, ml_dtypes).
        expected: the reference values, or a :class:`RoundingCases` (its ``expected``; the
            message then shows each input and where it lies).
        fmt: the format (default: the format of the ``RoundingCases``).

    Raises:
        AssertionError: with the number of differing elements and the first few as
            ``index: actual code (value) vs expected code (value)`` in hex.

    >>> assert_bits_equal([1.0, -0.0], [1.0, -0.0], "fp16")
    >>> assert_bits_equal([1.0, 0.0], [1.0, -0.0], "fp16")
    Traceback (most recent call last):
        ...
    AssertionError: fp16 codes differ in 1 of 2 elements:
      [1]: 0x0000 (0.0) vs expected 0x8000 (-0.0)
    """
    cases = expected if isinstance(expected, RoundingCases) else None
    if cases is not None:
        expected = cases.expected
        fmt = cases.fmt if fmt is None else fmt
    if fmt is None:
        raise TypeError("assert_bits_equal needs fmt unless expected is a RoundingCases")
    fmt = get_format(fmt)
    a, b = _arrays(actual, expected)
    ok_a, ok_b = is_representable(a, fmt), is_representable(b, fmt)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    with np.errstate(invalid="ignore"):
        sign_ok = (np.signbit(a) == np.signbit(b)) | (a != 0) | (not fmt.has_negative_zero)
        same = (a == b) & sign_ok
    same = (same & ok_a & ok_b) | (nan_a & nan_b & ok_a & ok_b)
    if same.all():
        return
    bad = np.argwhere(~same) if a.ndim else np.zeros((1, 0), dtype=np.intp)
    lines = [f"{fmt.name} codes differ in {len(bad)} of {a.size} elements:"]
    for index in map(tuple, bad[:_SHOWN]):
        where = _where(index, a.shape)
        if cases is not None and a.ndim == 1:
            where += f" input {float(cases.inputs[index[0]])!r} ({cases.labels[index[0]]})"
        lines.append(
            f"  {where}: {_show(float(a[index]), fmt, ok_a[index])} vs expected "
            f"{_show(float(b[index]), fmt, ok_b[index])}"
        )
    if len(bad) > _SHOWN:
        lines.append(f"  ... and {len(bad) - _SHOWN} more")
    raise AssertionError("\n".join(lines))


def assert_within_ulp(actual: object, expected: object, fmt: Format | str, ulps: float = 1) -> None:
    """Assert ``|actual - expected| <= ulps`` units in the last place of ``fmt``, elementwise.

    The distance counts the values of ``fmt`` between the two (neighbours are 1 apart, ±0 are
    0 apart, ±inf is one beyond ±max), with fractions for numbers that are not values of
    ``fmt``: so it also measures a float64 result against its rounded version. NaN must meet
    NaN; the same infinity is 0 apart.

    Args:
        actual: the values to check.
        expected: the reference values (broadcast against ``actual``).
        fmt: the format whose ULPs count.
        ulps: the allowed distance.

    Raises:
        AssertionError: with the worst distance, where it is, and how many elements exceed.

    >>> assert_within_ulp([1.0, 2.5], [1.125, 2.5], "fp8_e4m3")
    >>> assert_within_ulp([1.0, 3.0], [1.25, 2.5], "fp8_e4m3", ulps=1)
    Traceback (most recent call last):
        ...
    AssertionError: 2 of 2 elements are more than 1 ulp of fp8_e4m3 apart;
      the worst, 2 ulps, at [0]: 1.0 vs expected 1.25
    """
    fmt = get_format(fmt)
    a, b = _arrays(actual, expected)
    distance = ulp_distance(a, b, fmt)
    nan_mismatch = np.isnan(a) != np.isnan(b)
    both_nan = np.isnan(a) & np.isnan(b)
    too_far = nan_mismatch | (~both_nan & (distance > ulps))
    if not too_far.any():
        return
    worst_distance = np.where(nan_mismatch, np.inf, np.nan_to_num(distance, nan=0.0))
    flat = int(np.argmax(worst_distance))
    worst = tuple(int(i) for i in np.unravel_index(flat, a.shape)) if a.ndim else ()
    far = float(distance[worst])
    shown = (
        "NaN against a number" if nan_mismatch[worst] else f"{far:g} ulp{'' if far == 1 else 's'}"
    )
    raise AssertionError(
        f"{int(too_far.sum())} of {a.size} elements are more than {ulps:g} "
        f"ulp{'' if ulps == 1 else 's'} of {fmt.name} "
        f"apart;\n  the worst, {shown}, at {_where(worst, a.shape)}: "
        f"{float(a[worst])!r} vs expected {float(b[worst])!r}"
    )


def assert_representable(x: object, fmt: Format | str) -> None:
    """Assert that every element of ``x`` is a value of ``fmt`` (NaN, ±inf where it has them).

    Raises:
        AssertionError: with the count and the first few offenders and their neighbours.

    >>> assert_representable([0.5, 448.0, float("nan")], "fp8_e4m3")
    >>> assert_representable([0.3, 500.0], "fp8_e4m3")
    Traceback (most recent call last):
        ...
    AssertionError: 2 of 2 elements are not values of fp8_e4m3:
      [0]: 0.3 (between 0.28125 and 0.3125)
      [1]: 500.0 (beyond max 448.0)
    """
    fmt = get_format(fmt)
    values, _ = _arrays(x, 0.0)
    ok = is_representable(values, fmt)
    if ok.all():
        return
    bad = np.argwhere(~ok) if values.ndim else np.zeros((1, 0), dtype=np.intp)
    lines = [f"{len(bad)} of {values.size} elements are not values of {fmt.name}:"]
    for index in map(tuple, bad[:_SHOWN]):
        lines.append(f"  {_where(index, values.shape)}: {_why(float(values[index]), fmt)}")
    if len(bad) > _SHOWN:
        lines.append(f"  ... and {len(bad) - _SHOWN} more")
    raise AssertionError("\n".join(lines))


def _why(value: float, fmt: Format) -> str:
    from mixprec.formats.quantize import quantize  # for the message only

    if np.isnan(value):
        return f"nan ({fmt.name} has no NaN)"
    if np.isinf(value):
        return f"{value!r} ({fmt.name} has no inf)"
    if value > fmt.max or value < fmt.min:
        bound = f"max {fmt.max!r}" if value > fmt.max else f"min {fmt.min!r}"
        return f"{value!r} (beyond {bound})"
    low = float(quantize(np.float64(value), fmt, rounding="down"))
    high = float(quantize(np.float64(value), fmt, rounding="up"))
    return f"{value!r} (between {low!r} and {high!r})"
