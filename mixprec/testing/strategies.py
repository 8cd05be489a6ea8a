"""Hypothesis strategies: values and arrays of a format (drawn as bit patterns), and formats.

Drawing codes and decoding them gives NaN, ±inf, -0 and subnormals at the rate the format
holds them, and shrinks towards code 0. hypothesis is imported when a strategy is built, so
``import mixprec.testing`` works without it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from mixprec.formats.codec import code_dtype, decode
from mixprec.formats.registry import get_format
from mixprec.formats.spec import FloatFormat, Format, IntFormat, Special

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


def _hypothesis() -> Any:
    """The hypothesis.strategies module, or an ImportError that names the extra."""
    try:
        import hypothesis.strategies as st
    except ImportError as error:
        raise ImportError(
            "mixprec.testing strategies need hypothesis: pip install 'mixprec[testing]' "
            "(also in [all] and [dev]; or pip install hypothesis)"
        ) from error
    return st


def code_kind(code: int, fmt: Format) -> str:
    """What a code of ``fmt`` holds: ``nan``, ``inf``, ``zero``, ``subnormal`` or ``normal``
    (integer formats: ``zero`` or ``normal``), from its bit fields alone."""
    fmt = get_format(fmt)
    if not isinstance(fmt, FloatFormat):
        return "zero" if code == 0 else "normal"
    m, e = fmt.mantissa_bits, fmt.exponent_bits
    magnitude = code & ((1 << (e + m)) - 1)
    negative = fmt.is_signed and code >> (e + m) == 1
    biased, mantissa = magnitude >> m, magnitude & ((1 << m) - 1)
    top = 2**e - 1
    if fmt.special is Special.FNUZ and negative and magnitude == 0:
        return "nan"
    if fmt.special is Special.IEEE and biased == top:
        return "inf" if mantissa == 0 else "nan"
    if fmt.special is Special.FN and biased == top and mantissa == 2**m - 1:
        return "nan"
    if fmt.has_zero and biased == 0:
        return "subnormal" if mantissa and fmt.has_subnormals else "zero"
    return "normal"


def _allowed(
    fmt: Format, allow_nan: bool, allow_infinity: bool, allow_subnormal: bool
) -> Callable[[int], bool] | None:
    excluded = {
        kind
        for kind, allowed in (
            ("nan", allow_nan),
            ("inf", allow_infinity),
            ("subnormal", allow_subnormal),
        )
        if not allowed
    }
    if not excluded:
        return None
    return lambda code: code_kind(code, fmt) not in excluded


def _codes(
    fmt: Format, allow_nan: bool, allow_infinity: bool, allow_subnormal: bool
) -> SearchStrategy[int]:
    st = _hypothesis()
    codes: SearchStrategy[int] = st.integers(min_value=0, max_value=2**fmt.bits - 1)
    keep = _allowed(fmt, allow_nan, allow_infinity, allow_subnormal)
    return codes if keep is None else codes.filter(keep)


def values(
    fmt: Format | str,
    *,
    allow_nan: bool = True,
    allow_infinity: bool = True,
    allow_subnormal: bool = True,
) -> SearchStrategy[float]:
    """Values of ``fmt`` as Python floats, drawn as uniformly random bit patterns.

    Integer formats wider than 53 bits give their values rounded to float64.

    Args:
        fmt: a format or its name.
        allow_nan, allow_infinity, allow_subnormal: ``False`` leaves those codes out (the
            format's zero codes stay, whatever their sign).

    Raises:
        ImportError: hypothesis is not installed (``pip install 'mixprec[testing]'``).

    >>> from hypothesis import given
    >>> from mixprec import quantize
    >>> from mixprec.testing import assert_bits_equal
    >>> @given(values("fp8_e4m3", allow_nan=False))
    ... def test_quantize_is_the_identity(x):
    ...     assert_bits_equal(quantize(x, "fp8_e4m3"), x, "fp8_e4m3")
    >>> test_quantize_is_the_identity()
    """
    fmt = get_format(fmt)
    return _codes(fmt, allow_nan, allow_infinity, allow_subnormal).map(
        functools.partial(_decode_one, fmt=fmt)
    )


def _decode_one(code: int, fmt: Format) -> float:
    return float(_decode(np.array([code], dtype=code_dtype(fmt)), fmt, np.float64)[0])


def _decode(codes: np.ndarray, fmt: Format, dtype: np.dtype | type | None) -> np.ndarray:
    """:func:`mixprec.decode`, quietly for fp64 inf/NaN codes and working for int64 codes."""
    if isinstance(fmt, IntFormat) and fmt.bits == 64:  # decode overflows a C long here
        signed = codes.view(np.int64) if fmt.is_signed else codes
        out = np.ldexp(signed.astype(np.float64), -fmt.frac_bits)
        return out.astype(np.float64 if dtype is None else dtype)
    with np.errstate(over="ignore"):  # decode computes 2**1024 for the top fp64 codes
        return decode(codes, fmt, dtype=dtype)


def arrays_of(
    fmt: Format | str,
    shape: int | tuple[int, ...] | SearchStrategy[tuple[int, ...]],
    *,
    allow_nan: bool = True,
    allow_infinity: bool = True,
    allow_subnormal: bool = True,
    dtype: np.dtype | type | None = None,
) -> SearchStrategy[np.ndarray]:
    """Arrays of values of ``fmt``, drawn as arrays of bit patterns and decoded.

    Every element is drawn (hypothesis fills no part of the array with one repeated value), so
    a hundred arrays of 64 elements reach nearly every code of an 8-bit format.

    Args:
        fmt: a format or its name.
        shape: an int, a tuple, or a strategy of shapes (``hypothesis.extra.numpy.array_shapes``).
        allow_nan, allow_infinity, allow_subnormal: as :func:`values`.
        dtype: the array dtype, as :func:`mixprec.decode` (default: float32 when every value of
            ``fmt`` is a float32, else float64).

    >>> from hypothesis import given
    >>> @given(arrays_of("bf16", (3, 4)))
    ... def test_shape(x):
    ...     assert x.shape == (3, 4) and x.dtype == np.float32
    >>> test_shape()
    """
    _hypothesis()
    from hypothesis.extra.numpy import arrays

    fmt = get_format(fmt)
    codes = arrays(
        code_dtype(fmt),
        shape,
        elements=_codes(fmt, allow_nan, allow_infinity, allow_subnormal),
        fill=_hypothesis().nothing(),  # draw every element: no array of one repeated fill value
    )
    return codes.map(functools.partial(_decode, fmt=fmt, dtype=dtype))


def formats(
    *,
    max_bits: int = 16,
    specials: tuple[str, ...] = ("ieee", "fn", "fnuz", "finite"),
    subnormals: bool | None = None,
) -> SearchStrategy[FloatFormat]:
    """Valid signed float formats of at most ``max_bits`` bits, for properties of any format.

    Exponent bits 1 to 8, mantissa bits 0 to ``max_bits - 2``, a bias within 2 of the IEEE one,
    any of ``specials`` that the widths allow (``ieee`` needs 2 exponent bits and 1 mantissa
    bit; ``fn`` with no mantissa bit needs 2 exponent bits), with or without subnormals. Every
    value fits in float64, so :func:`mixprec.quantize` takes all of them. Named like parsed
    specs: ``e4m3b7fn``, with ``_nosub`` when subnormals flush.

    Args:
        max_bits: the widest format drawn (at most 64).
        specials: the special-value schemes to draw from.
        subnormals: ``True``/``False`` to fix, ``None`` to draw both.

    >>> from hypothesis import given
    >>> from mixprec.testing import assert_representable
    >>> @given(formats(max_bits=8))
    ... def test_max_is_a_value(fmt):
    ...     assert_representable(fmt.max, fmt)
    >>> test_max_is_a_value()
    """
    st = _hypothesis()
    known = [s.value for s in Special]
    unknown = [s for s in specials if s not in known and s not in list(Special)]
    if unknown:
        raise ValueError(
            f"unknown special-value scheme {unknown[0]!r}; allowed: {', '.join(map(repr, known))}"
        )
    schemes = [Special(s) for s in specials]
    fitting = [s for s in schemes if max_bits >= _min_bits(s)]
    if not fitting or max_bits > 64:
        allowed = ", ".join(f"{s.value}: {_min_bits(s)}" for s in Special)
        raise ValueError(
            f"no float format with specials {tuple(specials)} and max_bits={max_bits}; the "
            f"narrowest of each scheme ({allowed} bits); max_bits is at most 64"
        )

    @st.composite  # type: ignore[untyped-decorator]
    def draw_format(draw: Any) -> FloatFormat:
        special = draw(st.sampled_from(fitting))
        least_e = 2 if special is Special.IEEE else 1
        least_m = 1 if special is Special.IEEE else 0
        e = draw(st.integers(least_e, min(8, max_bits - 1 - least_m)))
        if special is Special.FN and e == 1:
            least_m = 1  # e1m0fn would be all NaN and zero
        m = draw(st.integers(least_m, min(52, max_bits - 1 - e)))
        bias = 2 ** (e - 1) - 1 + draw(st.integers(-2, 2))
        with_subnormals = draw(st.booleans()) if subnormals is None else subnormals
        suffix = "" if special is Special.IEEE else special.value
        return FloatFormat(
            name=f"e{e}m{m}b{bias}{suffix}{'' if with_subnormals else '_nosub'}",
            exponent_bits=e,
            mantissa_bits=m,
            bias=bias,
            special=special,
            has_subnormals=with_subnormals,
        )

    strategy: SearchStrategy[FloatFormat] = draw_format()
    return strategy


def _min_bits(special: Special) -> int:
    """The narrowest signed format of a scheme: ieee e2m1, fn e1m1, fnuz and finite e1m0."""
    return {Special.IEEE: 4, Special.FN: 3}.get(special, 2)
