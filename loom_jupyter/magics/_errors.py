"""What a %loom command raises; the dispatcher in `_magics.py` turns these into one-line UsageErrors."""
from __future__ import annotations


class MagicError(Exception):
    """A user-facing problem: the message is one sentence that says what to do."""


class ArgumentsError(MagicError):
    """The command line did not parse (unknown option, missing argument, bad quoting)."""


class HelpShown(Exception):
    """`--help` printed the usage: not an error, just the end of the command."""


class SecretOnCommandLine(MagicError):
    """A literal credential was typed on the command line and refused."""
