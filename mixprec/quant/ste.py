"""Fake quantization for training: forward, the clipped straight-through estimator, LSQ.

Quantization-aware training replaces a tensor ``x`` in the forward pass by its fake-quantized
value ``q(x) = s * (clip(round(x / s) + z, q_min, q_max) - z)`` (dequantize after quantize), so
the loss sees the rounding. ``round`` has derivative 0 almost everywhere, so the backward pass
uses the *clipped straight-through estimator* (Bengio et al. 2013; Jacob et al. 2018, section 3):

    dq/dx = 1  if  q_min <= x / s + z <= q_max   (inside the representable range)
            0  otherwise                         (clipped: the value saturated)

Float formats (fp8, fp6, fp4, ...) fake-quantize as ``s * quantize(x / s, fmt)`` (nearest even,
saturating); their representable range is ``|x / s| <= fmt.max``.

**LSQ** (Esser et al. 2020, "Learned Step Size Quantization", section 2, equations 1-3 and 5)
learns the step ``s`` of a symmetric integer grid ``-Q_n .. Q_p``. With ``v = x / s``::

    dq/ds = -v + round(v)   if -Q_n < v < Q_p
            -Q_n            if v <= -Q_n
             Q_p            if v >= Q_p

and the step's gradient is multiplied by ``g = 1 / sqrt(N * Q_p)`` (section 2.2), ``N`` the
number of elements that share the step (a weight channel's fan-in, or a layer's features for an
activation), so that the step's updates are of the same relative size as the weights'.

>>> fq = fake_quantize(np.array([0.26, -0.74, 3.0]), 0.5, "int3")
>>> fq.values.tolist(), fq.inside.tolist()
([0.5, -0.5, 1.5], [True, True, False])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mixprec.formats import Format, IntFormat, get_format, quantize

__all__ = ["FakeQuant", "fake_quantize", "grid_limits", "lsq_gradient", "lsq_step_scale"]


def grid_limits(fmt: Format | str, symmetric: bool = True) -> tuple[float, float]:
    """``(q_min, q_max)`` of a format's grid: symmetric integers use the narrow range
    ``-max .. max`` (-127..127 for int8, -7..7 for int4), asymmetric ones ``min .. max``, float
    formats ``-max .. max``."""
    fmt = get_format(fmt)
    if isinstance(fmt, IntFormat) and not symmetric:
        return float(fmt.min), float(fmt.max)
    return -float(fmt.max), float(fmt.max)


@dataclass(frozen=True)
class FakeQuant:
    """The result of :func:`fake_quantize`.

    Attributes:
        values: ``s * (codes - z)``, float32, the shape of ``x``.
        codes: the grid values ``clip(round(x / s) + z)`` (integers for int formats; values of
            the float format for float formats), float32.
        inside: boolean, ``x`` lay inside the representable range (the STE passes its gradient).
    """

    values: np.ndarray
    codes: np.ndarray
    inside: np.ndarray

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """The clipped straight-through gradient ``grad * inside`` w.r.t. ``x``."""
        return np.where(self.inside, grad, 0).astype(np.asarray(grad).dtype)


def fake_quantize(
    x: np.ndarray,
    scale: np.ndarray | float,
    fmt: Format | str,
    zero_point: np.ndarray | float = 0.0,
    symmetric: bool = True,
) -> FakeQuant:
    """Fake-quantize ``x`` on the grid of ``fmt`` with ``scale`` (and ``zero_point``).

    Args:
        x: a float array.
        scale: positive scale(s), broadcast against ``x`` (``(out,)`` for the output channels
            of an ``(in, out)`` weight, ``(groups, 1, out)`` style shapes for groups).
        fmt: an integer or float format (``"int4"``, ``"int8"``, ``"fp8_e4m3"``, ...).
        zero_point: integer zero point(s) (integer formats, ``symmetric=False``).
        symmetric: narrow symmetric range ``-max .. max`` (zero point 0); else ``min .. max``.

    Returns:
        A :class:`FakeQuant`: the values, the codes, and the STE mask.

    Raises:
        ValueError: a scale that is not positive and finite, or a zero point on a float grid.
    """
    fmt = get_format(fmt)
    x = np.asarray(x, np.float32)
    s = np.asarray(scale, np.float32)
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"scale must be positive and finite, got {scale!r}; calibrate first")
    lo, hi = grid_limits(fmt, symmetric)
    if isinstance(fmt, IntFormat):
        z = np.asarray(zero_point, np.float32)
        v = x / s + z
        codes = np.clip(np.rint(v), lo, hi).astype(np.float32)
        return FakeQuant(((codes - z) * s).astype(np.float32), codes, (v >= lo) & (v <= hi))
    if np.any(np.asarray(zero_point) != 0):
        raise ValueError(f"{fmt.name} is a float format: use zero_point=0 (symmetric)")
    v = x / s
    codes = np.asarray(quantize(v, fmt, overflow="saturate"), np.float32)
    return FakeQuant((codes * s).astype(np.float32), codes, np.abs(v) <= hi)


def lsq_step_scale(n: int, q_p: float) -> float:
    """LSQ's gradient scale ``1 / sqrt(N * Q_p)`` (Esser et al. 2020, section 2.2).

    Raises:
        ValueError: ``n < 1`` or ``q_p <= 0``.
    """
    if n < 1 or q_p <= 0:
        raise ValueError(f"need n >= 1 elements per step and Q_p > 0, got n={n}, Q_p={q_p}")
    return 1.0 / math.sqrt(n * q_p)


def lsq_gradient(
    x: np.ndarray,
    scale: np.ndarray | float,
    fmt: Format | str,
    grad: np.ndarray,
    axis: int | tuple[int, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of LSQ fake quantization (symmetric grid) w.r.t. ``x`` and the step.

    Args:
        x: the quantized tensor (weights ``(in, out)`` or activations ``(batch, features)``).
        scale: the step(s), broadcast against ``x``.
        fmt: the integer format of the grid (``Q_n = Q_p = fmt.max``, the narrow range).
        grad: ``dL/dq``, the gradient arriving at the fake-quantized values (shape of ``x``).
        axis: the axes summed into each step: ``None`` for one step per tensor; ``0`` for one
            step per output channel of an ``(in, out)`` weight. ``N`` in the gradient scale is
            the number of elements summed into one step.

    Returns:
        ``(dL/dx, dL/ds)``: the clipped STE gradient, and the scaled step gradient with the
        shape of ``scale`` after the reduction (``()`` per tensor).
    """
    fmt = get_format(fmt)
    x = np.asarray(x, np.float64)
    s = np.asarray(scale, np.float64)
    grad = np.asarray(grad, np.float64)
    q_p = float(fmt.max)
    v = x / s
    inside = (v > -q_p) & (v < q_p)
    dq_ds = np.where(inside, np.rint(v) - v, np.where(v <= -q_p, -q_p, q_p))
    axes = tuple(range(x.ndim)) if axis is None else axis
    summed = np.sum(grad * dq_ds, axis=axes)
    n = x.size // max(summed.size, 1)
    g = lsq_step_scale(n, q_p)
    grad_x = np.where((v >= -q_p) & (v <= q_p), grad, 0.0)
    return grad_x, summed * g
