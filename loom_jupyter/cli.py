"""`loom-jupyter local | lab | doctor`: the console script."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _run_local(args: argparse.Namespace) -> int:
    from .local.app import run
    from .local.config import from_args

    run(from_args(args))
    return 0


def _add_local(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .local.config import add_arguments

    parser = sub.add_parser("local", help="run the embedded Loom-compatible server",
                            description="Run the embedded Loom-compatible server. It prints its "
                                        "URL and the path of the admin key file (never the key).")
    add_arguments(parser)
    parser.set_defaults(func=_run_local)


# ---------------------------------------------------------------------------------------------
# STUB for the lead: `lab` and `doctor` (see loom_jupyter/_lab.py and _doctor.py). Replace
# `_add_stub` calls below with the real parsers; nothing else in this file needs to change.
# ---------------------------------------------------------------------------------------------
def _add_stub(sub: argparse._SubParsersAction, name: str, help: str) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(name, help=help)
    parser.set_defaults(func=lambda args: _not_wired(name))


def _not_wired(name: str) -> int:
    print(f"loom-jupyter {name}: not wired into the CLI yet", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loom-jupyter",
                                     description="Loom for Jupyter: local server, lab, doctor.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_local(sub)
    _add_stub(sub, "lab", "local Loom server + JupyterLab wired to it (the main job)")
    _add_stub(sub, "doctor", "what is configured and reachable (no secrets printed)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
