"""The local server's command line, shared by `loom-jupyter local` and `python -m loom_jupyter.local`."""
from __future__ import annotations

import argparse

from . import approve
from .config import add_arguments, from_args

DESCRIPTION = ("Run the embedded Loom-compatible server. It prints its URL and the path of the "
               "admin key file (never the key). `approve CODE --as USER` approves a device-code "
               "sign-in.")


def _serve(args: argparse.Namespace) -> int:
    from .app import run  # tornado loads only when serving, not for `approve`

    run(from_args(args))
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    """Serving options, the default action (serve) and the `approve` subcommand."""
    add_arguments(parser)
    parser.set_defaults(func=_serve)
    approve.add_parser(parser.add_subparsers(dest="local_command", metavar="SUBCOMMAND"))
