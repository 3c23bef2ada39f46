"""argparse for magics: parsers that raise instead of exiting, and quoting-aware tokenising."""
from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any, NoReturn
from collections.abc import Sequence

from ._errors import ArgumentsError, HelpShown


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser for one `%loom` subcommand; it never calls sys.exit (a kernel must survive)."""

    def __init__(self, name: str, summary: str, **kwargs: Any) -> None:
        super().__init__(prog=f"%loom {name}", description=summary, allow_abbrev=False, **kwargs)
        self.command = name

    def error(self, message: str) -> NoReturn:
        raise ArgumentsError(f"%loom {self.command}: {message} (see %loom {self.command} --help).")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._print_message(message, sys.stderr)
        raise HelpShown()

    def print_help(self, file: Any = None) -> None:
        # argparse defaults to the real sys.stdout captured at import; IPython swaps it per cell.
        super().print_help(file or sys.stdout)

    def parse(self, tokens: Sequence[str]) -> argparse.Namespace:
        """Parse `tokens`; whatever follows a bare `--` lands in `.rest` untouched."""
        tokens = [t for t in tokens if not isinstance(t, Comment)]
        head, rest = split_rest(tokens)
        namespace = self.parse_args(head)
        namespace.rest = rest
        return namespace


def tokenize(line: str) -> list[str]:
    """Shell-like words, so quoted values with spaces survive (`--system "be brief"`); as in a
    shell, an unquoted `#` that starts a word starts a comment (`%loom status  # check`)."""
    code = strip_comment(line)
    try:
        words = shlex.split(code, posix=True)
    except ValueError as exc:
        raise ArgumentsError(f"Could not read the command line ({exc}); check the quotes.") from None
    # The comment's words stay (marked), so a key pasted into a comment is still refused.
    return words + [Comment(w) for w in line[len(code):].split()]


class Comment(str):
    """A word of a line's trailing `# comment`: seen by the secret check, never parsed."""


def strip_comment(line: str) -> str:
    """`line` up to its first unquoted `#` at the start of a word (`k:v#1` keeps its `#`)."""
    quote, escaped = "", False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def split_rest(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split at the first bare `--`: options before it, a verbatim command after it."""
    items = list(tokens)
    if "--" in items:
        at = items.index("--")
        return items[:at], items[at + 1:]
    return items, []


def key_value(text: str) -> tuple[str, str]:
    """`K=V` (env) -> (K, V), or an argparse error naming the bad item."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def tag_pair(text: str) -> tuple[str, str]:
    """`k:v` -> (k, v), by the SDK's one tag rule (client/models/tags.py)."""
    from loom_jupyter.client.models.tags import parse_tag_filter  # not at %load_ext: it is slow

    try:
        return parse_tag_filter(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a number of at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _whole(text, 1)


def non_negative_int(text: str) -> int:
    return _whole(text, 0)


def add_output_options(parser: argparse.ArgumentParser, what: str) -> None:
    """`-o VAR` (keep `what` in a notebook variable) and `--dataframe` (as a pandas DataFrame)."""
    parser.add_argument("-o", "--output", metavar="VAR", help=f"also store {what} in this variable")
    parser.add_argument("--dataframe", action="store_true",
                        help="with -o: store a pandas DataFrame")


def check_output_options(args: argparse.Namespace, command: str) -> None:
    """`-o` names a Python variable; `--dataframe` means nothing without it, so it is refused."""
    if args.output is not None and not args.output.isidentifier():
        raise ArgumentsError(f"%loom {command}: -o needs a Python variable name, got {args.output!r}.")
    if args.dataframe and args.output is None:
        raise ArgumentsError(f"%loom {command}: --dataframe stores a DataFrame in a variable: "
                             "add -o VAR (for example -o df --dataframe).")
