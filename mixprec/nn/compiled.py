"""A precision policy compiled for running: tensor rounding per role, matmuls per MAC, events.

``Numerics(policy)`` holds one :class:`Rounder` per tensor role (``weights``, ``activations``,
``gradients``, ``updates``) and the MAC of each matmul role (``forward``, ``input_grad``,
``weight_grad``), and sums the numeric events of both per layer and role in :class:`Events`.

A rounded tensor travels with its scale as a :class:`Scaled` pair: ``values`` lie on the format's
grid and stand for ``values / scale``; without per-tensor scaling the scale is 1. The MAC works on
the values, and its float32 result is divided by the two scales.

**The BLAS path.** A MAC with an fp32 accumulator, order ``fast``, exact products (no product
format), round-to-nearest-even and IEEE overflow means "add every exact product into an fp32
accumulator, rounding once per addition, in any order": float32 BLAS sgemm on the input values.
When both operands already hold values of the MAC's input format (their role's format is
contained in it: the policy rounded them), ``Numerics`` calls ``np.matmul`` directly and skips
the MAC's re-quantization and checks of its inputs. For inputs of at most 12 significant bits
(fp16, fp8) every product is exact in float32 and :meth:`mixprec.mac.MAC.matmul` runs the same
BLAS product: the bits are the MAC's (tested). For bf16 and fp32 inputs the products are exact
inside the kernel's fused multiply-adds (OpenBLAS and MKL sgemm on x86-64 with FMA), in BLAS's
order; ``MAC.matmul`` cannot assume FMA and emulates them in sequential order instead, which is
also a ``fast`` result but much slower (seconds for one 128x784x128 fp32 product) and not the
same bits. Event counts come from the result: when it holds inf or NaN, ``inf_results`` and
``nan_results`` count them and ``overflows`` counts the non-finite outputs of finite operands
(one overflowing addition each: after it the accumulator stays non-finite). Every other MAC runs
through ``mac.matmul``.

Tensor rounding events, per layer and role (``weights``, ``activations``, ``gradients``):
``saturations`` (finite values beyond the format's max, clamped to ±max), ``overflows`` (finite
gradients beyond the max, which become inf as in an IEEE cast), ``flushes`` (non-zero values that
round to zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from mixprec.formats import (
    FP32,
    FloatFormat,
    Format,
    IntFormat,
    get_format,
    quantize,
    storage_dtype,
)
from mixprec.formats.fast32 import fits_float32
from mixprec.formats.quantize import _quantize_float32
from mixprec.formats.spec import Overflow, Rounding, as_rounding
from mixprec.mac import MAC, MacStats
from mixprec.mac.unit import OrderKind
from mixprec.nn.events import Events, RoundingStats
from mixprec.nn.policy import Policy
from mixprec.nn.spec import Granularity

__all__ = ["Numerics", "Rounder", "Scaled", "runs_as_blas", "tensor_scale"]


class Scaled(NamedTuple):
    """A rounded tensor: ``values`` on the format's grid, standing for ``values / scale``."""

    values: np.ndarray
    scale: float

    @property
    def T(self) -> Scaled:
        """The transpose, same scale (so the layers can write ``x.T``)."""
        return Scaled(self.values.T, self.scale)

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
_NO_MAC_EVENT = MacStats()


def _contains(outer: Format, inner: Format) -> bool:
    """Whether every finite value of float format ``inner`` is a value of ``outer``.

    Both grids are dyadic: ``inner``'s values fit when its significands are no longer, its range
    no wider, and its smallest quantum a multiple of ``outer``'s (or, without subnormals in
    ``outer``, no value of ``inner`` below ``outer``'s smallest normal).
    """
    if outer == inner:
        return True
    if not (isinstance(outer, FloatFormat) and isinstance(inner, FloatFormat)):
        return False
    return (
        (outer.is_signed or not inner.is_signed)
        and inner.mantissa_bits <= outer.mantissa_bits
        and inner.max <= outer.max
        and inner.smallest_subnormal >= outer.smallest_subnormal
        and (outer.has_subnormals or inner.smallest_subnormal >= outer.smallest_normal)
    )


def runs_as_blas(mac: MAC) -> bool:
    """Whether ``mac`` is float32 BLAS on its input values (see the module docstring)."""
    return (
        mac.accumulator == FP32
        and mac.product is None
        and mac.rounding is Rounding.NEAREST_EVEN
        and mac.overflow is Overflow.INF
        and mac.order.kind is OrderKind.FAST
        and isinstance(mac.input, FloatFormat)
        and _contains(FP32, mac.input)
    )


def _nonzero_magnitudes(x: np.ndarray) -> int:
    """Number of elements of float32 ``x`` other than +0 and -0 (on the bits: 5x faster)."""
    return int(np.count_nonzero(x.view(np.uint32) << np.uint32(1)))


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

    def __post_init__(self) -> None:
        self.fmt = get_format(self.fmt)
        quantize(np.zeros(0, np.float32), self.fmt, overflow=self.overflow)  # checks them
        self._overflow = Overflow(self.overflow)
        self._float32 = fits_float32(self.fmt)  # float32 tensors take _quantize_float32
        self.is_identity = self.fmt == FP32 and not self.per_tensor
        """Whether rounding is the identity (fp32 values, no scale): then it costs nothing."""
        self._max = self.fmt.max  # a derived property: computed once here

    def scaled(
        self,
        x: np.ndarray,
        layer: int = 0,
        rounding: Rounding | str = Rounding.NEAREST_EVEN,
        rng: np.random.Generator | None = None,
    ) -> Scaled:
        """Scale (per tensor, if the policy says so) and round ``x``; ``x`` is not modified."""
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
        if self.is_identity:
            return [Scaled(x, 1.0) for x in xs]
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
        values, scale = self.scaled(x, layer, rounding, rng)
        if scale != 1.0:
            values *= np.float32(1.0 / scale)
        return values

    def values_many(self, xs: list[np.ndarray], layers: list[int]) -> list[np.ndarray]:
        """:meth:`values` of several tensors, rounded together as :meth:`scaled_many`."""
        out = []
        for values, scale in self.scaled_many(xs, layers):
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


class Numerics:
    """A policy ready to run: rounding per tensor role, a MAC per matmul role, event counts.

    Args:
        policy: the precision policy.
        count_events: count the MACs' and the roundings' numeric events (``events``).

    Attributes:
        policy: the policy.
        weights, activations, gradients, updates: the :class:`Rounder` of each tensor role.
        macs: ``{"forward": MAC, "input_grad": MAC, "weight_grad": MAC}``.
        events: :class:`Events` since construction or the last :meth:`take_events`.
    """

    def __init__(self, policy: Policy, count_events: bool = True) -> None:
        self.policy = policy
        self.count_events = count_events
        self.events = Events()
        sink = self.events if count_events else None
        specs = policy.specs()

        def rounder(role: str) -> Rounder:
            spec = specs[role]
            if spec.scaling not in (Granularity.NONE, Granularity.PER_TENSOR):
                raise ValueError(
                    f"{role}: {spec.scaling.value} scaling is not served by the float path; "
                    "use 'none' or 'per_tensor' (per-channel schemes: mixprec.quant)"
                )
            return Rounder(spec.format, role, spec.overflow.value, spec.is_scaled, sink)

        self.weights = rounder("weights")
        self.activations = rounder("activations")
        self.gradients = rounder("gradients")
        self.updates = rounder("updates")
        self.updates.events = None  # updates are rounded in the optimizer step, uncounted
        self.macs: dict[str, MAC] = {
            "forward": policy.forward_mac,  # type: ignore[dict-item]
            "input_grad": policy.input_grad_mac,  # type: ignore[dict-item]
            "weight_grad": policy.weight_grad_mac,  # type: ignore[dict-item]
        }
        operands = {
            "forward": (self.activations.fmt, self.weights.fmt),
            "input_grad": (self.gradients.fmt, self.weights.fmt),
            "weight_grad": (self.activations.fmt, self.gradients.fmt),
        }
        self._blas = {
            role: runs_as_blas(mac) and all(_contains(mac.input, f) for f in operands[role])
            for role, mac in self.macs.items()
        }
        self._integer_operands = {
            role: isinstance(mac.input, IntFormat)
            and storage_dtype(mac.input) is not None
            and all(f == mac.input for f in operands[role])
            for role, mac in self.macs.items()
        }

    def take_events(self) -> Events:
        """The events so far; counting starts again from zero."""
        events = self.events
        self.events = Events()
        for r in (self.weights, self.activations, self.gradients):
            if r.events is not None:
                r.events = self.events
        return events

    def matmul(self, role: str, layer: int, a: Scaled, b: Scaled) -> np.ndarray:
        """``(a / scale_a) @ (b / scale_b)`` by the MAC of ``role``, as float32."""
        mac = self.macs[role]
        if self._blas[role]:
            with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN are counted
                y = a.values @ b.values
            if self.count_events:
                flat = y.reshape(-1)
                # y.y is finite when y is (NaN and inf propagate); a finite y whose squares
                # overflow is counted below, to no event
                if math.isfinite(float(flat @ flat)):
                    self.events.by_layer.setdefault((layer, role), _NO_MAC_EVENT)
                else:
                    self._count_blas(layer, role, y, a.values, b.values)
        else:
            av, bv = a.values, b.values
            if self._integer_operands[role]:  # integer values in their storage dtype: faster
                dtype = storage_dtype(mac.input)
                av, bv = av.astype(dtype), bv.astype(dtype)
            if self.count_events:
                y, stats = mac.matmul(av, bv, stats=True)
                self.events.add(layer, role, stats)
            else:
                y = mac.matmul(av, bv)
            y = np.asarray(y).astype(np.float32, copy=False)
        scale = a.scale * b.scale
        if scale != 1.0:
            y *= np.float32(1.0 / scale)
        return y

    def _count_blas(
        self, layer: int, role: str, y: np.ndarray, a: np.ndarray, b: np.ndarray
    ) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            inf, nan = np.isinf(y), np.isnan(y)
            clean = np.isfinite(a).all(axis=1)[:, None] & np.isfinite(b).all(axis=0)[None, :]
            stats = MacStats(
                overflows=int(np.count_nonzero((inf | nan) & clean)),
                inf_results=int(np.count_nonzero(inf)),
                nan_results=int(np.count_nonzero(nan)),
            )
        self.events.add(layer, role, stats)

    def weight_copies(self, weights: list[np.ndarray], on_grid: bool = False) -> list[Scaled]:
        """The weights as the matmuls see them; ``on_grid`` skips rounding weights already in
        the format (no master copy, no per-tensor scale)."""
        if on_grid and not self.weights.per_tensor:
            return [Scaled(w, 1.0) for w in weights]
        return self.weights.scaled_many(list(weights), list(range(1, len(weights) + 1)))
