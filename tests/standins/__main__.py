"""`python -m tests.standins KIND --port N [--users ...]`: serve one stand-in until SIGTERM/SIGINT.

Prints one JSON line on stdout once listening: {"kind", "url", "credentials": [...]} (plus
"token_file" for openloomi with --token-file). `--users` takes NAME:SECRET pairs: for loom-v1
USERNAME:PASSWORD, for openloomi EMAIL:PASSWORD, for nodeloom SDK_TOKEN:ROLE.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from tests.standins import KINDS
from tests.standins.openloomi import OpenLoomiStandIn


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.standins", description=__doc__)
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--port", type=int, default=0, help="127.0.0.1 port (0: a free one)")
    parser.add_argument("--users", "--tokens", nargs="+", metavar="NAME:SECRET",
                        help="USERNAME:PASSWORD (loom-v1), EMAIL:PASSWORD (openloomi), "
                             "SDK_TOKEN:ROLE (nodeloom)")
    parser.add_argument("--token-lifetime", type=float, help="JWT lifetime, s (loom-v1, openloomi)")
    parser.add_argument("--event-delay", type=float, help="s between pipeline events (loom-v1)")
    parser.add_argument("--chunk-delay", type=float, help="s between stream chunks")
    parser.add_argument("--rate-limit", type=int, help="requests per window (nodeloom)")
    parser.add_argument("--rate-window", type=float, help="window length, s (nodeloom)")
    parser.add_argument("--execution-time", type=float, help="s an execution runs (nodeloom)")
    parser.add_argument("--token-file", help="write base64(JWT) of the first user here (openloomi)")
    return parser.parse_args(argv)


def options(args: argparse.Namespace) -> dict[str, Any]:
    """The constructor arguments the chosen kind accepts, from the flags that were given."""
    given = {name: getattr(args, name) for name in
             ("token_lifetime", "event_delay", "chunk_delay", "rate_limit", "rate_window",
              "execution_time") if getattr(args, name) is not None}
    allowed = set(KINDS[args.kind].OPTIONS)
    wrong = sorted(set(given) - allowed)
    if wrong:
        raise SystemExit(f"{args.kind} stand-in has no option {', '.join(wrong)}")
    if args.users:
        pairs = [u.partition(":") for u in args.users]
        if any(not sep or not name or not secret for name, sep, secret in pairs):
            raise SystemExit("--users takes NAME:SECRET pairs")
        given["tokens" if args.kind == "nodeloom" else "users"] = {n: s for n, _, s in pairs}
    return given


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    if args.token_file and args.kind != "openloomi":
        raise SystemExit("--token-file is for openloomi")
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    standin = KINDS[args.kind](**options(args)).start(args.port)
    info: dict[str, Any] = {"kind": args.kind, "url": standin.url,
                            "credentials": standin.credentials()}
    if args.token_file and isinstance(standin, OpenLoomiStandIn):
        info["token_file"] = str(standin.write_token_file(args.token_file))
    print(json.dumps(info), flush=True)
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        standin.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
