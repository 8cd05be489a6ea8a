"""The MAC unit as data: input, product and accumulator formats, rounding, overflow and order.

A MAC multiplies two inputs (exactly, or rounded to a product format) and adds each product into
an accumulator rounded to the accumulator format after every addition, in a stated order. The
book's notation ``input->accumulator`` names one (Rodriguez, *Deep Learning Systems*, ch. 1):

    int8->int32                 int8 inputs, exact products, int32 accumulator (wraps)
    fp16->fp32                  fp16 inputs, exact products, fp32 accumulator
    fp8_e4m3->fp16->fp32        a product format between them: input->product->accumulator
    int8->int16:saturate        options follow colons: an overflow policy,
    fp16->fp16:chunked:64       an order (sequential, pairwise, chunked:N, fast),
    bf16->bf16:toward_zero      a rounding mode

``str(mac)`` prints the canonical notation (defaults left out), so ``MAC.parse(str(mac)) == mac``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mixprec.formats import FloatFormat, Format, IntFormat, get_format, storage_dtype
from mixprec.formats.spec import Overflow, Rounding, as_overflow, as_rounding
from mixprec.mac.matmul import dot, matmul
from mixprec.mac.order import Order, OrderKind
from mixprec.mac.stats import MacStats

__all__ = ["MAC", "PRESETS", "OrderKind"]  # OrderKind: mixprec.nn imports it from here


# Rounding modes of the emulated additions: the deterministic ones.
_ROUNDINGS = tuple(r for r in Rounding if r is not Rounding.STOCHASTIC)
_MAX_INPUT_PRECISION = 26  # two inputs of <= 26 bits multiply exactly in float64

PRESETS: dict[str, str] = {
    "tensor-core-fp16": "fp16->fp32",  # NVIDIA Volta+ HMMA with fp32 accumulation
    "tensor-core-fp16-fp16": "fp16->fp16",  # HMMA with fp16 accumulation
    "tensor-core-bf16": "bf16->fp32",  # NVIDIA Ampere+ / Google TPU MXU
    "tensor-core-fp8": "fp8_e4m3->fp32",  # NVIDIA Hopper FP8 (ideal fp32 accumulation)
    "tensor-core-fp8-e5m2": "fp8_e5m2->fp32",
    "int8": "int8->int32",  # integer inference (gemmlowp, TFLite, VNNI, DP4A)
    "int8-int16": "int8->int16",  # narrow DSP accumulator, wraps
    "int8-int16-saturate": "int8->int16:saturate",  # DSP with saturating accumulator
    "fp16": "fp16->fp16",
    "bf16": "bf16->bf16",
    "fp8-fp16": "fp8_e4m3->fp16",
    "fp32": "fp32->fp32",  # an fp32 FMA unit / BLAS sgemm
}


def _is_native_float(fmt: Format) -> bool:
    """fp32 or fp64: numpy/BLAS arithmetic is that format's arithmetic."""
    return storage_dtype(fmt) in (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True, repr=False, init=False)
class MAC:
    """A multiply-accumulate unit: the configuration that :meth:`matmul` interprets.

    Semantics (bit-exact): every output of ``matmul``/``affine`` is a dot product. The
    accumulator starts at the bias (``affine``; quantized to the accumulator format) or +0; each
    product, exact or rounded once to ``product``, is added in ``order``, and every addition is
    rounded once to ``accumulator`` (no double rounding) with ``rounding``; then ``overflow``
    applies: integers wrap modulo ``2**bits`` or clamp to [min, max] exactly like hardware;
    floats go to ±inf (NaN in formats without inf, OCP FP8 §5) or clamp to ±max. Subnormals,
    -0 (IEEE 754-2019 §6.3) and NaN/inf inputs behave as the formats define.

    ``order="fast"`` means:

    * integer accumulators with ``wrap``: wrap-around is order-independent (arithmetic modulo
      ``2**bits``), so the exact sum is computed in BLAS and wrapped once; event counts are
      those of the sequential order.
    * fp32 and fp64 accumulators: any order, each addition rounded once to the accumulator
      (what BLAS sgemm/dgemm do). mixprec uses BLAS where the products are exact in it (fp16,
      bf16 within fp32's range, fp8, int8 ... for fp32) and the sequential order elsewhere,
      output by output (outputs touching inf/NaN inputs or overflowing are redone
      sequentially, which also counts their events).

    The default order is ``fast`` where allowed, else ``sequential``; the default overflow is
    ``wrap`` for integer accumulators and ``inf`` for float ones.

    Args:
        input: format of both operands (name or format object). Inputs are quantized to it
            (rounding ``rounding``, overflow ``saturate``) unless they already come in its
            storage dtype (``np.float16`` for fp16, ``ml_dtypes.bfloat16``, ``np.int8`` ...).
            At most 26 bits of precision, so that products are exact in float64.
        accumulator: format of the running sum: a float format of at most 51 bits of
            precision or fp64, or an integer / fixed-point format of at most 62 bits.
        product: ``None`` (default) keeps products exact (a fused multiply-add); a format
            rounds every product to it first (rounding ``rounding``, overflow ``overflow``).
        rounding: rounding of additions and products: ``nearest_even`` (default),
            ``nearest_away``, ``toward_zero``, ``up``, ``down``, ``odd``; fp64 accumulators
            only ``nearest_even``.
        overflow: integer accumulators: ``wrap`` (default, two's complement as hardware) or
            ``saturate``; float accumulators: ``inf`` (default, IEEE 754) or ``saturate``
            (±max). ``None`` picks the default.
        order: ``sequential``, ``pairwise``, ``chunked:N`` or ``fast`` (see :class:`Order`);
            ``None`` picks the default.

    Raises:
        ValueError: an unknown name, a combination the emulator cannot make exact, or ``fast``
            where the order matters; the message lists what is allowed.

    >>> mac = MAC(input="fp16", accumulator="fp32")
    >>> str(mac), mac.order.kind.value, MAC.parse("int8->int16:saturate").overflow.value
    ('fp16->fp32', 'fast', 'saturate')
    """

    input: Format
    accumulator: Format
    product: Format | None
    rounding: Rounding
    overflow: Overflow
    order: Order

    def __init__(
        self,
        input: Format | str,
        accumulator: Format | str,
        product: Format | str | None = None,
        rounding: Rounding | str = Rounding.NEAREST_EVEN,
        overflow: Overflow | str | None = None,
        order: Order | str | None = None,
    ) -> None:
        set_ = object.__setattr__
        for name, value in (
            ("input", input), ("accumulator", accumulator), ("product", product),
            ("rounding", rounding), ("overflow", overflow), ("order", order),
        ):  # fmt: skip
            set_(self, name, value)
        self.__post_init__()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "input", get_format(self.input))
        set_(self, "accumulator", get_format(self.accumulator))
        if self.product is not None:
            set_(self, "product", get_format(self.product))
        set_(self, "rounding", as_rounding(self.rounding))
        if self.rounding not in _ROUNDINGS:
            allowed = ", ".join(repr(r.value) for r in _ROUNDINGS)
            raise ValueError(
                f"rounding {self.rounding.value!r} is not emulated in a MAC (it would need a "
                f"random generator per addition); allowed: {allowed}"
            )
        is_int = isinstance(self.accumulator, IntFormat)
        allowed_overflow = (
            (Overflow.WRAP, Overflow.SATURATE) if is_int else (Overflow.INF, Overflow.SATURATE)
        )
        if self.overflow is None:
            set_(self, "overflow", self._default_overflow)
        set_(self, "overflow", as_overflow(self.overflow))
        if self.overflow not in allowed_overflow:
            kind = "an integer" if is_int else "a float"
            allowed = ", ".join(repr(o.value) for o in allowed_overflow)
            raise ValueError(
                f"overflow {self.overflow.value!r} is not available for {kind} accumulator "
                f"({self.accumulator.name}); allowed: {allowed}"
            )
        self._check_formats()
        if self.order is None:
            set_(self, "order", self._default_order)
        set_(self, "order", Order.parse(self.order))
        if self.order.kind is OrderKind.FAST and not self.fast_allowed:
            raise ValueError(
                f"order 'fast' is not allowed for {self.notation(order=False)}: its result depends "
                "on the order of the additions. 'fast' needs an fp32/fp64 accumulator or an "
                "integer accumulator that wraps; use 'sequential', 'pairwise' or 'chunked:N'"
            )

    # -- validation ------------------------------------------------------------------------------
    def _check_formats(self) -> None:
        acc, inp, prod = self.accumulator, self.input, self.product
        if isinstance(acc, IntFormat):
            if not isinstance(inp, IntFormat):
                raise ValueError(
                    f"an integer accumulator ({acc.name}) needs integer inputs, got {inp.name}; "
                    "use a float accumulator such as 'fp32' for float inputs"
                )
            if acc.bits > 62:
                raise ValueError(
                    f"integer accumulators of up to 62 bits are emulated, got {acc.name}"
                )
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
        if acc.mantissa_bits > 50 and not _is_native_float(acc):
            raise ValueError(
                f"float accumulators of up to 51 bits of precision, or fp64 itself, are emulated; "
                f"got {acc.name}"
            )
        if (
            _is_native_float(acc)
            and acc.mantissa_bits == 52
            and self.rounding is not Rounding.NEAREST_EVEN
        ):
            raise ValueError("an fp64 accumulator is emulated with rounding='nearest_even' only")
        if isinstance(inp, FloatFormat):
            exact = (
                inp.precision <= _MAX_INPUT_PRECISION
                and inp.emax <= 511
                and inp.smallest_subnormal >= 2.0**-537
            )
        else:
            exact = (
                inp.bits - int(inp.is_signed) <= _MAX_INPUT_PRECISION and abs(inp.frac_bits) <= 256
            )
        if not exact:
            raise ValueError(
                f"input format {inp.name} is too wide: products must be exact in float64 (at "
                f"most {_MAX_INPUT_PRECISION} bits of precision, exponents within ±511)"
            )
        if prod is not None and not (
            isinstance(prod, FloatFormat) and prod.is_signed and prod.has_zero
        ):
            raise ValueError(
                "a float accumulator needs a signed float product format with a zero, got "
                f"{prod.name}"
            )

    @property
    def fast_allowed(self) -> bool:
        """Whether ``order='fast'`` is allowed: wrapping integer or fp32/fp64 accumulators."""
        if isinstance(self.accumulator, IntFormat):
            return self.overflow is Overflow.WRAP
        return _is_native_float(self.accumulator)

    @property
    def _default_overflow(self) -> Overflow:
        """``wrap`` for integer accumulators, ``inf`` for float ones."""
        return Overflow.WRAP if isinstance(self.accumulator, IntFormat) else Overflow.INF

    @property
    def _default_order(self) -> Order:
        """``fast`` where allowed, else ``sequential``."""
        return Order(OrderKind.FAST if self.fast_allowed else OrderKind.SEQUENTIAL)

    @functools.cached_property
    def output_dtype(self) -> np.dtype:
        """float32 when every accumulator value is a float32, else float64 (e.g. int32)."""
        from mixprec.formats.fast import fits_float32

        return np.dtype(np.float32 if fits_float32(self.accumulator) else np.float64)

    # -- notation --------------------------------------------------------------------------------
    @classmethod
    def parse(cls, notation: str) -> MAC:
        """Build a MAC from its notation ``input[->product]->accumulator[:option...]``.

        Options (any order, each at most once): an overflow policy (``wrap``, ``saturate``,
        ``inf``), an order (``sequential``, ``pairwise``, ``fast``, ``chunked:N``) and a rounding
        mode (``nearest_even``, ``nearest_away``, ``toward_zero``, ``up``, ``down``, ``odd``).
        A preset name (see :meth:`preset`) is accepted too.

        Raises:
            ValueError: malformed notation; the message shows the grammar and the choices.

        >>> MAC.parse("fp8_e4m3->fp16->fp32").product.name
        'fp16'
        >>> str(MAC.parse("fp16->fp16:chunked:64"))
        'fp16->fp16:chunked:64'
        """
        if isinstance(notation, MAC):
            return notation
        if not isinstance(notation, str):
            raise TypeError(f"MAC.parse takes a string such as 'int8->int32', got {notation!r}")
        text = notation.strip()
        if text.lower() in PRESETS:
            return cls.parse(PRESETS[text.lower()])
        head, *options = text.split(":")
        stages = [s.strip() for s in head.split("->")]
        if len(stages) not in (2, 3) or not all(stages):
            raise ValueError(
                f"MAC notation {notation!r} is not 'input->accumulator' or "
                "'input->product->accumulator' with ':'-separated options, e.g. 'int8->int32', "
                f"'fp8_e4m3->fp16->fp32', 'fp16->fp16:chunked:64'. Presets: {', '.join(PRESETS)}"
            )
        kwargs: dict[str, Order | str] = {}
        tokens = [t.strip().lower() for t in options]
        i = 0
        while i < len(tokens):
            token = tokens[i]
            value: Order | str
            if token == "chunked":
                size = tokens[i + 1] if i + 1 < len(tokens) else ""
                key, value, i = "order", Order.parse(f"chunked:{size}"), i + 2
            elif token in {o.value for o in OrderKind}:
                key, value, i = "order", Order.parse(token), i + 1
            elif token in {o.value for o in Overflow}:
                key, value, i = "overflow", token, i + 1
            elif token in {r.value for r in Rounding}:
                key, value, i = "rounding", token, i + 1
            else:
                raise ValueError(
                    f"unknown option {token!r} in MAC notation {notation!r}; options are an "
                    f"overflow policy ({', '.join(o.value for o in Overflow)}), an order "
                    "(sequential, pairwise, fast, chunked:N) or a rounding mode "
                    f"({', '.join(r.value for r in _ROUNDINGS)})"
                )
            if key in kwargs:
                raise ValueError(f"MAC notation {notation!r} gives the {key} twice")
            kwargs[key] = value
        product = stages[1] if len(stages) == 3 else None
        return cls(input=stages[0], accumulator=stages[-1], product=product, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def preset(cls, name: str) -> MAC:
        """A MAC of common hardware by name (``tensor-core-fp16``, ``int8``, ...).

        Raises:
            ValueError: unknown name; the message lists the presets.

        >>> str(MAC.preset("tensor-core-bf16")), str(MAC.preset("int8"))
        ('bf16->fp32', 'int8->int32')
        """
        key = str(name).strip().lower()
        if key not in PRESETS:
            listing = ", ".join(f"{k} ({v})" for k, v in PRESETS.items())
            raise ValueError(f"unknown MAC preset {name!r}; presets: {listing}")
        return cls.parse(PRESETS[key])

    def notation(self, order: bool = True) -> str:
        """The canonical notation; defaults (overflow, order, rounding) are left out."""
        stages = (
            [self.input.name]
            + ([self.product.name] if self.product else [])
            + [self.accumulator.name]
        )
        text = "->".join(stages)
        if self.overflow is not self._default_overflow:
            text += f":{self.overflow.value}"
        if order and self.order != self._default_order:
            text += f":{self.order}"
        if self.rounding is not Rounding.NEAREST_EVEN:
            text += f":{self.rounding.value}"
        return text

    def __str__(self) -> str:
        return self.notation()

    def __repr__(self) -> str:
        return f"MAC.parse({self.notation()!r})"

    # -- arithmetic ------------------------------------------------------------------------------
    def matmul(
        self, a: object, b: object, c: object = None, stats: bool = False
    ) -> np.ndarray | tuple[np.ndarray, MacStats]:
        """Bit-exact emulated ``a @ b + c`` (``c``: the accumulator's initial value, a GEMM's C);
        see :func:`mixprec.mac.matmul.matmul`."""
        return matmul(self, a, b, c=c, stats=stats)

    def dot(
        self, a: object, b: object, stats: bool = False
    ) -> np.ndarray | tuple[np.ndarray, MacStats]:
        """Emulated dot product of two vectors (a 0-d array); see :meth:`matmul`."""
        return dot(self, a, b, stats=stats)

    def affine(
        self, x: object, w: object, bias: object = None, stats: bool = False
    ) -> np.ndarray | tuple[np.ndarray, MacStats]:
        """Emulated ``x @ w + bias``, the bias being the accumulator's initial value."""
        return matmul(self, x, w, c=bias, stats=stats)
