"""`%loom cleanup [--dry-run]`: delete expired weavers (system admins)."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

SUMMARY = "Delete expired weavers (system admins only); --dry-run only lists them."


def configure(parser: Any) -> None:
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted")


def run(magics: Any, args: Namespace, cell: str | None) -> None:
    result = magics.client.weavers.cleanup(dry_run=args.dry_run)
    verb = "Would delete" if args.dry_run else "Deleted"
    ids = f": {', '.join(result.ids)}" if result.ids else "."
    noun = "weaver" if result.count == 1 else "weavers"
    print(f"{verb} {result.count} expired {noun}{ids}")
