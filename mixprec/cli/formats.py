"""``mixprec formats``: the table of registered number formats."""

from __future__ import annotations

import argparse
import json

from mixprec.formats import format_table, get_format, list_formats
from mixprec.formats.table import format_row

HELP = "print the table of number formats (name, bits, exponent/mantissa bits, range, specials)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="formats or specs to show (default: the registry)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")


def run(args: argparse.Namespace) -> int:
    formats = [get_format(name) for name in args.names] if args.names else list_formats()
    if args.json:
        print(json.dumps([format_row(f) for f in formats], indent=2))
    else:
        print(format_table(formats))
    return 0
