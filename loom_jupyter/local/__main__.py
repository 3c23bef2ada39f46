"""`python -m loom_jupyter.local`: the same as `loom-jupyter local` (and `... local approve`)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .command import DESCRIPTION, configure


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loom_jupyter.local", description=DESCRIPTION)
    configure(parser)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
