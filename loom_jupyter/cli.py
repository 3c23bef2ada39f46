"""`loom-jupyter local | lab | doctor`: the console script."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _add_local(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .local.command import DESCRIPTION, configure

    parser = sub.add_parser("local", help="run the embedded Loom-compatible server",
                            description=DESCRIPTION)
    configure(parser)


def _add_lab(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from . import _lab

    parser = sub.add_parser("lab", help="local Loom server + JupyterLab wired to it (the main job)",
                            description="Start (or reuse) the local Loom server on --loom-port, then "
                                        "JupyterLab with the loom_jupyter extension pointed at it. "
                                        "Arguments after `--` go to `jupyter lab`.")
    _lab.add_arguments(parser)
    parser.set_defaults(func=_lab.run)


def _add_doctor(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from . import _doctor

    parser = sub.add_parser("doctor", help="what is configured and reachable (no secrets printed)")
    _doctor.add_arguments(parser)
    parser.set_defaults(func=_doctor.run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loom-jupyter",
                                     description="Loom for Jupyter: local server, lab, doctor.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_local(sub)
    _add_lab(sub)
    _add_doctor(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
