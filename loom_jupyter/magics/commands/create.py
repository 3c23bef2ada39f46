"""`%loom create IMAGE [options] [-- COMMAND ARGS...]`: start weavers, with live progress."""
from __future__ import annotations

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
    parser.epilog = "Everything after a bare -- is the command and its arguments."


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
    client = magics.client
    if args.org is None:
        args.org = client.default_org_id()  # once, not once per worker
    labels = [f"{REPLICA_TAG}={i}" if args.count > 1 else args.image[:12] for i in range(args.count)]
    board = CreateBoard(labels, magics.log_refresh_hz)
    timeout = args.timeout or magics.wait_timeout
    waiter = None
    if args.wait:
        def waiter(weaver_id: str, seen: Any) -> Any:
            return client.weavers.wait(weaver_id, RUNNING, timeout=timeout, on_status=seen)
    finished = board.run(lambda i: client.weavers.create(**request(args, i)), waiter)
    return _outcome(board, finished, args.count)


def _outcome(board: Any, finished: bool, count: int) -> Any:
    from .._display import ListView
    from .weavers import COLUMNS

    made = [s.weaver for s in board.slots if s.weaver is not None]
    failed = [s for s in board.slots if s.error is not None]
    if not finished:
        ids = ", ".join(w.id for w in made) or "none yet"
        print(f"Stopped waiting; weavers created so far keep running: {ids}.")
    if failed and count == 1:
        slot = failed[0]
        if slot.weaver is None:
            raise slot.error  # type: ignore[misc]
        raise MagicError(f"{slot.error} (weaver {slot.weaver.id} exists; %loom delete {slot.weaver.id} removes it).")
    if failed:
        raise MagicError(f"Created {len(made)} of {count} weavers ({', '.join(w.id for w in made) or 'none'}); "
                         f"{len(failed)} failed, first: {failed[0].error}")
    if count == 1:
        return made[0] if made else None
    return ListView(made, COLUMNS, "Created weavers")
