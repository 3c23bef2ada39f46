"""`%loom delete ID [ID ...] [--tag k:v] [--yes]`: delete weavers, asking first when there are several."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

from .._errors import ArgumentsError, MagicError, in_user_words
from .._parser import tag_pair

SUMMARY = "Delete weavers by id and/or --tag k:v (asks first when more than one, unless --yes)."


def configure(parser: Any) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID", help="weaver ids")
    parser.add_argument("--tag", action="append", type=tag_pair, default=[], metavar="K:V",
                        help="also delete every weaver with this tag (repeatable, all must match)")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


def targets(magics: Any, args: Namespace) -> list[str]:
    from loom_jupyter.client.models.weavers import TERMINATING

    ids = list(args.ids)
    if args.tag:
        found = magics.client.weavers.list(tags=dict(args.tag))
        ids += [w.id for w in found if w.status != TERMINATING]  # already on their way out
    return list(dict.fromkeys(ids))


def confirmed(ids: list[str]) -> bool:
    from .._confirm import confirm, shown

    return confirm(f"Delete {len(ids)} weavers ({shown(ids)})?", "%loom delete")


def run(magics: Any, args: Namespace, cell: str | None) -> None:
    from loom_jupyter.client import LoomError

    if not args.ids and not args.tag:
        raise ArgumentsError("%loom delete: give weaver ids and/or --tag K:V (see %loom delete --help).")
    ids = targets(magics, args)
    if not ids:
        print("No weavers match; nothing deleted.")
        return
    if len(ids) > 1 and not args.yes and not confirmed(ids):
        print("Nothing deleted.")
        return
    failed: list[tuple[str, LoomError]] = []
    for weaver_id in ids:
        try:
            magics.client.weavers.delete(weaver_id)
        except LoomError as exc:
            failed.append((weaver_id, exc))
    done = [i for i in ids if i not in {f for f, _ in failed}]
    if done:
        print(f"Deleted {len(done)} weaver{'s' if len(done) != 1 else ''}: {', '.join(done)}")
    if failed:
        first_id, first = failed[0]
        if len(ids) == 1:
            raise MagicError(in_user_words(first))
        raise MagicError(f"Could not delete {len(failed)} of {len(ids)} weavers; {first_id}: "
                         f"{in_user_words(first)}")
