"""Test helpers for number formats: edge values, exact rounding cases, strategies, assertions.

For your own converters and kernels, as for mixprec's tests:

* :func:`edge_values`: the named edge cases of a format (±0, subnormals, ±max, ±inf, NaN,
  1 and its neighbours, binade edges), ready for ``pytest.mark.parametrize``;
* :func:`rounding_cases`: inputs at and beside every midpoint, the overflow and the underflow
  threshold, with their exact results under any rounding mode and overflow policy;
* hypothesis strategies :func:`values`, :func:`arrays_of` (bit patterns, decoded) and
  :func:`formats` (needs hypothesis: ``pip install 'mixprec[testing]'``, also in ``[all]``);
* :func:`assert_bits_equal`, :func:`assert_within_ulp`, :func:`assert_representable`.

Checking a home-made fp32 -> fp8 (E4M3) converter: this one rounds half up, not to even.

>>> import numpy as np
>>> from mixprec.testing import assert_bits_equal, rounding_cases
>>> def to_e4m3(x, tie=np.rint):   # np.rint rounds half to even
...     x = np.asarray(x, dtype=np.float32).astype(np.float64)
...     a = np.abs(x)
...     binade = np.maximum(np.frexp(a)[1] - 1, -6)       # subnormals share emin = -6
...     step = np.ldexp(1.0, binade - 3)                   # 3 mantissa bits
...     r = np.minimum(tie(a / step) * step, 448.0)        # saturate at max
...     return np.copysign(np.where(np.isnan(x), np.nan, r), x)
>>> naive = lambda x: to_e4m3(x, tie=lambda t: np.floor(t + 0.5))
>>> cases = rounding_cases("fp8_e4m3", dtype=np.float32)   # nearest_even, saturate
>>> assert_bits_equal(naive(cases.inputs), cases)
Traceback (most recent call last):
    ...
AssertionError: fp8_e4m3 codes differ in 126 of 1533 elements:
  [18] input -400.0 (midpoint): 0xfd (-416.0) vs expected 0xfc (-384.0)
  [30] input -336.0 (midpoint): 0xfb (-352.0) vs expected 0xfa (-320.0)
...
>>> assert_bits_equal(to_e4m3(cases.inputs), cases)   # the fixed converter passes
"""

from mixprec.testing.assertions import assert_bits_equal, assert_representable, assert_within_ulp
from mixprec.testing.cases import RoundingCases, rounding_cases
from mixprec.testing.edges import KINDS, EdgeValues, edge_values
from mixprec.testing.strategies import arrays_of, formats, values

__all__ = [
    "KINDS",
    "EdgeValues",
    "RoundingCases",
    "arrays_of",
    "assert_bits_equal",
    "assert_representable",
    "assert_within_ulp",
    "edge_values",
    "formats",
    "rounding_cases",
    "values",
]
