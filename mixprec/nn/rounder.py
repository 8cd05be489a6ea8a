"""Rounding one role's tensors: the :class:`Rounder`, the :class:`Scaled` pair, per-tensor scales.

A rounded tensor travels with its scale as a :class:`Scaled` pair: ``values`` lie on the format's
grid and stand for ``values / scale``; without per-tensor scaling the scale is 1. A role of a
block-scaled format (``mxfp8_e4m3``, ``nvfp4``, ...) is not rounded here: its blocks run along
the reduction axis of the matmul that consumes the tensor, and a tensor feeds two matmuls with
different reduction axes (``x @ w`` reduces ``w`` along its rows, the backward ``dy @ w.T``
along its columns; pytorch/ao issue 1501). Its ``Scaled`` carries the block format instead
(``block``), and :meth:`mixprec.nn.compiled.Numerics.matmul` quantizes each operand along its
K axis: rows of ``a``, columns of ``b`` (``Scaled.T`` keeps the format, so the transposed
operand of a backward matmul is re-blocked along its other axis).

Tensor rounding events, per layer and role (``weights``, ``activations``, ``gradients``):
``saturations`` (finite values beyond the format's max, clamped to ±max), ``overflows`` (finite
gradients beyond the max, which become inf as in an IEEE cast), ``flushes`` (non-zero values that
round to zero). Block roles count none (their rounding happens inside the matmul).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from mixprec.formats import FP32, BlockFormat, Format, IntFormat, get_format, quantize
from mixprec.formats.block import get_block_format
from mixprec.formats.fast32 import fits_float32
from mixprec.formats.quantize import _quantize_float32
from mixprec.formats.spec import Overflow, Rounding, as_rounding
from mixprec.nn.events import Events, RoundingStats

__all__ = ["Rounder", "Scaled", "tensor_scale"]


class Scaled(NamedTuple):
    """A rounded tensor: ``values`` on the format's grid, standing for ``values / scale``.

    With ``block`` (a block-scaled role), ``values`` are not rounded yet: the matmul that
    consumes them quantizes them to ``block`` along its reduction axis.
    """

    values: np.ndarray
    scale: float
    block: BlockFormat | None = None

    @property
    def T(self) -> Scaled:
        """The transpose, same scale and block format (so the layers can write ``x.T``)."""
        return Scaled(self.values.T, self.scale, self.block)

    def sum(self, axis: int) -> np.ndarray:
        """The unscaled float32 sum along ``axis`` (a bias gradient)."""
        total = self.values.sum(axis=axis)
        return total if self.scale == 1.0 else total * np.float32(1.0 / self.scale)


def _amax(x: np.ndarray) -> float:
    """Largest magnitude of ``x`` (NaN if ``x`` holds a NaN, 0 if empty): two fast reductions."""
    return max(float(x.max()), -float(x.min())) if x.size else 0.0


def tensor_scale(x: np.ndarray, fmt: Format | str, amax: float | None = None) -> float:
    """The per-tensor scale of ``x`` for ``fmt`` (see :mod:`mixprec.nn.policy`).

    Floats: the largest power of two ``s`` with ``amax * s <= fmt.max`` (exact to apply and to
    undo). Integers: ``fmt.max / amax`` (symmetric, zero point 0). 1 for an all-zero tensor or
    one holding inf or NaN (which then overflows visibly). ``amax``: the largest magnitude of
    ``x``, when the caller has it.

    >>> tensor_scale(np.array([0.01, -3.0]), "fp8_e4m3")  # 448 / 3 = 149.3 -> 2**7
    128.0
    """
    fmt = get_format(fmt)
    return _scale(fmt, fmt.max, _amax(x) if amax is None else amax)


def _scale(fmt: Format, fmax: float, amax: float) -> float:
    """:func:`tensor_scale` from the format's max and the tensor's largest magnitude."""
    if not math.isfinite(amax) or amax == 0.0:
        return 1.0
    if isinstance(fmt, IntFormat):
        return fmax / amax
    _, exponent = math.frexp(fmax / amax)  # fmax / amax = m * 2**exponent, 0.5 <= m < 1
    return math.ldexp(1.0, exponent - 1)


_NO_ROUNDING_EVENT = RoundingStats()


def _nonzero_magnitudes(x: np.ndarray) -> int:
    """Number of elements of float32 ``x`` other than +0 and -0 (on the bits: 5x faster)."""
    return int(np.count_nonzero(x.view(np.uint32) << np.uint32(1)))


@functools.lru_cache(maxsize=256)
def _prepared(fmt: Format, overflow: str) -> tuple[bool, float]:
    """Checks ``fmt`` and ``overflow`` by an empty quantization (the one set of checks), then
    ``(fits_float32(fmt), fmt.max)``; cached: a ``Numerics`` is built for every ``predict``."""
    quantize(np.zeros(0, np.float32), fmt, overflow=overflow)
    return fits_float32(fmt), fmt.max


@dataclass
class Rounder:
    """Rounds one role's tensors: format, overflow policy, optional per-tensor scale.

    Rounding is :func:`mixprec.formats.quantize` (for float32 tensors its lean entry
    ``mixprec.formats.quantize._quantize_float32``, checked once here). With ``events`` it counts
    saturations, overflows and flushes (see the module docstring) per layer.
    """

    fmt: Format
    role: str
    overflow: str
    per_tensor: bool
    events: Events | None = None
    block: BlockFormat | None = None
    """A block-scaled role's format (its tensors are rounded by the matmul that consumes them,
    see the module docstring); ``fmt`` is then fp32, the values the role passes on."""

    def __post_init__(self) -> None:
        if self.block is not None:
            self.block = get_block_format(self.block)
            if self.per_tensor:
                raise ValueError(
                    f"{self.role}: the block format {self.block} brings its own scales; it takes "
                    "no per-tensor scaling"
                )
            self.fmt, self.is_identity = FP32, False
            return
        self.fmt = get_format(self.fmt)
        # float32 tensors take _quantize_float32; max is a derived property
        self._float32, self._max = _prepared(self.fmt, self.overflow)
        self._overflow = Overflow(self.overflow)
        self.is_identity = self.fmt == FP32 and not self.per_tensor
        """Whether rounding is the identity (fp32 values, no scale): then it costs nothing."""

    def scaled(
        self,
        x: np.ndarray,
        layer: int = 0,
        rounding: Rounding | str = Rounding.NEAREST_EVEN,
        rng: np.random.Generator | None = None,
    ) -> Scaled:
        """Scale (per tensor, if the policy says so) and round ``x``; ``x`` is not modified."""
        if self.block is not None:  # rounded by the matmul, along its reduction axis
            return Scaled(np.asarray(x, np.float32), 1.0, self.block)
        if self.is_identity:
            return Scaled(x, 1.0)
        amax = _amax(x)
        scale = 1.0
        if self.per_tensor:
            scale = _scale(self.fmt, self._max, amax)
            if scale != 1.0:
                x = x * np.float32(scale)
                amax *= scale
        fits = amax <= self._max  # False for NaN
        q = self._round(x, rounding, rng)
        if self.events is not None:
            self._count(layer, x, q, fits)
        return Scaled(q, scale)

    def scaled_many(self, xs: list[np.ndarray], layers: list[int]) -> list[Scaled]:
        """:meth:`scaled` of several float32 tensors (nearest-even), each with its own scale.

        The values are those of one call per tensor; the fixed cost of a rounding call is paid
        once, on one buffer that holds them all.
        """
        if self.is_identity or self.block is not None:
            return [self.scaled(x, layer) for x, layer in zip(xs, layers, strict=True)]
        if len(xs) == 1 or any(x.dtype != np.float32 for x in xs):
            return [self.scaled(x, layer) for x, layer in zip(xs, layers, strict=True)]
        bounds = np.cumsum([0] + [x.size for x in xs]).tolist()
        flat = np.empty(bounds[-1], np.float32)
        scales, fits = [], []
        for x, lo, hi in zip(xs, bounds[:-1], bounds[1:], strict=True):
            amax = _amax(x)
            scale = _scale(self.fmt, self._max, amax) if self.per_tensor else 1.0
            if scale != 1.0:
                np.multiply(x.reshape(-1), np.float32(scale), out=flat[lo:hi])
                amax *= scale
            else:
                flat[lo:hi] = x.reshape(-1)
            scales.append(scale)
            fits.append(amax <= self._max)
        q = self._round(flat, Rounding.NEAREST_EVEN, None)
        out = []
        for i, (x, lo, hi) in enumerate(zip(xs, bounds[:-1], bounds[1:], strict=True)):
            if self.events is not None:
                self._count(layers[i], flat[lo:hi], q[lo:hi], fits[i])
            out.append(Scaled(q[lo:hi].reshape(x.shape), scales[i]))
        return out

    def _round(
        self, x: np.ndarray, rounding: Rounding | str, rng: np.random.Generator | None
    ) -> np.ndarray:
        if self._float32 and x.dtype == np.float32:
            return _quantize_float32(x, self.fmt, as_rounding(rounding), self._overflow, rng)
        return quantize(x, self.fmt, rounding, self.overflow, rng)

    def values(
        self,
        x: np.ndarray,
        layer: int = 0,
        rounding: Rounding | str = Rounding.NEAREST_EVEN,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Round and undo the scale: float32 values on the (scaled) grid."""
        values, scale, _ = self.scaled(x, layer, rounding, rng)
        if scale != 1.0:
            values *= np.float32(1.0 / scale)
        return values

    def values_many(self, xs: list[np.ndarray], layers: list[int]) -> list[np.ndarray]:
        """:meth:`values` of several tensors, rounded together as :meth:`scaled_many`."""
        out = []
        for values, scale, _ in self.scaled_many(xs, layers):
            if scale != 1.0:
                values *= np.float32(1.0 / scale)
            out.append(values)
        return out

    def _count(self, layer: int, x: np.ndarray, q: np.ndarray, fits: bool) -> None:
        assert self.events is not None
        if x.dtype == np.float32 and q.dtype == np.float32:
            kept = _nonzero_magnitudes(q)  # no zero in q: nothing flushed, x need not be read
            flushes = _nonzero_magnitudes(x) - kept if kept < q.size else 0
        else:
            flushes = int(np.count_nonzero(x)) - int(np.count_nonzero(q))
        beyond = 0
        if not fits:
            with np.errstate(invalid="ignore"):
                beyond = int(np.count_nonzero(np.isfinite(x) & (np.abs(x) > self._max)))
        if not (flushes or beyond):
            self.events.touch(layer, self.role, _NO_ROUNDING_EVENT)
        elif self.overflow == "inf":
            self.events.add(layer, self.role, RoundingStats(overflows=beyond, flushes=flushes))
        else:
            self.events.add(layer, self.role, RoundingStats(saturations=beyond, flushes=flushes))
