"""`%loom help [COMMAND]`: the list of commands, or one command's full usage."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

SUMMARY = "List the %loom commands, or show one command's usage."


def configure(parser: Any) -> None:
    parser.add_argument("command", nargs="?", help="a command to explain")


def run(magics: Any, args: Namespace, cell: str | None) -> None:
    from .._display import fields_view
    from .._magics import COMMANDS, build_parser, load_command

    if args.command:
        build_parser(args.command).print_help()
        return
    from IPython.display import display

    rows = [(f"%loom {name}", load_command(name).SUMMARY) for name in COMMANDS]
    rows.append(("%%loom chat", "Ask the LLM in the cell body; streams, keeps the conversation, saves a thread."))
    rows.append(("--connection NAME", "On any command: use that connection of the Jupyter server "
                 "(%loom connections lists them)."))
    bundle = fields_view(rows, "Loom magics (%loom CMD --help for details)")
    display(bundle, raw=True)
