"""Accumulator-aware quantization: integer weights that a P-bit accumulator provably holds.

A layer's integer dot product ``acc_j = sum_k x_k q[k, j]`` runs on a MAC whose signed P-bit
accumulator holds ``[-2**(P-1), 2**(P-1) - 1]``. Its inputs ``x_k`` are integer codes in a known
range ``[lo, hi]`` with ``lo <= 0 <= hi`` (int8: ``[-128, 127]``; after a ReLU clamp at zero
point 0: ``[0, 127]``). Write ``pos_j = sum_{q > 0} q[k, j]`` and ``neg_j = sum_{q < 0} |q[k, j]|``
(so ``||q_j||_1 = pos_j + neg_j``). Over all inputs of the box, term by term,

    max_x acc_j = hi * pos_j + (-lo) * neg_j,      min_x acc_j = lo * pos_j - hi * neg_j,

attained by the worst-case inputs ``x_k = hi`` where ``q[k, j] > 0`` and ``lo`` where it is
negative (and the mirror image) -- :func:`worst_case_inputs`. Every partial sum, in any order
of addition, is the sum of a subset of the terms; each term ``x_k q[k, j]`` lies between
``min(lo q, hi q) <= 0`` and ``max(lo q, hi q) >= 0``, so every subset's sum lies between the
two extremes above: when both fit, **no addition can overflow for any input in the range**
(:func:`fits`, an exact integer check).

Two sufficient per-channel bounds on the codes give that (A2Q, Colbert et al. 2023,
"A2Q: Accumulator-Aware Quantization with Guaranteed Overflow Avoidance", section 3.1; A2Q+,
Colbert et al. 2024, "A2Q+: Improving Accumulator-Aware Weight Quantization", section 3):

* ``"a2q"``, the L1 bound: ``||q_j||_1 <= (2**(P-1) - 1) / max(-lo, hi)``. Proof:
  ``|acc_j| <= sum_k |x_k| |q[k, j]| <= max(-lo, hi) * ||q_j||_1 <= 2**(P-1) - 1``.
* ``"a2q+"`` (default), the zero-centred bound: ``pos_j <= B`` and ``neg_j <= B`` with
  ``B = (2**(P-1) - 1) / (hi - lo)``, i.e. ``||q_j||_1 <= 2 (2**(P-1) - 1) / (hi - lo)``. Proof:
  ``max acc_j = hi pos_j + (-lo) neg_j <= (hi - lo) B <= 2**(P-1) - 1`` and
  ``min acc_j = lo pos_j - hi neg_j >= -(hi - lo) B > -2**(P-1)``. A2Q+ states it for
  zero-centred weights (``pos_j = neg_j``); bounding each sign separately is the same guarantee
  without requiring ``sum_k q[k, j] = 0``. It doubles the L1 budget of A2Q for unsigned inputs
  (``[0, 127]``: 516 instead of 258 at P = 16) and matches it for signed ones.

Budgets are exact integers (floors of the bounds). Quantization within the budget
(:func:`a2q_quantize`, post-training "by projection"): the codes round to nearest, and where
they overspend the budget, the codes whose step toward zero costs the least squared error are
moved until the budget holds (:func:`round_within_budget`), on the per-channel scale, among a
few candidates from the smallest that puts ``w_j / s_j`` inside the bound downwards, with the
least weight error. The result always satisfies :func:`fits`.

>>> budget(16, 0, 127, "a2q"), budget(16, 0, 127, "a2q+")
(258, 258)
>>> budget(16, -128, 127, "a2q"), budget(16, -128, 127, "a2q+")
(255, 128)
"""

from __future__ import annotations

import numpy as np

from mixprec.formats import Format, IntFormat, get_format

__all__ = [
    "BOUNDS",
    "SCALE_FRACTIONS",
    "a2q_quantize",
    "a2q_scales",
    "accumulator_range",
    "budget",
    "fits",
    "round_within_budget",
    "spent",
    "worst_case_inputs",
    "worst_case_sums",
]

BOUNDS = ("a2q", "a2q+")


def accumulator_range(bits: int) -> tuple[int, int]:
    """``(-2**(P-1), 2**(P-1) - 1)`` of a signed P-bit accumulator.

    Raises:
        ValueError: ``bits`` not an integer in 2..64.
    """
    if int(bits) != bits or not 2 <= bits <= 64:
        raise ValueError(f"accumulator bits must be an integer in 2..64, got {bits!r} (e.g. 16)")
    return -(2 ** (int(bits) - 1)), 2 ** (int(bits) - 1) - 1


def _check(lo: int, hi: int, bound: str) -> None:
    if int(lo) != lo or int(hi) != hi or not lo <= 0 <= hi or lo == hi:
        raise ValueError(f"the input range must be integers lo <= 0 <= hi, lo < hi; got {lo}..{hi}")
    if bound not in BOUNDS:
        raise ValueError(f"unknown bound {bound!r}; use one of {', '.join(map(repr, BOUNDS))}")


def budget(bits: int, lo: int, hi: int, bound: str = "a2q+") -> int:
    """The integer budget of one channel: ``||q||_1`` (``"a2q"``) or each of ``pos``, ``neg``
    (``"a2q+"``) may not exceed it (see the module docstring).

    Raises:
        ValueError: bad bits, an input range without 0, or an unknown bound.
    """
    _check(lo, hi, bound)
    top = accumulator_range(bits)[1]
    return top // max(-int(lo), int(hi)) if bound == "a2q" else top // (int(hi) - int(lo))


def spent(codes: np.ndarray, bound: str = "a2q+") -> np.ndarray:
    """int64 ``(out,)``: what each channel spends of its budget: ``||q_j||_1`` (``"a2q"``) or
    ``max(pos_j, neg_j)`` (``"a2q+"``)."""
    q = np.asarray(codes, np.int64)
    pos = np.where(q > 0, q, 0).sum(axis=0)
    neg = np.where(q < 0, -q, 0).sum(axis=0)
    return pos + neg if bound == "a2q" else np.maximum(pos, neg)


def worst_case_inputs(codes: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel, the inputs of ``[lo, hi]`` that maximise and minimise its sum.

    Returns:
        ``(x_max, x_min)``, int64 ``(out, in)``: row ``j`` is channel ``j``'s worst input
        (``hi`` where ``q > 0``, ``lo`` where ``q < 0``, 0 where ``q = 0``; mirrored for the
        minimum).
    """
    q = np.asarray(codes, np.int64).T
    x_max = np.where(q > 0, hi, np.where(q < 0, lo, 0)).astype(np.int64)
    x_min = np.where(q > 0, lo, np.where(q < 0, hi, 0)).astype(np.int64)
    return x_max, x_min


def worst_case_sums(codes: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``(max, min)`` over inputs in ``[lo, hi]`` of every channel's sum (int64 ``(out,)``).

    Raises:
        ValueError: sums that int64 could not hold exactly.
    """
    q = np.asarray(codes, np.int64)
    peak = q.shape[0] * max(-int(lo), int(hi)) * int(np.abs(q).max(initial=0))
    if peak >= 2**62:
        raise ValueError(f"worst-case sums up to {peak} do not fit int64")
    pos = np.where(q > 0, q, 0).sum(axis=0)
    neg = np.where(q < 0, -q, 0).sum(axis=0)
    return hi * pos + (-lo) * neg, lo * pos - hi * neg


def fits(codes: np.ndarray, bits: int, lo: int, hi: int) -> np.ndarray:
    """bool ``(out,)``: no input in ``[lo, hi]`` makes a partial sum of channel ``j`` leave a
    P-bit accumulator (both worst-case sums fit; exact integers)."""
    top_lo, top_hi = accumulator_range(bits)
    high, low = worst_case_sums(codes, lo, hi)
    return (high <= top_hi) & (low >= top_lo)


def round_within_budget(v: np.ndarray, limit: int, bound: str, q_max: int) -> np.ndarray:
    """int64 codes near ``v`` (``(in, out)``, already scaled) that spend at most ``limit``.

    Rounds to nearest (ties to even) within ``-q_max .. q_max``; then, per channel (and per sign
    for ``"a2q+"``) where the budget is overspent, takes the cheapest steps toward zero. The
    ``m``-th step of an entry costs ``2 m - 1 - 2 d`` in squared error (``d = |q| - |v|``), an
    increasing cost, so the cheapest set of steps is every step below a threshold ``tau``:
    ``m(tau) = clip(floor((tau + 1) / 2 + d), 0, |q|)`` steps per entry. ``tau`` is found by
    bisection (per channel) as the least with ``sum m(tau) >= excess``; ties at the threshold
    may take a step more than needed (the budget is then underspent, never overspent).
    """
    v = np.asarray(v, np.float64)
    q = np.clip(np.rint(v), -q_max, q_max).astype(np.int64)
    groups = [np.ones(v.shape, bool)] if bound == "a2q" else [q > 0, q < 0]
    for mask in groups:
        size = np.where(mask, np.abs(q), 0)
        excess = size.sum(axis=0) - limit
        if not np.any(excess > 0):
            continue
        d = np.abs(q) - np.abs(v)
        cols = excess > 0
        size, d, want = size[:, cols], d[:, cols], excess[cols]

        def steps(tau: np.ndarray, size: np.ndarray = size, d: np.ndarray = d) -> np.ndarray:
            return np.clip(np.floor((tau + 1) / 2 + d), 0, size)

        lo = np.full(want.shape, -2.0)
        hi = np.full(want.shape, 2.0 * q_max + 2)  # every step taken: sum = |q| >= excess
        for _ in range(40):
            mid = (lo + hi) / 2
            enough = steps(mid).sum(axis=0) >= want
            hi, lo = np.where(enough, mid, hi), np.where(enough, lo, mid)
        taken = np.zeros(q.shape, np.int64)
        taken[:, cols] = steps(hi).astype(np.int64)
        q = q - np.sign(q) * taken
    return q


def a2q_scales(
    w: np.ndarray, fmt: Format | str, bits: int, lo: int, hi: int, bound: str = "a2q+"
) -> np.ndarray:
    """float32 ``(out,)`` per-channel scales: the smallest that fit ``|w / s| <= q_max`` and put
    ``w / s`` inside the bound (its L1 norm, or each sign's sum, at most the budget).

    Raises:
        ValueError: a non-integer format, bad bits or range, or a budget below 1.
    """
    f = get_format(fmt)
    if not isinstance(f, IntFormat) or f.frac_bits != 0:
        raise ValueError(f"accumulator-aware weights need an integer format, got {f.name}")
    limit = budget(bits, lo, hi, bound)
    if limit < 1:
        raise ValueError(
            f"a {bits}-bit accumulator cannot hold even one product of inputs {lo}..{hi}; "
            "use a wider accumulator"
        )
    w = np.asarray(w, np.float64)
    pos = np.where(w > 0, w, 0).sum(axis=0)
    neg = np.where(w < 0, -w, 0).sum(axis=0)
    need = (pos + neg) / limit if bound == "a2q" else np.maximum(pos, neg) / limit
    scale = np.maximum(np.abs(w).max(axis=0, initial=0) / float(f.max), need)
    scale = np.nextafter(scale.astype(np.float32), np.float32(np.inf))  # float32, not below
    return np.where(scale > np.finfo(np.float32).tiny, scale, np.float32(1)).astype(np.float32)


#: Fractions of the accumulator-aware scale that :func:`a2q_quantize` tries per channel.
SCALE_FRACTIONS = (1.0, 0.8, 0.65, 0.5, 0.4, 0.3, 0.22, 0.16, 0.11, 0.08)


def a2q_quantize(
    w: np.ndarray, fmt: Format | str, bits: int, lo: int, hi: int, bound: str = "a2q+"
) -> tuple[np.ndarray, np.ndarray]:
    """Accumulator-aware weight codes and scales of ``w`` (``(in, out)``), by projection.

    The scale :func:`a2q_scales` gives puts ``w / s`` inside the bound; where the budget is far
    below the fan-in (8 units for 784 inputs at P = 12) nearly every code then rounds to 0.
    Smaller scales (the :data:`SCALE_FRACTIONS` of it, never below ``max |w| / q_max``) make
    ``w / s`` overspend, and :func:`round_within_budget` keeps the budget by moving the cheapest
    codes toward zero: per channel, the scale whose codes have the least squared error
    ``||w - s q||^2`` is kept. Every candidate satisfies the bound.

    Args:
        w: float weights ``(in, out)``.
        fmt: the integer weight format (``"int8"``, ``"int4"``, ...).
        bits: the accumulator width P.
        lo, hi: the integer range of the layer's input codes.
        bound: ``"a2q+"`` (zero-centred, per sign; default) or ``"a2q"`` (L1).

    Returns:
        ``(codes, scales)``: int64 ``(in, out)`` codes that :func:`fits` the accumulator, and
        float32 ``(out,)`` scales.
    """
    f = get_format(fmt)
    w = np.asarray(w, np.float64)
    top = a2q_scales(w, f, bits, lo, hi, bound)
    floor = np.nextafter((np.abs(w).max(axis=0, initial=0) / float(f.max)).astype(np.float32),
                         np.float32(np.inf))  # fmt: skip
    limit = budget(bits, lo, hi, bound)
    best_codes = np.zeros(w.shape, np.int64)
    best_scales = top.copy()
    best_error = np.full(w.shape[1], np.inf)
    for fraction in SCALE_FRACTIONS:
        scales = np.maximum(top * np.float32(fraction), floor).astype(np.float32)
        scales = np.where(scales > 0, scales, top).astype(np.float32)
        codes = round_within_budget(w / scales.astype(np.float64), limit, bound, int(f.max))
        error = np.sum((w - codes * scales.astype(np.float64)) ** 2, axis=0)
        better = error < best_error
        best_codes[:, better] = codes[:, better]
        best_scales[better] = scales[better]
        best_error = np.where(better, error, best_error)
    return best_codes, best_scales
