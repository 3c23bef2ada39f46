"""Asking before bulk work: one question, and one line saying "add --yes" where nobody can answer.

A notebook front end without stdin makes `input()` raise `StdinNotImplementedError`; pytest and
detached processes raise `OSError` or `EOFError`. All of them mean the same thing: nobody can
answer here, so the command does nothing and says how to go ahead without a question.
"""
from __future__ import annotations

from collections.abc import Sequence

from ._errors import MagicError
from ._waiting import suspended


class NoAnswer(MagicError):
    """A question was needed but this front end cannot ask it (no stdin)."""


def shown(ids: Sequence[str], first: int = 5) -> str:
    """`a, b, c and 7 more`: a bounded list of ids for a question or a message."""
    head = ", ".join(ids[:first])
    return head + (f" and {len(ids) - first} more" if len(ids) > first else "")


def confirm(question: str, command: str) -> bool:
    """Ask `question [y/N]`; True only for yes. Raises NoAnswer (one line that says to add
    --yes to `command`) when there is no stdin to ask on."""
    try:
        with suspended():  # no "waiting for Loom…" while the user reads the question
            answer = input(f"{question} [y/N] ")
    except (NotImplementedError, EOFError, OSError):  # StdinNotImplementedError is a NotImplementedError
        raise NoAnswer(f"{question.rstrip('?')}: this front end cannot ask for confirmation, "
                       f"so nothing was done; add --yes to {command} to go ahead.") from None
    return answer.strip().lower() in ("y", "yes")
