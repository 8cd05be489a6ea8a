"""Block-scaled formats: OCP Microscaling (MX) v1.0 and NVIDIA's NVFP4, as data.

A :class:`BlockFormat` wraps an element format (any :class:`FloatFormat` or :class:`IntFormat`,
unchanged) with a block size, a scale format and a scale rule. ``k`` consecutive elements along
one axis share one scale ``X``; the value of element ``i`` is ``X * P_i`` (OCP MX v1.0 §5.1).
NVFP4 multiplies in a second, per-tensor fp32 scale: ``s_t * s_b * P_i``.

Every choice on which implementations differ is a field, named in the format's string form
(``"mxfp4:rceil"``, ``"nvfp4:tensor_scale=none"``), so that ``get_block_format(str(f)) == f``:

============== =============================================== ==================================
field          choices (default first)                          follows
============== =============================================== ==================================
``rule``       ``floor``: ``2**(floor(log2 amax) - emax_elem)``  OCP MX v1.0 §6.3, microxcaling,
                                                                gfloat, torchao's default
               ``rceil``: ``2**ceil(log2(amax / max_elem))``     cuBLAS/cuDNN, PTX ``cvt.rp.ue8m0``
               ``ceil``: ``2**(ceil(log2 amax) - emax_elem)``    torchao ``CEIL``
               ``even``: amax rounded half-up to the element's   torchao ``EVEN``
               precision, then as ``floor``
               ``amax``: ``rne_scale(amax_b / max_elem / s_t)``  NVFP4 (a non-power-of-two scale)
``specials``   ``block``: a NaN or inf in a block makes its      microxcaling; torchao for NaN
               scale NaN, so every element decodes to NaN
               ``element``: the scale comes from the finite      (elements then convert alone)
               values; NaN/inf elements convert as elements
``scale_overflow`` ``nan``: a scale exponent above the scale       microxcaling, torchao ``FLOOR``
               format's top gives the NaN scale
               ``saturate``: clamp to the top scale              ``cvt.rp.satfinite.ue8m0``
               (below the bottom, every rule clamps to the smallest scale, 2**-127 for E8M0:
               an all-zero block gets scale code 0, as microxcaling and torchao)
``padding``    ``zero``: a last, short block (as padding with    microxcaling
               zeros, which leave its amax unchanged)
               ``error``: the length must divide                 torchao (asserts)
``int_min``    ``full``: MXINT8 keeps code -128 (-2.0)           gfloat, pychop; OCP §5.3.3 range
               ``symmetric``: elements clamp to ±127/64          microxcaling
``tensor_scale`` ``amax``: ``s_t = fp32(amax / (max_elem *        NVIDIA NVFP4 (ModelOpt, torchao)
               max_scale))``; ``none``: ``s_t = 1``
``scale_min``  ``subnormal``: block scales clamp below at the    ModelOpt (2**-9 for E4M3)
               scale format's smallest value; ``normal``:        torchao (2**-6)
               at its smallest normal
============== =============================================== ==================================
"""

from __future__ import annotations

import difflib
import enum
import math
from dataclasses import dataclass, fields, replace

from mixprec._util.choice import as_choice
from mixprec.formats.registry import E8M0, FP4_E2M1, FP6_E2M3, FP6_E3M2, FP8_E4M3, FP8_E5M2
from mixprec.formats.spec import FloatFormat, Format, IntFormat


class ScaleRule(str, enum.Enum):
    """How a block's scale follows from its largest magnitude ``amax`` (see the module table)."""

    FLOOR = "floor"
    RCEIL = "rceil"
    CEIL = "ceil"
    EVEN = "even"
    AMAX = "amax"


class BlockSpecials(str, enum.Enum):
    """What a NaN or infinity inside a block does to the block."""

    BLOCK = "block"
    ELEMENT = "element"


class ScaleOverflow(str, enum.Enum):
    """A scale beyond the scale format's largest value: the NaN scale, or the largest scale."""

    NAN = "nan"
    SATURATE = "saturate"


class Padding(str, enum.Enum):
    """A length along the block axis that the block size does not divide."""

    ZERO = "zero"
    ERROR = "error"


class IntMin(str, enum.Enum):
    """Whether an integer element keeps its most negative code (MXINT8's -2.0)."""

    FULL = "full"
    SYMMETRIC = "symmetric"


class TensorScale(str, enum.Enum):
    """NVFP4's second-level fp32 scale: from the tensor's amax, or none (``s_t = 1``)."""

    AMAX = "amax"
    NONE = "none"


class ScaleMin(str, enum.Enum):
    """Lower clamp of a non-power-of-two block scale: smallest subnormal or smallest normal."""

    SUBNORMAL = "subnormal"
    NORMAL = "normal"


# OCP MX v1.0 §5.3.3: the MXINT8 element, an 8-bit two's-complement integer times 2**-6.
MX_INT8 = IntFormat(name="int8_mx", bits=8, frac_bits=6)

_ENUMS: dict[str, type[enum.Enum]] = {
    "rule": ScaleRule, "specials": BlockSpecials, "scale_overflow": ScaleOverflow,
    "padding": Padding, "int_min": IntMin, "tensor_scale": TensorScale, "scale_min": ScaleMin,
}  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class BlockFormat:
    """A block-scaled format: ``block_size`` elements of ``element`` share one ``scale``.

    Args:
        name: the base name (``"mxfp4"``); options that differ from the defaults are appended
            in ``str()``.
        element: the element format (unchanged by the wrapping).
        block_size: elements per block (32 for MX, 16 for NVFP4).
        scale: the scale format: E8M0 (a power of two, OCP MX §5.4.1) or a float format with
            mantissa bits (E4M3 for NVFP4).
        rule, specials, scale_overflow, padding, int_min, tensor_scale, scale_min: the choices
            of the module table (strings accepted).

    Raises:
        ValueError: a block size below 1, a power-of-two rule with a scale that has mantissa
            bits (or ``amax`` with a power-of-two scale), a tensor scale with an E8M0 scale.

    >>> f = get_block_format("mxfp4:rceil")
    >>> f.block_size, f.rule.value, f.bits_per_element, str(f)
    (32, 'rceil', 4.25, 'mxfp4:rceil')
    """

    name: str
    element: Format
    block_size: int
    scale: FloatFormat
    rule: ScaleRule = ScaleRule.FLOOR
    specials: BlockSpecials = BlockSpecials.BLOCK
    scale_overflow: ScaleOverflow = ScaleOverflow.NAN
    padding: Padding = Padding.ZERO
    int_min: IntMin = IntMin.FULL
    tensor_scale: TensorScale = TensorScale.NONE
    scale_min: ScaleMin = ScaleMin.SUBNORMAL

    def __post_init__(self) -> None:
        for field, choice in _ENUMS.items():
            object.__setattr__(
                self, field, as_choice(choice, getattr(self, field), f"BlockFormat.{field}")
            )
        if isinstance(self.block_size, bool) or not isinstance(self.block_size, int):
            raise TypeError(f"block_size must be an int, got {self.block_size!r}")
        if self.block_size < 1:
            raise ValueError(f"block_size must be at least 1, got {self.block_size}")
        if not isinstance(self.element, (FloatFormat, IntFormat)):
            raise TypeError(f"element must be a FloatFormat or IntFormat, got {self.element!r}")
        if self.is_power_of_two == (self.rule is ScaleRule.AMAX):
            raise ValueError(
                f"scale rule {self.rule.value!r} does not fit the scale format {self.scale.name}: "
                "E8M0-like scales (no mantissa bits) take 'floor', 'rceil', 'ceil' or 'even'; "
                "a scale with mantissa bits (E4M3, as NVFP4) takes 'amax'"
            )
        if self.is_power_of_two and self.tensor_scale is not TensorScale.NONE:
            raise ValueError(
                "a per-tensor scale is for block scales with mantissa bits (NVFP4); a power-of-"
                "two scale takes tensor_scale='none'"
            )

    @property
    def is_power_of_two(self) -> bool:
        """True for E8M0-like scales (no mantissa bits): every scale is a power of two."""
        return self.scale.mantissa_bits == 0

    @property
    def element_emax(self) -> int:
        """``emax_elem`` of OCP MX §6.3: the exponent of the element's largest value."""
        return math.floor(math.log2(self.element.max))

    @property
    def element_precision(self) -> int:
        """Significant bits of the element (the rounding of the ``even`` rule)."""
        if isinstance(self.element, FloatFormat):
            return self.element.precision
        return self.element.bits - int(self.element.is_signed)

    @property
    def bits(self) -> int:
        """Bits of one element code (without the scale)."""
        return self.element.bits

    @property
    def bits_per_element(self) -> float:
        """Storage per element including the block's scale (MXFP4: 4.25, NVFP4: 4.5)."""
        return self.element.bits + self.scale.bits / self.block_size

    @property
    def tensor_bits(self) -> int:
        """Extra bits per tensor (NVFP4's fp32 tensor scale: 32)."""
        return 32 if self.tensor_scale is TensorScale.AMAX else 0

    @property
    def max(self) -> float:
        """Largest finite value: the element's max times the largest scale (no tensor scale)."""
        return self.element.max * self.scale.max

    def __str__(self) -> str:
        base = _BASE.get(self.name)
        if base is None:
            return self.name
        options = []
        for f in fields(self):
            if f.name in _ENUMS and getattr(self, f.name) != getattr(base, f.name):
                value = getattr(self, f.name).value
                options.append(value if f.name == "rule" else f"{f.name}={value}")
        return ":".join([self.name, *options])


def _mx(name: str, element: Format) -> BlockFormat:
    return BlockFormat(name=name, element=element, block_size=32, scale=E8M0)


# OCP Microscaling Formats v1.0 §5.3, table 1: the concrete MX formats.
MXFP8_E4M3 = _mx("mxfp8_e4m3", FP8_E4M3)
MXFP8_E5M2 = _mx("mxfp8_e5m2", FP8_E5M2)
MXFP6_E2M3 = _mx("mxfp6_e2m3", FP6_E2M3)
MXFP6_E3M2 = _mx("mxfp6_e3m2", FP6_E3M2)
MXFP4 = _mx("mxfp4", FP4_E2M1)
MXINT8 = _mx("mxint8", MX_INT8)
# NVIDIA NVFP4: 16 E2M1 elements, an E4M3 block scale, an fp32 tensor scale.
NVFP4 = BlockFormat(
    name="nvfp4", element=FP4_E2M1, block_size=16, scale=FP8_E4M3, rule=ScaleRule.AMAX,
    tensor_scale=TensorScale.AMAX,
)  # fmt: skip

BLOCK_FORMATS: dict[str, BlockFormat] = {
    f.name: f for f in (MXFP8_E4M3, MXFP8_E5M2, MXFP6_E2M3, MXFP6_E3M2, MXFP4, MXINT8, NVFP4)
}
_BASE = BLOCK_FORMATS
BLOCK_ALIASES = {"mxfp8": "mxfp8_e4m3", "mxfp4_e2m1": "mxfp4", "nvfp4_e2m1": "nvfp4"}


def is_block_format_name(name: str) -> bool:
    """True when ``name`` names a block format (``"mxfp4"``, ``"mxfp8_e4m3:rceil"`` ...)."""
    key = name.strip().lower().replace("-", "_").split(":")[0]
    return BLOCK_ALIASES.get(key, key) in BLOCK_FORMATS


def get_block_format(fmt: BlockFormat | str) -> BlockFormat:
    """Look up a block format by name, with options after colons.

    Args:
        fmt: ``"mxfp8_e4m3"``, ``"mxfp8_e5m2"``, ``"mxfp6_e2m3"``, ``"mxfp6_e3m2"``, ``"mxfp4"``,
            ``"mxint8"``, ``"nvfp4"`` (or a :class:`BlockFormat`), then ``:rule`` (``floor``,
            ``rceil``, ``ceil``, ``even``) and ``:field=value`` options of the module table,
            e.g. ``"nvfp4:tensor_scale=none:scale_min=normal"``.

    Raises:
        ValueError: an unknown name or option; the message lists the choices.
        TypeError: neither a string nor a BlockFormat.

    >>> str(get_block_format("MXFP8:rceil:padding=error"))
    'mxfp8_e4m3:rceil:padding=error'
    """
    if isinstance(fmt, BlockFormat):
        return fmt
    if not isinstance(fmt, str):
        raise TypeError(f"a block format is a name such as 'mxfp4', got {fmt!r}")
    base, *options = fmt.strip().lower().replace("-", "_").split(":")
    base = BLOCK_ALIASES.get(base, base)
    if base not in BLOCK_FORMATS:
        close = difflib.get_close_matches(base, list(BLOCK_FORMATS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown block format {fmt!r}.{hint} Block formats: {', '.join(BLOCK_FORMATS)}"
        )
    changes: dict[str, object] = {}
    for option in options:
        key, _, value = option.partition("=")
        if not value:
            key, value = "rule", key
        if key not in _ENUMS:
            raise ValueError(
                f"unknown option {option!r} in block format {fmt!r}; options are a scale rule "
                f"(floor, rceil, ceil, even) or key=value with key in {', '.join(_ENUMS)}"
            )
        changes[key] = as_choice(_ENUMS[key], value, f"block format option {key}")
    return replace(BLOCK_FORMATS[base], **changes)  # type: ignore[arg-type]


def block_format_table(formats: list[BlockFormat] | None = None) -> str:
    """A Markdown table of block formats: element, block size, scale, rule, bits per element.

    >>> block_format_table().splitlines()[6]
    '| mxfp4 | fp4_e2m1 | 32 | e8m0 | floor | 4.25 | - | 6 * 2**127 |'
    """
    chosen = formats if formats is not None else list(BLOCK_FORMATS.values())
    lines = [
        "| name | element | block | scale | rule | bits per element | per tensor | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in chosen:
        tensor = f"{f.tensor_bits} bits" if f.tensor_bits else "-"
        if f.is_power_of_two:
            top = f"{f.element.max:g} * 2**{f.scale.emax}"
        else:
            top = f"{f.max:g}"
        lines.append(
            f"| {f} | {f.element.name} | {f.block_size} | {f.scale.name} | {f.rule.value} | "
            f"{f.bits_per_element:g} | {tensor} | {top} |"
        )
    return "\n".join(lines)
