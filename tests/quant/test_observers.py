"""Calibration observers: ranges, scales and zero points, and their properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mixprec.quant.observers import (
    MinMaxObserver,
    MSEObserver,
    NotCalibratedError,
    PercentileObserver,
    make_observer,
    qparams,
)

FORMATS = ["int8", "int4", "fp8_e4m3", "fp8_e5m2"]

# Data as calibration sees it: float32, a bulk of moderate values and possibly a few outliers.
values = st.floats(-1000, 1000, width=32, allow_subnormal=False)
tensors = arrays(np.float32, st.tuples(st.integers(1, 60), st.integers(1, 5)), elements=values)


def test_minmax_symmetric_int8() -> None:
    x = np.array([-1.0, 0.5, 2.54], np.float32)
    obs = MinMaxObserver("int8").fit(x)
    assert (obs.min_, obs.max_) == (-np.float32(2.54), np.float32(2.54))
    assert obs.scale_ == np.float32(2.54 / 127) and obs.zero_point_ == 0
    assert obs.scale_.dtype == np.float32 and obs.n_samples_ == 3


def test_minmax_asymmetric_represents_zero_exactly() -> None:
    x = np.array([0.0, 0.3, 6.0], np.float32)  # a ReLU output
    obs = MinMaxObserver("int8", symmetric=False).fit(x)
    assert obs.zero_point_ == -128  # real 0 is the lowest code: all 256 codes for [0, 6]
    assert obs.scale_ == np.float32(6.0 / 255)
    assert obs.fake_quantize(np.zeros(3))[0] == 0.0
    x = np.array([-1.0, 3.0], np.float32)
    obs = MinMaxObserver("int8", symmetric=False).fit(x)
    zero = obs.scale_ * (np.rint(0 / obs.scale_) + obs.zero_point_ - obs.zero_point_)
    assert zero == 0.0 and -128 < obs.zero_point_ < 127


@pytest.mark.parametrize("fmt", FORMATS)
@given(x=tensors, symmetric=st.booleans())
@settings(max_examples=25, deadline=None)
def test_minmax_covers_the_data(fmt: str, x: np.ndarray, symmetric: bool) -> None:
    """Nothing clips: the round trip error is at most half a step (integers) or half an ulp of
    the scaled format (floats)."""
    symmetric = symmetric or fmt.startswith("fp8")
    obs = MinMaxObserver(fmt, symmetric=symmetric, axis=1).fit(x)
    error = np.abs(obs.fake_quantize(x).astype(np.float64) - x)
    if fmt.startswith("int"):
        assert np.all(error <= obs.scale_ * (0.5 + 1e-5) + 1e-30)
    else:
        relative = 2.0 ** -(3 if fmt == "fp8_e4m3" else 2)  # half an ulp, relative, in range
        smallest = 2.0 ** (-9 if fmt == "fp8_e4m3" else -16)
        assert np.all(error <= np.abs(x) * relative + obs.scale_ * smallest)


@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "asymmetric"])
@given(x=tensors, percentile=st.floats(90, 100))
@settings(max_examples=40, deadline=None)
def test_percentile_within_minmax(x: np.ndarray, percentile: float, symmetric: bool) -> None:
    minmax = MinMaxObserver("int8", symmetric, axis=1).fit(x)
    obs = PercentileObserver("int8", symmetric, axis=1, percentile=percentile).fit(x)
    assert np.all(obs.max_ <= minmax.max_) and np.all(obs.min_ >= minmax.min_)
    has_range = (obs.max_ > 0) | (obs.min_ < 0)  # an all-zero range gets scale 1
    assert np.all(obs.scale_[has_range] <= minmax.scale_[has_range])


def test_percentile_100_is_minmax() -> None:
    x = np.random.default_rng(0).standard_normal((500, 3)).astype(np.float32)
    a = PercentileObserver("int8", axis=1, percentile=100).fit(x)
    b = MinMaxObserver("int8", axis=1).fit(x)
    np.testing.assert_array_equal(a.scale_, b.scale_)


def test_percentile_clips_an_outlier() -> None:
    x = np.concatenate([np.linspace(-1, 1, 10000), [50.0]]).astype(np.float32)
    obs = PercentileObserver("int8", percentile=99.9).fit(x)
    assert obs.max_ < 1.0 < MinMaxObserver("int8").fit(x).max_


@pytest.mark.parametrize("fmt", FORMATS)
@given(x=tensors, symmetric=st.booleans(), per_channel=st.booleans())
@settings(max_examples=25, deadline=None)
def test_mse_no_worse_than_minmax(
    fmt: str, x: np.ndarray, symmetric: bool, per_channel: bool
) -> None:
    """On its own objective, the mean squared error of the round trip, MSE-optimal clipping is
    never worse than min-max (min-max is one of its candidates)."""
    symmetric = symmetric or fmt.startswith("fp8")
    axis = 1 if per_channel else None
    mse = MSEObserver(fmt, symmetric, axis, n_grid=20).fit(x)
    minmax = MinMaxObserver(fmt, symmetric, axis).fit(x)
    assert np.all(mse.error(x) <= minmax.error(x))


def test_mse_clips_heavy_tails() -> None:
    """Laplace data on int4: clipping at ~40 % of the largest magnitude quarters the error."""
    x = np.random.default_rng(0).laplace(size=20000).astype(np.float32)
    mse, minmax = MSEObserver("int4").fit(x), MinMaxObserver("int4").fit(x)
    assert mse.max_ < 0.5 * minmax.max_ and mse.error(x) < minmax.error(x) / 3


def test_per_channel_shapes() -> None:
    w = np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32)
    w[:, 2] *= 10
    obs = MinMaxObserver("int8", axis=1).fit(w)
    assert obs.scale_.shape == (4,) and obs.zero_point_.shape == (4,)
    np.testing.assert_allclose(obs.scale_, np.abs(w).max(axis=0) / 127, rtol=1e-6)
    per_tensor = MinMaxObserver("int8").fit(w)
    assert obs.error(w).sum() < 4 * per_tensor.error(w)


def test_all_zero_data_gets_scale_one() -> None:
    scale, zero_point = qparams(
        np.zeros(2), np.zeros(2), make_observer("minmax", "int8", True, None).fmt, True
    )
    assert scale.tolist() == [1.0, 1.0] and zero_point.tolist() == [0, 0]


@pytest.mark.parametrize("name", ["minmax", "percentile", "mse"])
def test_unfitted_observer_says_what_to_call(name: str) -> None:
    obs = make_observer(name, "int8", True, None)
    with pytest.raises(NotCalibratedError, match=r"call fit\(x\)"):
        obs.scale_  # noqa: B018
    with pytest.raises(NotCalibratedError, match="not calibrated"):
        obs.fake_quantize(np.ones(3))
    assert "per tensor" in repr(obs)


def test_bad_configuration_and_data() -> None:
    with pytest.raises(ValueError, match="'minmax', 'percentile', 'mse'"):
        make_observer("kl", "int8", True, None)
    with pytest.raises(ValueError, match="symmetric=True"):
        MinMaxObserver("fp8_e4m3", symmetric=False)
    with pytest.raises(ValueError, match=r"\(50, 100\]"):
        PercentileObserver("int8", percentile=10)
    with pytest.raises(ValueError, match="NaN or inf"):
        MinMaxObserver("int8").fit(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="empty"):
        MinMaxObserver("int8").fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        MinMaxObserver("int8", axis=2).fit(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="percentile"):
        make_observer("minmax", "int8", True, None, percentile=99.0)
