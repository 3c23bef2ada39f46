"""`%loom create IMAGE [options] [-- COMMAND ARGS...]`: start weavers, with live progress."""
from __future__ import annotations

import re
from argparse import Namespace
from typing import Any

from .._errors import MagicError
from .._parser import key_value, positive_int, tag_pair

SUMMARY = "Create weaver(s) from IMAGE; --count N in parallel, --wait until running, -- CMD ARGS."
REPLICA_TAG = "replica"


def configure(parser: Any) -> None:
    parser.add_argument("image", help="container image (the local server runs COMMAND directly)")
    parser.add_argument("--org", metavar="ORG", help="organisation id (default: your only org)")
    parser.add_argument("--tag", action="append", type=tag_pair, default=[], metavar="K:V", help="a tag (repeatable)")
    parser.add_argument("--env", action="append", type=key_value, default=[], metavar="K=V",
                        help="an environment variable (repeatable)")
    parser.add_argument("--memory", metavar="SIZE", help="memory limit, e.g. 4Gi")
    parser.add_argument("--cpu", metavar="N", help="CPU limit, e.g. 2")
    parser.add_argument("--lifetime", type=positive_int, metavar="HOURS", help="lifetime in hours")
    parser.add_argument("--workdir", metavar="DIR", help="working directory")
    parser.add_argument("--count", type=positive_int, default=1, metavar="N",
                        help=f"create N weavers in parallel (tagged {REPLICA_TAG}=0..N-1)")
    parser.add_argument("--wait", action="store_true", help="wait until each weaver is running")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="how long --wait waits")
    parser.add_argument("-y", "--yes", action="store_true",
                        help="no question for a --count above LoomMagics.confirm_count_above")
    parser.epilog = ("Everything after a bare -- is the command and its arguments. Creation stops at the "
                     "first failed create (e.g. the server's limit of weavers) and says how many exist.")


def request(args: Namespace, index: int) -> dict[str, Any]:
    """Keyword arguments for `client.weavers.create` for weaver number `index`."""
    tags = dict(args.tag)
    if args.count > 1:
        tags[REPLICA_TAG] = str(index)
    resources = {k: v for k, v in (("memory_limit", args.memory), ("cpu_limit", args.cpu)) if v}
    return {
        "image": args.image, "org_id": args.org, "env": dict(args.env) or None,
        "resources": resources or None, "tags": tags or None, "lifetime_hours": args.lifetime,
        "command": args.rest[:1] or None, "args": args.rest[1:] or None, "workdir": args.workdir,
    }


def run(magics: Any, args: Namespace, cell: str | None) -> Any:
    from loom_jupyter.client.models.weavers import RUNNING

    from .._progress import CreateBoard

    if args.count > 1 and REPLICA_TAG in dict(args.tag):
        raise MagicError(f"--count tags each weaver {REPLICA_TAG}=0..N-1; drop your own {REPLICA_TAG} tag.")
    if not allowed(magics, args):
        print("Nothing created.")
        return None
    client = magics.client
    if args.org is None:
        args.org = client.default_org_id()  # once, not once per worker
    labels = [f"{REPLICA_TAG}={i}" if args.count > 1 else args.image[:12] for i in range(args.count)]
    board = CreateBoard(labels, magics.log_refresh_hz, rows=magics.board_rows, describe=in_words)
    timeout = args.timeout or magics.wait_timeout
    waiter = None
    if args.wait:
        def waiter(weaver_id: str, seen: Any) -> Any:
            return client.weavers.wait(weaver_id, RUNNING, timeout=timeout, on_status=seen)
    finished = board.run(lambda i: client.weavers.create(**request(args, i)), waiter)
    if args.count == 1:
        return _one(board, finished)
    return _many(board, finished, args.count, magics.board_rows)


def allowed(magics: Any, args: Namespace) -> bool:
    """A --count above the limit goes ahead only with --yes or a yes to the question."""
    from .._confirm import confirm

    limit = magics.confirm_count_above
    if args.count <= limit or args.yes:
        return True
    return confirm(f"Create {args.count} weavers (more than the {limit} of "
                   "LoomMagics.confirm_count_above)?", "%loom create")


def in_words(exc: Exception) -> str:
    """An SDK error as the magics say it (no HTTP); anything else as it is."""
    from loom_jupyter.client import LoomError

    from .._errors import in_user_words

    return in_user_words(exc) if isinstance(exc, LoomError) else str(exc)


def too_many(exc: BaseException) -> bool:
    from loom_jupyter.client import APIStatusError

    return isinstance(exc, APIStatusError) and exc.code == "too_many_weavers"


def stop_reason(exc: Exception) -> str:
    """Why the batch stopped, in words; the server's limit when it gave one."""
    if too_many(exc):
        body = getattr(exc, "body", None)
        said = body.get("message", "") if isinstance(body, dict) else str(exc)
        limit = re.search(r"max(?:imum)?\W*(\d+)", str(said))
        allows = f"at most {limit.group(1)}" if limit else "no more"
        return (f"the server allows {allows} pending or running weavers at a time "
                "(delete some with %loom delete, then create the rest)")
    return in_words(exc)


def _one(board: Any, finished: bool) -> Any:
    slot = board.slots[0]
    if not finished:
        print(f"Stopped waiting; weaver {slot.weaver.id} keeps running." if slot.weaver is not None
              else "Stopped; no weaver was created.")
    if slot.error is not None:
        if slot.weaver is None and too_many(slot.error):
            raise MagicError(f"No weaver created: {stop_reason(slot.error)}.")
        if slot.weaver is None:
            raise slot.error
        raise MagicError(f"{in_words(slot.error).rstrip('.')} (weaver {slot.weaver.id} exists; "
                         f"%loom delete {slot.weaver.id} removes it).")
    return slot.weaver


def _many(board: Any, finished: bool, count: int, rows: int) -> Any:
    """One line: how many exist now and why the batch stopped; the created weavers as the value."""
    from .._confirm import shown
    from .._display import ListView
    from .weavers import COLUMNS

    made = board.created()
    unwell = [s for s in board.failed() if s.weaver is not None]  # created, then failed while waiting
    if not finished:
        why = "interrupted"
    elif board.halted is not None:
        why = f"stopped at the first failure: {stop_reason(board.halted)}"
    else:
        why = ""
    ids = f" ({shown([w.id for w in made], 3)})" if made and why else ""
    line = f"Created {len(made)} of {count} weavers{ids}" + (f"; {why}" if why else "") + "."
    if unwell:
        line += f" {len(unwell)} of them did not reach running, first: {in_words(unwell[0].error)}"
    if not made and board.halted is not None:
        raise MagicError(line)
    print(line)
    return ListView(made, COLUMNS, "Created weavers", limit=rows)
