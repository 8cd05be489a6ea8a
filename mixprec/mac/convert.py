"""Exact, fast conversions of operands to float32, and cheap magnitude summaries.

numpy's float16 -> float32 cast is a scalar loop (~2 ns per element, slower than the sgemm it
feeds at 128x784x128); the bit construction below is exact and about 4x faster:

    f32 bits = ((int32(int16 bits) << 13) & 0x8FFFFFFF), then times 2**112.

The arithmetic shift keeps the sign in bit 31 but fills bits 28-30 with copies of it; the mask
clears them, leaving ``sign | (exponent, mantissa) << 13``: the fp16 magnitude bits at float32's
positions, i.e. the value times 2**-112 (an fp16 subnormal becomes a float32 subnormal with the
same significand). Multiplying by 2**112 is exact (no subnormal result: the smallest fp16
subnormal becomes 2**-24). Codes with an all-ones exponent (inf, NaN) would come out finite: they
take numpy's cast instead.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np

from mixprec._util.threads import scratch

_F16_SPECIAL = 0x7C00  # |code| >= this: inf or NaN
_BF16_SPECIAL = 0x7F80


def _float16_to_float32(x: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, bool]:
    bits = x.view(np.int16)
    # inf/NaN: positive codes 0x7C00..0x7FFF (the top of int16), negative ones 0xFC00..0xFFFF
    # (the top of uint16): two reductions, no temporary
    if bits.max(initial=0) >= _F16_SPECIAL or x.view(np.uint16).max(initial=0) >= 0xFC00:
        np.copyto(out, x)
        return out, False
    wide = out.view(np.int32)
    np.copyto(wide, bits)
    wide <<= 13
    wide &= np.int32(-0x70000001)  # 0x8FFFFFFF
    out *= np.float32(2.0**112)
    return out, True


def to_float32(x: np.ndarray) -> np.ndarray:
    """An exact float32 copy of values that are float32 numbers (fp16, bf16, fp8, int8 ...)."""
    if x.dtype == np.float32:
        return x
    return _convert(x, np.float32, np.empty(x.shape, dtype=np.float32))[0]


def _convert(x: np.ndarray, dtype: type, out: np.ndarray) -> tuple[np.ndarray, bool | None]:
    """``x`` as ``dtype`` (exactly) in ``out``, and whether it is all finite when that comes
    for free (None: not checked)."""
    if dtype is np.float32 and x.dtype == np.float16 and x.size:
        return _float16_to_float32(np.ascontiguousarray(x), out)
    np.copyto(out, x, casting="unsafe")  # exact: the values are values of dtype
    return out, (True if x.dtype.kind in "iub" else None)


def convert_pair(
    a: np.ndarray, b: np.ndarray, dtype: type
) -> tuple[np.ndarray, np.ndarray, bool | None]:
    """Both operands as ``dtype`` (exactly), and whether both are all finite when the
    conversion tells (None: not checked).

    The converted arrays live in per-thread scratch buffers, reused by the next call in the same
    thread: use them at once (as the BLAS paths do). Fresh multi-megabyte arrays would cost page
    faults on every call. Operands already of ``dtype`` are returned as they are.
    """
    results = []
    finite: list[bool | None] = []
    for slot, x in enumerate((a, b)):
        if x.dtype == dtype:
            results.append(x)
            finite.append(None)
            continue
        converted, is_finite = _convert(x, dtype, _scratch(slot, x.shape, dtype))
        results.append(converted)
        finite.append(is_finite)
    if False in finite:
        return results[0], results[1], False
    return results[0], results[1], (True if all(finite) else None)


_SCRATCH_LIMIT = 1 << 26  # bytes: larger operands get fresh arrays


def _scratch(slot: int, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    shaped, raw = scratch("mac.convert", _convert_buffers)
    last: np.ndarray | None = shaped.get(slot)
    if last is not None and last.shape == shape and last.dtype == dtype:
        return last
    size = math.prod(shape) * np.dtype(dtype).itemsize
    if size > _SCRATCH_LIMIT:
        return np.empty(shape, dtype=dtype)
    buffer = raw.get(slot)
    if buffer is None or buffer.nbytes < size:
        buffer = raw[slot] = np.empty(max(size, 1 << 16), dtype=np.uint8)
    view: np.ndarray = buffer[:size].view(dtype).reshape(shape)
    shaped[slot] = view
    return view


def _convert_buffers() -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Per slot: the last shaped view, and the raw bytes behind it."""
    return {}, {}


def magnitudes(x: np.ndarray) -> tuple[float, float, bool]:
    """``(smallest nonzero |x|, largest |x|, all finite)``; (inf, 0, True) for no nonzero.

    Reads the bit patterns of 16-bit float storage (fp16, bf16): two integer passes.
    """
    if x.size == 0:
        return np.inf, 0.0, True
    if x.dtype in (np.float16, np.dtype(ml_dtypes.bfloat16)):
        special = _F16_SPECIAL if x.dtype == np.float16 else _BF16_SPECIAL
        mag = np.bitwise_and(x.view(np.uint16), 0x7FFF)
        top = int(mag.max())
        mag -= np.uint16(1)  # zero wraps to 65535: the minimum is the nonzero minimum
        low = int(mag.min()) + 1
        as_value = np.array([low & 0xFFFF, top], dtype=np.uint16).view(x.dtype).astype(np.float64)
        smallest = np.inf if low > 0x7FFF else float(as_value[0])
        return smallest, float(as_value[1]), top < special
    with np.errstate(invalid="ignore"):
        a = np.abs(x.astype(np.float64, copy=False))
        finite = bool(np.isfinite(a).all())
        if not finite:
            a = np.where(np.isfinite(a), a, 0.0)
        nonzero = a[a > 0]
        return float(nonzero.min(initial=np.inf)), float(a.max(initial=0.0)), finite
