"""Validation of a MAC's formats: the combinations the emulator computes exactly."""

from __future__ import annotations

import numpy as np

from mixprec.formats import FloatFormat, Format, IntFormat, storage_dtype
from mixprec.formats.spec import Rounding

MAX_INPUT_PRECISION = 26  # two inputs of <= 26 bits multiply exactly in float64


def is_native_float(fmt: Format) -> bool:
    """fp32 or fp64: numpy/BLAS arithmetic is that format's arithmetic."""
    return storage_dtype(fmt) in (np.dtype(np.float32), np.dtype(np.float64))


def check_formats(acc: Format, inp: Format, prod: Format | None, rounding: Rounding) -> None:
    """Raise ValueError unless ``inp -> [prod ->] acc`` is emulated exactly.

    Raises:
        ValueError: the message names the format and the limit, and suggests the fix.
    """
    if isinstance(acc, IntFormat):
        if not isinstance(inp, IntFormat):
            raise ValueError(
                f"an integer accumulator ({acc.name}) needs integer inputs, got {inp.name}; "
                "use a float accumulator such as 'fp32' for float inputs"
            )
        if acc.bits > 62:
            raise ValueError(f"integer accumulators of up to 62 bits are emulated, got {acc.name}")
        if prod is not None and not isinstance(prod, IntFormat):
            raise ValueError(f"an integer MAC needs an integer product format, got {prod.name}")
        finest = 2 * inp.frac_bits
        for fmt in (prod, acc) if prod is not None else (acc,):
            if fmt.frac_bits < finest:
                raise ValueError(
                    f"{fmt.name} has {fmt.frac_bits} fraction bits, fewer than the "
                    f"{finest} of an exact product of two {inp.name}; give it >= {finest}"
                )
            finest = fmt.frac_bits
        if 2 * (inp.bits - 1) + (acc.frac_bits - 2 * inp.frac_bits) > 61:
            raise ValueError(f"products of {inp.name} scaled to {acc.name} exceed 61 bits")
        return
    assert isinstance(acc, FloatFormat)
    if not (acc.is_signed and acc.has_zero):
        raise ValueError(f"a float accumulator needs a sign and a zero; {acc.name} lacks one")
    if acc.mantissa_bits > 50 and not is_native_float(acc):
        raise ValueError(
            f"float accumulators of up to 51 bits of precision, or fp64 itself, are emulated; "
            f"got {acc.name}"
        )
    if is_native_float(acc) and acc.mantissa_bits == 52 and rounding is not Rounding.NEAREST_EVEN:
        raise ValueError("an fp64 accumulator is emulated with rounding='nearest_even' only")
    if isinstance(inp, FloatFormat):
        exact = (
            inp.precision <= MAX_INPUT_PRECISION
            and inp.emax <= 511
            and inp.smallest_subnormal >= 2.0**-537
        )
    else:
        exact = inp.bits - int(inp.is_signed) <= MAX_INPUT_PRECISION and abs(inp.frac_bits) <= 256
    if not exact:
        raise ValueError(
            f"input format {inp.name} is too wide: products must be exact in float64 (at "
            f"most {MAX_INPUT_PRECISION} bits of precision, exponents within ±511)"
        )
    if prod is not None and not (
        isinstance(prod, FloatFormat) and prod.is_signed and prod.has_zero
    ):
        raise ValueError(
            f"a float accumulator needs a signed float product format with a zero, got {prod.name}"
        )


def check_hardware(
    inp: Format,
    acc: Format,
    prod: Format | None,
    rounding: Rounding,
    order: object,
    adder: object,
    promote: object,
    random_bits: object,
) -> None:
    """Raise ValueError unless the tensor-core, promotion and stochastic options fit together.

    Raises:
        ValueError: the message names the option and what is allowed.
    """
    if adder is not None:
        if not (isinstance(inp, FloatFormat) and inp.precision <= 11):
            raise ValueError(
                f"a tensor-core adder takes float inputs of <= 11 bits, got {inp.name}"
            )
        if not (isinstance(acc, FloatFormat) and acc.mantissa_bits <= 23 and acc.emax <= 127):
            raise ValueError(f"a tensor-core adder outputs fp32 or fp16, got {acc.name}")
        if prod is not None or rounding is not Rounding.NEAREST_EVEN or order is not None:
            raise ValueError(
                "a tensor-core MAC has its own products, rounding and order (the block FMA's); "
                "leave product, rounding and order unset"
            )
    if promote is not None:
        if adder is None:
            raise ValueError(
                "promote:N needs a tensor-core MAC (e.g. 'fp8_e4m3->fp32:h100:promote:128'); "
                "for an ideal MAC use the order 'chunked:N'"
            )
        if isinstance(promote, bool) or not isinstance(promote, int) or promote < 1:
            raise ValueError(
                f"promote must be an int >= 1 (products per partial sum), got {promote!r}"
            )
    if rounding is Rounding.STOCHASTIC:
        if not (isinstance(acc, FloatFormat) and acc.precision <= 24) or prod is not None:
            raise ValueError(
                "stochastic rounding is emulated for float accumulators of <= 24 bits (fp32 and "
                f"narrower) without a product format; got {acc.name}"
                + (f" with product {prod.name}" if prod is not None else "")
            )
        if random_bits is not None:
            limit = 52 - acc.precision
            if (
                isinstance(random_bits, bool)
                or not isinstance(random_bits, int)
                or not (1 <= random_bits <= limit)
            ):
                raise ValueError(
                    f"random_bits must be an int in [1, {limit}] for {acc.name}, got "
                    f"{random_bits!r}"
                )
    elif random_bits is not None:
        raise ValueError("random_bits needs rounding='stochastic' (hardware stochastic rounding)")
