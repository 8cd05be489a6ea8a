"""``python -m mixprec``: the ``mixprec`` command."""

import sys

if __name__ == "__main__":
    from mixprec.cli import main

    sys.exit(main())
