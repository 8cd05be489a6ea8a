"""Calibration observers: the range of a tensor, and the scale and zero point it gives.

An observer is configured in its constructor (the target format, symmetric or not, per tensor or
per channel) and learns from data in :meth:`Observer.fit` (scikit-learn style): ``min_`` and
``max_`` (the clipping range it chose), ``scale_`` and ``zero_point_``. A quantized value ``q``
stands for ``scale * (q - zero_point)`` (the gemmlowp/TFLite convention, Jacob et al. 2018,
equation 1).

* :class:`MinMaxObserver`: the observed minimum and maximum (nothing clips).
* :class:`PercentileObserver`: the ``percentile``-th percentile of ``|x|`` (symmetric) or the
  ``100 - percentile`` and ``percentile`` percentiles (asymmetric): outliers clip, the rest
  gets a finer grid.
* :class:`MSEObserver`: among clipping ranges ``alpha * (min, max)`` for ``alpha`` on a grid of
  (0, 1] that includes 1, the one whose quantization error ``mean((x - dequant(quant(x)))**2)``
  is smallest; so it is never worse than min-max on that objective.
* :class:`MovingMinMax`: the moving average of batches' min and max, frozen after a warm-up
  (quantization-aware training's activation ranges, :mod:`mixprec.quant.qat`).

Scales from a range:

* integer, symmetric: ``scale = max(|min|, |max|) / qmax`` (``qmax`` = 127 for int8, 7 for
  int4), zero point 0;
* integer, asymmetric: the range is widened to hold 0, ``scale = (max - min) / (qmax - qmin)``,
  ``zero_point = round(qmin - min / scale)`` (so real 0 is exactly representable);
* float (fp8): symmetric only, ``scale = amax / fmt.max``: the largest magnitude maps to the
  format's largest finite value (per-tensor or per-channel, as FP8 recipes do).

Scales are float32 (as stored and as ONNX takes them), at least the smallest normal float32; an
all-zero range gives scale 1.

>>> obs = MinMaxObserver("int8").fit(np.array([-1.0, 0.5, 2.54]))
>>> float(obs.scale_), int(obs.zero_point_)
(0.019999999552965164, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mixprec._util.names import canonical
from mixprec.formats import Format, IntFormat, get_format, quantize

__all__ = [
    "OBSERVERS",
    "MSEObserver",
    "MinMaxObserver",
    "MovingMinMax",
    "NotCalibratedError",
    "Observer",
    "PercentileObserver",
    "make_observer",
    "qparams",
]


class NotCalibratedError(ValueError, AttributeError):
    """An observer or quantized model was used before it learned its scales."""


def qparams(
    lo: np.ndarray, hi: np.ndarray, fmt: Format, symmetric: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(scale, zero_point)`` (float32, int64; same shapes as ``lo``) of a clipping range.

    Raises:
        ValueError: an asymmetric range for a float format.
    """
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    if not isinstance(fmt, IntFormat):
        if not symmetric:
            raise ValueError(f"{fmt.name} is a float format: use symmetric=True (zero point 0)")
        scale = np.maximum(-lo, hi) / fmt.max
        zero_point = np.zeros(scale.shape, np.int64)
    elif symmetric:
        scale = np.maximum(-lo, hi) / fmt.max
        zero_point = np.zeros(scale.shape, np.int64)
    else:
        scale = (hi - lo) / (fmt.max - fmt.min)
        safe = np.where(scale > 0, scale, 1.0)
        zero_point = np.clip(np.rint(fmt.min - lo / safe), fmt.min, fmt.max).astype(np.int64)
    scale = scale.astype(np.float32)
    tiny = np.float32(np.finfo(np.float32).tiny)
    scale = np.where(scale > 0, np.maximum(scale, tiny), np.float32(1.0)).astype(np.float32)
    return scale, zero_point


def fake_quantize(
    x: np.ndarray,
    scale: np.ndarray,
    zero_point: np.ndarray,
    fmt: Format,
    symmetric: bool = True,
) -> np.ndarray:
    """``dequant(quant(x))`` in float32 (scale and zero point broadcast against ``x``).

    Integers: ``scale * (clip(rint(x / scale) + zp, lo, hi) - zp)`` with ``lo = -qmax`` for a
    symmetric grid (narrow range: -127..127 for int8) and the format's ``min`` otherwise.
    Floats: ``scale * quantize(x / scale, fmt)`` (nearest even, saturating).
    """
    x = np.asarray(x, np.float32)
    scale = np.asarray(scale, np.float32)
    if isinstance(fmt, IntFormat):
        lo = -fmt.max if symmetric else fmt.min
        zp = np.asarray(zero_point, np.float32)
        codes = np.clip(np.rint(x / scale) + zp, lo, fmt.max)
        return ((codes - zp) * scale).astype(np.float32)
    return (quantize(x / scale, fmt, overflow="saturate") * scale).astype(np.float32)


class Observer:
    """Base class: configuration in the constructor, :meth:`fit` learns the range and scale.

    Args:
        fmt: the target format (``"int8"``, ``"int4"``, ``"fp8_e4m3"``, ...).
        symmetric: zero point 0 and a range symmetric about 0 (required for float formats).
        axis: ``None`` for one scale per tensor, or the axis of the channels that each get their
            own scale (``1`` for the output channels of an ``(in, out)`` weight).

    Attributes (after :meth:`fit`):
        min_, max_: the chosen clipping range, float64 (per channel: one per channel).
        scale_: float32 scale(s). zero_point_: int64 zero point(s).
        n_samples_: values seen.
    """

    name = "base"
    _learned = ("min_", "max_", "scale_", "zero_point_", "n_samples_")

    def __init__(self, fmt: Format | str = "int8", symmetric: bool = True, axis: int | None = None):
        self.fmt = get_format(fmt)
        self.symmetric = bool(symmetric)
        self.axis = axis
        if not isinstance(self.fmt, IntFormat) and not self.symmetric:
            raise ValueError(
                f"{self.fmt.name} is a float format: its observers are symmetric (zero point "
                "0); pass symmetric=True"
            )

    def __getattr__(self, name: str) -> Any:
        if name in type(self)._learned:
            raise NotCalibratedError(
                f"this {type(self).__name__} is not calibrated yet: call fit(x) before reading "
                f"{name}"
            )
        raise AttributeError(name)

    def __repr__(self) -> str:
        axis = "per tensor" if self.axis is None else f"per channel (axis {self.axis})"
        kind = "symmetric" if self.symmetric else "asymmetric"
        return f"{type(self).__name__}({self.fmt.name}, {kind}, {axis})"

    # -- fitting ---------------------------------------------------------------------------------
    def _channels_last(self, x: np.ndarray) -> np.ndarray:
        """``x`` as 2-D ``(values, channels)`` (one column per tensor without an axis)."""
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"an observer takes a numeric array, got dtype {x.dtype}")
        if self.axis is None:
            return x.reshape(-1, 1)
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(f"axis {self.axis} is out of range for an array of shape {x.shape}")
        return np.moveaxis(x, self.axis, -1).reshape(-1, x.shape[self.axis])

    def fit(self, x: np.ndarray) -> Observer:
        """Learn the clipping range, scale and zero point of ``x``.

        Raises:
            ValueError: an empty array, or NaN/inf in it.
        """
        columns = self._channels_last(x).astype(np.float64)
        if columns.shape[0] == 0:
            raise ValueError("cannot calibrate on an empty array")
        if not np.isfinite(columns).all():
            raise ValueError("calibration data holds NaN or inf; clean it before calibrating")
        lo, hi = self._range(columns)
        if self.symmetric:
            amax = np.maximum(-np.minimum(lo, 0.0), np.maximum(hi, 0.0))
            lo, hi = -amax, amax
        scale, zero_point = qparams(lo, hi, self.fmt, self.symmetric)
        squeeze = self.axis is None
        self.min_ = lo[0] if squeeze else lo
        self.max_ = hi[0] if squeeze else hi
        self.scale_ = scale[0] if squeeze else scale
        self.zero_point_ = zero_point[0] if squeeze else zero_point
        self.n_samples_ = int(columns.size)
        return self

    def _range(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per column ``(lo, hi)``; subclasses choose how."""
        raise NotImplementedError

    # -- using the learned scale -----------------------------------------------------------------
    def _broadcast(self, value: np.ndarray, ndim: int) -> np.ndarray:
        if self.axis is None:
            return value
        shape = [1] * ndim
        shape[self.axis] = -1
        return np.reshape(value, shape)

    def fake_quantize(self, x: np.ndarray) -> np.ndarray:
        """``x`` rounded to the learned grid, as float32 values."""
        x = np.asarray(x, np.float32)
        scale = self._broadcast(self.scale_, x.ndim)
        zero_point = self._broadcast(self.zero_point_, x.ndim)
        return fake_quantize(x, scale, zero_point, self.fmt, self.symmetric)

    def error(self, x: np.ndarray) -> np.ndarray:
        """Mean squared quantization error of ``x`` on the learned grid (per channel or not):
        ``mean((x - fake_quantize(x))**2)`` in float64, the objective of :class:`MSEObserver`."""
        x = np.asarray(x, np.float32)
        err = _squared_error(self._channels_last(x), self._channels_last(self.fake_quantize(x)))
        return err[0] if self.axis is None else err


class MinMaxObserver(Observer):
    """The observed minimum and maximum: nothing clips."""

    name = "minmax"

    def _range(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return columns.min(axis=0), columns.max(axis=0)


class PercentileObserver(Observer):
    """Clip at a percentile of the data (symmetric: of ``|x|``).

    Args:
        percentile: in (50, 100]; 100 is min-max.
        max_samples: above this many values per channel a seeded random sample of that size is
            used (percentiles of a large sample).
    """

    name = "percentile"

    def __init__(
        self,
        fmt: Format | str = "int8",
        symmetric: bool = True,
        axis: int | None = None,
        percentile: float = 99.99,
        max_samples: int = 1 << 20,
    ):
        super().__init__(fmt, symmetric, axis)
        if not 50.0 < float(percentile) <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile!r}")
        self.percentile = float(percentile)
        self.max_samples = int(max_samples)

    def _range(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        columns = _sample(columns, self.max_samples)
        if self.symmetric:
            amax = np.percentile(np.abs(columns), self.percentile, axis=0)
            return -amax, amax
        lo = np.percentile(columns, 100.0 - self.percentile, axis=0)
        hi = np.percentile(columns, self.percentile, axis=0)
        return lo, hi


class MSEObserver(Observer):
    """The clipping range ``alpha * (min, max)`` of least mean squared quantization error.

    Args:
        n_grid: candidate values of ``alpha``, evenly spaced in (0, 1], 1 included.
        max_samples: above this many values per channel, a seeded random sample of that size is
            searched.
    """

    name = "mse"

    def __init__(
        self,
        fmt: Format | str = "int8",
        symmetric: bool = True,
        axis: int | None = None,
        n_grid: int = 100,
        max_samples: int = 1 << 18,
    ):
        super().__init__(fmt, symmetric, axis)
        if n_grid < 1:
            raise ValueError(f"n_grid must be >= 1, got {n_grid}")
        self.n_grid = int(n_grid)
        self.max_samples = int(max_samples)

    def _range(self, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = columns.min(axis=0), columns.max(axis=0)
        if self.symmetric:
            amax = np.maximum(-np.minimum(lo, 0.0), np.maximum(hi, 0.0))
            lo, hi = -amax, amax
        sample = _sample(columns, self.max_samples).astype(np.float32)
        best = np.full(lo.shape, np.inf)
        best_lo, best_hi = lo.copy(), hi.copy()
        for alpha in np.linspace(1.0, 0.0, self.n_grid, endpoint=False):
            scale, zero_point = qparams(alpha * lo, alpha * hi, self.fmt, self.symmetric)
            approx = fake_quantize(sample, scale, zero_point, self.fmt, self.symmetric)
            err = _squared_error(sample, approx)
            better = err < best
            best = np.where(better, err, best)
            best_lo = np.where(better, alpha * lo, best_lo)
            best_hi = np.where(better, alpha * hi, best_hi)
        return best_lo, best_hi


def _squared_error(x: np.ndarray, approx: np.ndarray) -> np.ndarray:
    """Per column ``mean((x - approx)**2)``, in float64."""
    return np.mean((x.astype(np.float64) - approx.astype(np.float64)) ** 2, axis=0)


def _sample(columns: np.ndarray, limit: int) -> np.ndarray:
    """At most ``limit`` rows of ``columns``: a seeded random subset when there are more."""
    if columns.shape[0] <= limit:
        return columns
    rows = np.random.default_rng(0).choice(columns.shape[0], size=limit, replace=False)
    return columns[np.sort(rows)]


OBSERVERS: dict[str, type[Observer]] = {
    cls.name: cls for cls in (MinMaxObserver, PercentileObserver, MSEObserver)
}


def make_observer(
    name: str,
    fmt: Format | str,
    symmetric: bool,
    axis: int | None,
    **options: Any,
) -> Observer:
    """An unfitted observer by name (``"minmax"``, ``"percentile"``, ``"mse"``).

    Args:
        name: the observer's name.
        fmt, symmetric, axis: see :class:`Observer`.
        options: options of that observer (``percentile=``, ``n_grid=``, ``max_samples=``).

    Raises:
        ValueError: an unknown name (the message lists the observers).
        TypeError: an option the observer does not take.
    """
    key = canonical(name, "")
    if key not in OBSERVERS:
        raise ValueError(f"unknown observer {name!r}; use one of {', '.join(map(repr, OBSERVERS))}")
    return OBSERVERS[key](fmt, symmetric, axis, **options)


@dataclass
class MovingMinMax:
    """Moving-average min/max of a tensor's batches, frozen after ``warmup_steps`` updates.

    Attributes:
        min_, max_: the averaged range (``None`` before the first batch).
        steps_: batches seen while not frozen.
    """

    fmt: Format
    symmetric: bool = True
    averaging: float = 0.1
    warmup_steps: int = 100
    min_: float | None = None
    max_: float | None = None
    steps_: int = 0

    @property
    def frozen(self) -> bool:
        return self.steps_ >= self.warmup_steps

    def update(self, x: np.ndarray) -> None:
        """Average in the range of batch ``x`` (nothing once frozen)."""
        if self.frozen:
            return
        lo, hi = float(np.min(x)), float(np.max(x))
        if self.min_ is None or self.max_ is None:
            self.min_, self.max_ = lo, hi
        else:
            self.min_ += self.averaging * (lo - self.min_)
            self.max_ += self.averaging * (hi - self.max_)
        self.steps_ += 1

    def qparams(self) -> tuple[np.float32, int]:
        """``(scale, zero_point)`` of the current range (float32, int)."""
        if self.min_ is None or self.max_ is None:
            raise ValueError("the observer has seen no batch yet; run a training step first")
        scale, zero = qparams(np.array(self.min_), np.array(self.max_), self.fmt, self.symmetric)
        return np.float32(scale), int(zero)
