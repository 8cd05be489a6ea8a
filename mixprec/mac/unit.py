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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mixprec.formats import Format, IntFormat, get_format
from mixprec.formats.block import is_block_format_name
from mixprec.formats.spec import Overflow, Rounding, as_overflow, as_rounding
from mixprec.mac.block_fma import BlockFMA
from mixprec.mac.checks import check_formats, check_hardware, is_native_float
from mixprec.mac.matmul import dot, matmul
from mixprec.mac.notation import parse_options
from mixprec.mac.order import Order, OrderKind
from mixprec.mac.stats import MacStats
from mixprec.mac.tensor_cores import all_tensor_cores, tensor_core_adder

__all__ = ["MAC", "PRESETS", "OrderKind"]  # OrderKind: mixprec.nn imports it from here


_ROUNDINGS = tuple(Rounding)  # every mode; stochastic needs rng= (see MAC)

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


_BLOCK_PARSER: list[Callable[[str], MAC]] = []  # filled by mixprec.mac.blockscaled


def register_block_parser(parse: Callable[[str], MAC]) -> None:
    """Let :meth:`MAC.parse` hand block-format notation (``mxfp4->fp32``) to ``parse``: the
    block-scaled unit subclasses :class:`MAC` in its own module, which imports this one."""
    _BLOCK_PARSER[:] = [parse]


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
    gpu: str | None
    adder: BlockFMA | None
    promote: int | None
    random_bits: int | None
    rng: np.random.Generator | None = field(compare=False, hash=False)

    def __init__(
        self,
        input: Format | str,
        accumulator: Format | str,
        product: Format | str | None = None,
        rounding: Rounding | str = Rounding.NEAREST_EVEN,
        overflow: Overflow | str | None = None,
        order: Order | str | None = None,
        *,
        gpu: str | None = None,
        adder: BlockFMA | None = None,
        promote: int | None = None,
        random_bits: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        set_ = object.__setattr__
        for name, value in (
            ("input", input), ("accumulator", accumulator), ("product", product),
            ("rounding", rounding), ("overflow", overflow), ("order", order), ("gpu", gpu),
            ("adder", adder), ("promote", promote), ("random_bits", random_bits), ("rng", rng),
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
        check_formats(self.accumulator, self.input, self.product, self.rounding)
        if self.gpu is not None:
            set_(self, "gpu", str(self.gpu).strip().lower())
            adder = tensor_core_adder(self.gpu, self.input.name, self.accumulator.name)
            if self.adder is not None and self.adder != adder:
                raise ValueError(f"give gpu= or adder=, not both ({self.gpu!r}, {self.adder})")
            set_(self, "adder", adder)
        check_hardware(
            self.input, self.accumulator, self.product, self.rounding, self.order, self.adder,
            self.promote, self.random_bits,
        )  # fmt: skip
        if self.order is None:
            set_(self, "order", self._default_order)
        set_(self, "order", Order.parse(self.order))
        if self.order.kind is OrderKind.FAST and not self.fast_allowed:
            raise ValueError(
                f"order 'fast' is not allowed for {self.notation(order=False)}: its result depends "
                "on the order of the additions. 'fast' needs an fp32/fp64 accumulator or an "
                "integer accumulator that wraps; use 'sequential', 'pairwise' or 'chunked:N'"
            )

    @property
    def fast_allowed(self) -> bool:
        """Whether ``order='fast'`` is allowed: wrapping integer or fp32/fp64 accumulators."""
        if isinstance(self.accumulator, IntFormat):
            return self.overflow is Overflow.WRAP
        if self.adder is not None or self.rounding is Rounding.STOCHASTIC:
            return False
        return is_native_float(self.accumulator)

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
        from mixprec.formats.fast32 import fits_float32

        if self.promote is not None:
            return np.dtype(np.float32)  # the fp32 accumulator of the promoted partial sums
        return np.dtype(np.float32 if fits_float32(self.accumulator) else np.float64)

    # -- notation --------------------------------------------------------------------------------
    @classmethod
    def parse(cls, notation: str) -> MAC:
        """Build a MAC from its notation ``input[->product]->accumulator[:option...]``.

        Options (any order, each at most once): an overflow policy (``wrap``, ``saturate``,
        ``inf``), an order (``sequential``, ``pairwise``, ``fast``, ``chunked:N``), a rounding
        mode (``nearest_even``, ``nearest_away``, ``toward_zero``, ``up``, ``down``, ``odd``,
        ``stochastic``), ``random_bits:N``, a tensor-core GPU (``h100`` ...: see
        :meth:`tensor_core`) and ``promote:N``. A preset name (see :meth:`preset`) is accepted
        too. ``MAC.parse(str(mac)) == mac`` (the generator ``rng`` is not part of the notation).

        Raises:
            ValueError: malformed notation; the message shows the grammar and the choices.

        >>> MAC.parse("fp8_e4m3->fp16->fp32").product.name
        'fp16'
        >>> str(MAC.parse("fp16->fp16:chunked:64"))
        'fp16->fp16:chunked:64'
        >>> MAC.parse("fp8_e4m3->fp32:h100:promote:128").adder.group
        32
        """
        if isinstance(notation, MAC):
            return notation
        if not isinstance(notation, str):
            raise TypeError(f"MAC.parse takes a string such as 'int8->int32', got {notation!r}")
        text = notation.strip()
        if _BLOCK_PARSER and is_block_format_name(text.split("->")[0]):
            return _BLOCK_PARSER[0](text)  # MX / NVFP4 inputs: mixprec.mac.blockscaled
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
        kwargs = parse_options(notation, options)
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

    @classmethod
    def tensor_core(cls, gpu: str, input: str, output: str = "fp32") -> MAC:
        """A real GPU's tensor core, bit for bit (Khattak & Mikaitis's models; see
        :mod:`mixprec.mac.tensor_cores` for the parameters and their sources).

        Raises:
            ValueError: an unknown GPU, or a combination it does not have (the message lists
                what it has).

        >>> str(MAC.tensor_core("h100", "fp8_e4m3", "fp32"))
        'fp8_e4m3->fp32:h100'
        """
        return cls(input=input, accumulator=output, gpu=gpu)

    @staticmethod
    def tensor_cores() -> list[tuple[str, str, str]]:
        """Every ``(gpu, input, output)`` that :meth:`tensor_core` models.

        >>> ("b200", "fp8_e5m2", "fp32") in MAC.tensor_cores()
        True
        """
        return all_tensor_cores()

    def notation(self, order: bool = True) -> str:
        """The canonical notation; defaults (overflow, order, rounding) are left out."""
        stages = (
            [self.input.name]
            + ([self.product.name] if self.product else [])
            + [self.accumulator.name]
        )
        text = "->".join(stages)
        if self.gpu is not None:
            text += f":{self.gpu}"
        if self.promote is not None:
            text += f":promote:{self.promote}"
        if self.overflow is not self._default_overflow:
            text += f":{self.overflow.value}"
        if order and self.order != self._default_order:
            text += f":{self.order}"
        if self.rounding is not Rounding.NEAREST_EVEN:
            text += f":{self.rounding.value}"
        if self.random_bits is not None:
            text += f":random_bits:{self.random_bits}"
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
