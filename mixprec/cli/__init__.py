"""The ``mixprec`` command.

Each subcommand lives in its own module of this package and exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. ``main`` builds the parser from the modules
listed in ``COMMANDS``.

Errors: bad input (``ValueError``, ``TypeError``, a missing file) exits 2 and an environment
problem (any other ``OSError``: a full disk, a read-only directory, an unreachable host) exits 1,
each with one line on standard error naming the file, the cause and the fix; never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mixprec._util.errors import describe_os_error

COMMANDS = {
    "formats": "mixprec.cli.formats",
    "memory": "mixprec.cli.memory",
    "train": "mixprec.cli.train",
    "evaluate": "mixprec.cli.evaluate",
    "quantize": "mixprec.cli.quantize",
    "export": "mixprec.cli.export",
    "sweep": "mixprec.cli.sweep",
    "search": "mixprec.cli.search",
    "data": "mixprec.cli.data",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``mixprec`` command, one subparser per command.

    Args:
        only: build just this command's subparser (its module alone is imported: a command
            does not pay for the imports of the others).
    """
    parser = argparse.ArgumentParser(
        prog="mixprec",
        description="Mixed-precision numerics: formats, MAC units, precision sweeps of an MLP.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mixprec`` command; returns the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments[0] if arguments and arguments[0] in COMMANDS else None)
    args = parser.parse_args(arguments)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("mixprec: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, ImportError) as error:
        print(f"mixprec {args.command}: error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:  # missing data or input files: the message says how
        print(f"mixprec {args.command}: error: {describe_os_error(error)}", file=sys.stderr)
        return 2
    except OSError as error:  # the environment (disk, permissions, network): one line
        print(f"mixprec {args.command}: error: {describe_os_error(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
