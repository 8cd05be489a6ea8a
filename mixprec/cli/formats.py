"""``mixprec formats``: the table of registered number formats, then the block formats."""

from __future__ import annotations

import argparse
import json

from mixprec.formats import BlockFormat, format_table, get_block_format, get_format, list_formats
from mixprec.formats.block import BLOCK_FORMATS, block_format_table, is_block_format_name
from mixprec.formats.table import format_row

HELP = (
    "print the table of number formats (name, bits, exponent/mantissa bits, range, specials) "
    "and of block formats (MX, NVFP4: bits per element including the scale)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="formats or specs to show (default: the registry)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")


def _block_row(f: BlockFormat) -> dict[str, object]:
    return {
        "name": str(f), "element": f.element.name, "block_size": f.block_size,
        "scale": f.scale.name, "rule": f.rule.value, "bits_per_element": f.bits_per_element,
        "tensor_bits": f.tensor_bits,
    }  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if args.names:
        blocks = [get_block_format(n) for n in args.names if is_block_format_name(n)]
        formats = [get_format(n) for n in args.names if not is_block_format_name(n)]
    else:
        formats, blocks = list_formats(), list(BLOCK_FORMATS.values())
    if args.json:
        rows = [format_row(f) for f in formats] + [_block_row(b) for b in blocks]
        print(json.dumps(rows, indent=2))
        return 0
    tables = ([format_table(formats)] if formats else []) + (
        [block_format_table(blocks)] if blocks else []
    )
    print("\n\n".join(tables))
    return 0
