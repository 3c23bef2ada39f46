"""`%loom logs ID [--tail N | --all] [--timestamps] [--follow] [-o VAR [--dataframe]]`.

Without --follow: the whole log Loom holds (the last DISPLAY_LINES of it shown unless --all),
then one line saying how many lines were shown of how many. `-o VAR` keeps the lines (a list of
str, or a DataFrame with --dataframe) instead of showing them.
"""
from __future__ import annotations

from argparse import Namespace
from dataclasses import dataclass
from typing import Any

from .._errors import ArgumentsError
from .._parser import non_negative_int

SUMMARY = "Show a weaver's whole log (--tail N for the end); --follow keeps it live; -o VAR keeps it."
DISPLAY_LINES = 10_000  # shown without --all: more would overflow a notebook's output area


def configure(parser: Any) -> None:
    from .._parser import add_output_options

    parser.add_argument("id", help="the weaver id")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--tail", type=non_negative_int, metavar="N", help="only the last N lines")
    which.add_argument("--all", action="store_true",
                       help=f"show every line (without it, at most the last {DISPLAY_LINES:,})")
    parser.add_argument("--timestamps", action="store_true", help="prefix each line with its time")
    parser.add_argument("-f", "--follow", action="store_true", help="keep streaming new lines")
    add_output_options(parser, "the lines (a list of str)")


@dataclass
class Snapshot:
    """The lines read, and whether the log holds more before them (only known with --tail)."""

    lines: list[Any]
    more_before: bool = False

    def count(self, kept: int) -> str:
        """`5,000 of 5,000 lines`, `last 256 of 5,000 lines: --all for everything`, ..."""
        total = len(self.lines)
        if self.more_before:
            return f"last {kept:,} lines; the log has more: --all for everything"
        if kept < total:
            return f"last {kept:,} of {total:,} lines: --all for everything"
        return f"{kept:,} of {total:,} lines"


def read(weavers: Any, weaver_id: str, tail: int | None) -> Snapshot:
    """The whole log (tail None), or its last `tail` lines and whether there are more."""
    if tail is None:
        return Snapshot(list(weavers.logs(weaver_id, follow=False)))
    lines = list(weavers.logs(weaver_id, tail=tail + 1, follow=False))
    more = len(lines) > tail
    return Snapshot(lines[len(lines) - tail:] if tail else [], more_before=more)


def run(magics: Any, args: Namespace, cell: str | None) -> None:
    from .._parser import check_output_options

    check_output_options(args, "logs")
    if args.follow:
        if args.output is not None:
            raise ArgumentsError("%loom logs: --follow shows a live log and -o keeps a snapshot; "
                                 "use one or the other.")
        _follow(magics, args)
        return
    snapshot = read(magics.client.weavers, args.id, args.tail)
    if args.output is not None:
        _store(magics, args, snapshot)
    else:
        _show(args, snapshot)


def _show(args: Namespace, snapshot: Snapshot) -> None:
    from IPython.display import display

    from loom_jupyter.client.follow import render

    from .._display import text_bundle

    lines = snapshot.lines if args.all else snapshot.lines[-DISPLAY_LINES:]
    if not lines:
        display(text_bundle("(no log lines yet)"), raw=True)
        return
    display(text_bundle("\n".join(render(line, args.timestamps) for line in lines)), raw=True)
    print(f"[{snapshot.count(len(lines))}]")


def _store(magics: Any, args: Namespace, snapshot: Snapshot) -> None:
    from loom_jupyter.client.follow import render

    if args.dataframe:
        import pandas as pd

        value: Any = pd.DataFrame({"timestamp": [line.timestamp for line in snapshot.lines],
                                   "text": [line.text for line in snapshot.lines]})
        kind = "a DataFrame with columns timestamp, text"
    else:
        value = [render(line, args.timestamps) for line in snapshot.lines]
        kind = "a list of str"
    magics.shell.user_ns[args.output] = value
    print(f"[{snapshot.count(len(snapshot.lines))} stored in {args.output}: {kind}]")


def _follow(magics: Any, args: Namespace) -> None:
    from .._follow import LogFollower

    follower = LogFollower(magics.client.weavers.follow(args.id, tail=args.tail),
                           hz=magics.log_refresh_hz, keep=magics.log_buffer_lines,
                           timestamps=args.timestamps, on_line=magics.hooks.get("log_line"))
    follower.run()
