"""`%loom weavers`: your weavers as a table, filtered by tags and status."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

from .._errors import ArgumentsError

SUMMARY = "List weavers as a table (--tag k:v, --status S; -o VAR stores the list)."
COLUMNS = ("id", "status", "image", "tags", "age_hours", "lifetime_hours", "created_at")


def configure(parser: Any) -> None:
    from .._parser import add_output_options, tag_pair

    parser.add_argument("--tag", action="append", type=tag_pair, default=[], metavar="K:V",
                        help="only weavers with this tag (repeatable: all must match)")
    parser.add_argument("--status", action="append", default=[], metavar="STATUS",
                        help="only weavers in this status: pending, running, succeeded, failed, "
                             "terminating (repeatable: any of them)")
    add_output_options(parser, "the list")


def run(magics: Any, args: Namespace, cell: str | None) -> Any:
    from loom_jupyter.client import LoomValidationError

    from .._display import ListView
    from .._parser import check_output_options

    check_output_options(args, "weavers")
    try:
        found = magics.client.weavers.list(tags=dict(args.tag) or None, status=args.status or None)
    except LoomValidationError as exc:
        if exc.field != "status":
            raise
        said = str(exc).removeprefix("Invalid status: ").replace("unknown status", "unknown --status", 1)
        raise ArgumentsError(f"%loom weavers: {said}") from None
    columns = (*COLUMNS, "reason") if any(w.reason for w in found) else COLUMNS
    view = ListView(found, columns, "Weavers")
    if args.output:
        magics.shell.user_ns[args.output] = view.to_pandas() if args.dataframe else view
    return view
