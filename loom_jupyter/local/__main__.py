"""`python -m loom_jupyter.local`: the same as `loom-jupyter local` (and `... local approve`)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import approve
from .config import add_arguments, from_args


def _serve(args: argparse.Namespace) -> int:
    from .app import run  # tornado loads only when serving, not for `approve`

    run(from_args(args))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loom_jupyter.local",
        description="Run the embedded Loom-compatible server. It prints its URL and the path of "
                    "the admin key file (never the key).")
    add_arguments(parser)
    parser.set_defaults(func=_serve)
    approve.add_parser(parser.add_subparsers(dest="local_command", metavar="SUBCOMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
