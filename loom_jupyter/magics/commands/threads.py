"""`%loom threads [--search Q] [--limit N]`: recent or matching Loom threads."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

from .._parser import positive_int

SUMMARY = "List recent Loom threads, or search them (--search Q)."
COLUMNS = ("id", "title", "message_count", "version", "last_activity_at")


def configure(parser: Any) -> None:
    parser.add_argument("--search", metavar="Q", help="full-text search (or a commit SHA prefix)")
    parser.add_argument("--limit", type=positive_int, default=20, help="how many (default 20)")


def run(magics: Any, args: Namespace, cell: str | None) -> Any:
    from .._display import ListView

    threads = magics.client.threads
    if args.search:
        hits = threads.search(args.search, limit=args.limit)
        return ListView(hits, ("id", "title", "score", "version", "last_activity_at"),
                        f"Threads matching {args.search!r}")
    page = threads.list(limit=args.limit)
    return ListView(page.threads, COLUMNS, f"Threads (newest {len(page.threads)} of {page.total})", counted=False)
