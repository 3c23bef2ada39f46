"""`%loom weavers`: your weavers as a table, filtered by tags and status."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

from .._errors import ArgumentsError
from .._parser import tag_pair

SUMMARY = "List weavers as a table (--tag k:v, --status S; -o VAR stores the list)."
COLUMNS = ("id", "status", "image", "tags", "age_hours", "lifetime_hours", "created_at")


def configure(parser: Any) -> None:
    parser.add_argument("--tag", action="append", type=tag_pair, default=[], metavar="K:V",
                        help="only weavers with this tag (repeatable)")
    parser.add_argument("--status", help="only weavers in this status (pending, running, ...)")
    parser.add_argument("-o", "--output", metavar="VAR", help="also store the result in this variable")
    parser.add_argument("--dataframe", action="store_true", help="with -o: store a pandas DataFrame")


def by_status(found: list[Any], status: str) -> list[Any]:
    """The weavers in `status`; a status nobody has that Loom does not know is a typo, said so."""
    from loom_jupyter.client.models.weavers import KNOWN_STATUSES

    chosen = [w for w in found if w.status == status]
    if not chosen and status not in KNOWN_STATUSES:
        raise ArgumentsError(f"%loom weavers: unknown --status {status!r}; "
                             f"one of {', '.join(KNOWN_STATUSES)}.")
    return chosen


def run(magics: Any, args: Namespace, cell: str | None) -> Any:
    from .._display import ListView

    if args.output is not None and not args.output.isidentifier():
        raise ArgumentsError(f"%loom weavers: -o needs a Python variable name, got {args.output!r}.")
    found = magics.client.weavers.list(tags=dict(args.tag) or None)
    if args.status:
        found = by_status(found, args.status)
    columns = (*COLUMNS, "reason") if any(w.reason for w in found) else COLUMNS
    view = ListView(found, columns, "Weavers")
    if args.output:
        magics.shell.user_ns[args.output] = view.to_pandas() if args.dataframe else view
    return view
