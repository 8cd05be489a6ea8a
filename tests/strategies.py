"""Shared hypothesis strategies for mixprec's own tests, built on :mod:`mixprec.testing`.

>>> from hypothesis import given
>>> from mixprec.testing import assert_bits_equal
>>> @given(format_and_array(max_bits=8, shape=4))
... def test_quantize_keeps_values(pair):
...     fmt, x = pair
...     assert_bits_equal(mp.quantize(x, fmt), x, fmt)
>>> test_quantize_keeps_values()
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import numpy as np

import mixprec as mp
from mixprec.formats.spec import FloatFormat, Format, IntFormat, Rounding
from mixprec.testing import arrays_of, formats, rounding_cases, values

__all__ = [
    "DETERMINISTIC_ROUNDINGS",
    "any_float_format",
    "arrays_of",
    "boundary_inputs",
    "float32_inputs",
    "float64_inputs",
    "format_and_array",
    "formats",
    "overflows",
    "registered_formats",
    "roundings",
    "values",
]

DETERMINISTIC_ROUNDINGS = tuple(r.value for r in Rounding if r is not Rounding.STOCHASTIC)


def registered_formats(*, max_bits: int = 16, kind: str = "any") -> st.SearchStrategy[Format]:
    """A registered format of at most ``max_bits`` bits; ``kind`` is ``any``, ``float`` or
    ``int``."""
    types: dict[str, tuple[type, ...]] = {
        "any": (FloatFormat, IntFormat),
        "float": (FloatFormat,),
        "int": (IntFormat,),
    }
    if kind not in types:
        raise ValueError(f"kind must be 'any', 'float' or 'int', got {kind!r}")
    chosen = [f for f in mp.list_formats() if f.bits <= max_bits and isinstance(f, types[kind])]
    return st.sampled_from(chosen)


def any_float_format(*, max_bits: int = 16) -> st.SearchStrategy[FloatFormat]:
    """A registered float format or a drawn specification (:func:`mixprec.testing.formats`)."""
    return st.one_of(
        registered_formats(max_bits=max_bits, kind="float"), formats(max_bits=max_bits)
    )


def roundings(*, stochastic: bool = False) -> st.SearchStrategy[str]:
    """A rounding mode's name; ``stochastic`` only when asked for."""
    names = [r.value for r in Rounding] if stochastic else list(DETERMINISTIC_ROUNDINGS)
    return st.sampled_from(names)


def overflows(fmt: Format) -> st.SearchStrategy[str]:
    """An overflow policy that ``fmt`` takes (``saturate``/``inf``, or ``saturate``/``wrap``)."""
    if isinstance(fmt, FloatFormat):
        return st.sampled_from(["saturate", "inf"])
    return st.sampled_from(["saturate", "wrap"])


def float64_inputs(**kwargs: Any) -> st.SearchStrategy[float]:
    """Any float64 bit pattern (NaN, ±inf, -0, subnormals included unless excluded)."""
    return values(mp.get_format("fp64"), **kwargs)


def float32_inputs(**kwargs: Any) -> st.SearchStrategy[float]:
    """Any float32 bit pattern, as a Python float."""
    return values(mp.get_format("fp32"), **kwargs)


def boundary_inputs(fmt: Format | str, *, dtype: type = np.float64) -> st.SearchStrategy[float]:
    """Inputs at and beside ``fmt``'s rounding boundaries (from :func:`rounding_cases`)."""
    return st.sampled_from(rounding_cases(fmt, dtype=dtype, per_binade=64).inputs.tolist())


def format_and_array(
    *, max_bits: int = 16, shape: int | tuple[int, ...] = 8, **kwargs: Any
) -> st.SearchStrategy[tuple[Format, np.ndarray]]:
    """A float format (registered or drawn) and an array of its values."""
    return any_float_format(max_bits=max_bits).flatmap(
        lambda fmt: st.tuples(st.just(fmt), arrays_of(fmt, shape, **kwargs))
    )
