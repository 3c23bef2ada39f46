"""`%loom logs ID [--tail N] [--timestamps] [--follow]`: a weaver's log in one output area."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

from .._parser import non_negative_int

SUMMARY = "Show a weaver's log; --follow keeps it live in one area until you interrupt."


def configure(parser: Any) -> None:
    parser.add_argument("id", help="the weaver id")
    parser.add_argument("--tail", type=non_negative_int, metavar="N", help="start with the last N lines")
    parser.add_argument("--timestamps", action="store_true", help="prefix each line with its time")
    parser.add_argument("-f", "--follow", action="store_true", help="keep streaming new lines")


def run(magics: Any, args: Namespace, cell: str | None) -> None:
    from IPython.display import display

    from loom_jupyter.client.follow import render

    from .._display import text_bundle
    from .._follow import LogFollower

    weavers = magics.client.weavers
    if not args.follow:
        lines = weavers.logs(args.id, tail=args.tail, follow=False)
        text = "\n".join(render(line, args.timestamps) for line in lines)
        display(text_bundle(text or "(no log lines yet)"), raw=True)
        return
    follower = LogFollower(weavers.follow(args.id, tail=args.tail), hz=magics.log_refresh_hz,
                           keep=magics.log_buffer_lines, timestamps=args.timestamps,
                           on_line=magics.hooks.get("log_line"))
    follower.run()
