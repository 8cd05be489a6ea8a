"""The table of registered formats (``mixprec formats``, and the README's table)."""

from __future__ import annotations

from mixprec.formats.registry import list_formats
from mixprec.formats.spec import FloatFormat, Format

COLUMNS = (
    "name", "bits", "exponent_bits", "mantissa_bits", "bias", "max", "smallest_normal",
    "smallest_subnormal", "eps", "has_inf", "has_nan",
)  # fmt: skip


def format_row(fmt: Format) -> dict[str, object]:
    """One format's properties, keyed by the names of :data:`COLUMNS`."""
    float_fmt = fmt if isinstance(fmt, FloatFormat) else None
    return {
        "name": fmt.name,
        "bits": fmt.bits,
        "exponent_bits": float_fmt.exponent_bits if float_fmt else None,
        "mantissa_bits": float_fmt.mantissa_bits if float_fmt else None,
        "bias": float_fmt.bias if float_fmt else None,
        "max": fmt.max,
        "smallest_normal": fmt.smallest_normal,
        "smallest_subnormal": fmt.smallest_subnormal,
        "eps": fmt.eps,
        "has_inf": fmt.has_inf,
        "has_nan": fmt.has_nan,
    }


def format_table(formats: list[Format] | None = None) -> str:
    """A Markdown table of ``formats`` (default: the registry).

    >>> format_table().splitlines()[2].split(" | ")[:4]
    ['| fp64', '64', '11', '52']
    """
    rows = [format_row(f) for f in (formats if formats is not None else list_formats())]

    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:.6g}"
        return str(value)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row[c]) for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)
