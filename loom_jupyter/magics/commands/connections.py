"""`%loom connections`: the Jupyter server's named connections, and `--connection NAME`.

`--connection NAME` works on every command: the dispatcher takes it off the line
(`take_connection`) before the command's own parser runs, and the command then talks to that
connection (`magics.client` is its client for the duration of the command).
"""
from __future__ import annotations

import os
from argparse import Namespace
from typing import Any

from .._errors import ArgumentsError

SUMMARY = "List the Jupyter server's named connections (kind, URL, signed in?, credential source)."
OPTION = "--connection"
#: Commands that are about the connections themselves, not about talking to one.
NOT_FOR = ("help", "connect", "connections")
COLUMNS = ("", "name", "kind", "title", "url", "signed in", "credential")


def take_connection(tokens: list[str]) -> tuple[list[str], str | None]:
    """`tokens` without `--connection NAME` / `--connection=NAME`, and NAME (None if absent)."""
    from loom_jupyter.client._settings import CONNECTION_NAME

    kept: list[str] = []
    found: list[str] = []
    items = iter(tokens)
    for token in items:
        option, eq, value = str(token).partition("=")
        if option != OPTION or type(token) is not str:  # (a word of a comment is a Comment)
            kept.append(token)
            continue
        if not eq:
            value = next(items, "")
        if not value or value.startswith("-"):
            raise ArgumentsError(f"{OPTION} needs a connection NAME (%loom connections lists them).")
        found.append(value)
    if len(set(found)) > 1:
        raise ArgumentsError(f"{OPTION} given twice ({', '.join(found)}): pick one connection.")
    name = found[0] if found else None
    if name is not None and not CONNECTION_NAME.fullmatch(name):
        raise ArgumentsError(f"{name!r} is not a connection name (lower-case letters, digits, "
                             "'-' and '_'); %loom connections lists them.")
    return kept, name


def configure(parser: Any) -> None:
    from .._parser import add_output_options

    add_output_options(parser, "the list")


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def run(magics: Any, args: Namespace, cell: str | None) -> Any:
    from dataclasses import asdict

    from IPython.display import display

    from loom_jupyter.client._settings import PROXY_URL_ENV
    from loom_jupyter.client.connections import list_connections

    from .._display import table_html, table_text
    from .._parser import check_output_options

    check_output_options(args, "connections")
    if not os.environ.get(PROXY_URL_ENV):
        print("No named connections: this kernel was not started by a Jupyter server with the "
              "loom-jupyter extension (it talks to one Loom directly; %loom status shows it).")
        return None
    found = list_connections(timeout=magics.request_timeout)
    rows = [("*" if c.default else "", c.name, c.kind, c.title, c.url or "", _yes_no(c.signed_in),
             c.credential or "") for c in found]
    if args.output:
        if args.dataframe:
            import pandas as pd

            magics.shell.user_ns[args.output] = pd.DataFrame([asdict(c) for c in found])
        else:
            magics.shell.user_ns[args.output] = found
    caption = f"Connections of this Jupyter server ({len(found)}; * = default, used without "\
              "--connection)"
    display({"text/plain": table_text(COLUMNS, rows),
             "text/html": table_html(COLUMNS, rows, caption)}, raw=True)
    return None
