"""`%loom get ID`: one weaver."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

SUMMARY = "Show one weaver (returns it)."


def configure(parser: Any) -> None:
    parser.add_argument("id", help="the weaver id")


def run(magics: Any, args: Namespace, cell: str | None) -> Any:
    return magics.client.weavers.get(args.id)
