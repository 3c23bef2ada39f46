"""`%loom attach ID`: the weaver's terminal as a widget."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

SUMMARY = "Open the weaver's terminal in the notebook (terminal widget)."


def configure(parser: Any) -> None:
    parser.add_argument("id", help="the weaver id")


def run(magics: Any, args: Namespace, cell: str | None) -> Any:
    from .._widgets import make_widget

    return make_widget("Terminal", "terminal", args.id, client=magics.client)
