"""`%loom cleanup [--dry-run] [--yes]`: delete expired weavers (system admins)."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

SUMMARY = "Delete expired weavers (system admins only; asks first unless --yes); --dry-run only lists them."


def configure(parser: Any) -> None:
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


def report(verb: str, result: Any) -> None:
    ids = f": {', '.join(result.ids)}" if result.ids else "."
    noun = "weaver" if result.count == 1 else "weavers"
    print(f"{verb} {result.count} expired {noun}{ids}")


def run(magics: Any, args: Namespace, cell: str | None) -> None:
    from .._confirm import confirm, shown

    weavers = magics.client.weavers
    if not args.yes:
        preview = weavers.cleanup(dry_run=True)
        if args.dry_run:
            report("Would delete", preview)
            return
        if not preview.count:
            print("No expired weavers; nothing deleted.")
            return
        if not confirm(f"Delete {preview.count} expired weavers ({shown(preview.ids)})?", "%loom cleanup"):
            print("Nothing deleted.")
            return
    report("Would delete" if args.dry_run else "Deleted", weavers.cleanup(dry_run=args.dry_run))
