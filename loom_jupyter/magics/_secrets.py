"""Refuse credentials typed on a %loom line, and wipe them from this session's IPython history.

IPython records the raw cell in `In`, `_i*` and the history database *before* any magic
runs, so refusing is not enough: the typed key is replaced by a placeholder everywhere the
running session keeps it. The notebook file still holds the cell, which the message says.
"""
from __future__ import annotations

import re
from typing import Any
from collections.abc import Iterable

from ._errors import SecretOnCommandLine

REDACTED = "<redacted>"
KEY_PATTERNS = re.compile(
    r"(lk_[A-Za-z0-9]{16,}|loom_sk_[A-Za-z0-9_\-]{8,}|sk-(?:ant-)?[A-Za-z0-9_\-]{16,})"
)
KEY_OPTIONS = ("--api-key", "--key", "--token", "--password", "--secret")


def find_secrets(tokens: list[str]) -> list[str]:
    """Values that look like credentials: known key shapes, or the value of a key-ish option."""
    found: list[str] = []
    for i, token in enumerate(tokens):
        found.extend(KEY_PATTERNS.findall(token))
        option, eq, value = token.partition("=")
        if option in KEY_OPTIONS:
            if eq and value:
                found.append(value)
            elif not eq and i + 1 < len(tokens):
                found.append(tokens[i + 1])
    return [s for s in dict.fromkeys(found) if len(s) >= 4]


def refuse_literal_secrets(shell: Any, tokens: list[str]) -> None:
    """Raise (after scrubbing history) when `tokens` carry a credential."""
    secrets = find_secrets(tokens)
    option = next((t for t in tokens if t.partition("=")[0] in KEY_OPTIONS), None)
    if not secrets and option is None:
        return
    if shell is not None and secrets:
        scrub_history(shell, secrets)
    raise SecretOnCommandLine(
        "Refused: an API key typed on the command line would be kept in the notebook and in "
        "IPython's history (it was removed from this session's history; delete it from the cell "
        "too). Put it in an environment variable or a file and run "
        "%loom connect URL --api-key-env NAME (or --api-key-file PATH)."
    )


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def scrub_history(shell: Any, secrets: list[str]) -> None:
    """Replace `secrets` in In/_ih, _i/_ii/_iii/_iN, the history caches and the history DB."""
    hm = getattr(shell, "history_manager", None)
    if hm is None:
        return
    for lines in (hm.input_hist_parsed, hm.input_hist_raw):
        lines[:] = [redact(line, secrets) for line in lines]
    for attr in ("_i00", "_i", "_ii", "_iii"):
        setattr(hm, attr, redact(getattr(hm, attr, "") or "", secrets))
    ns = shell.user_ns
    for name in [n for n in ns if re.fullmatch(r"_i+\d*|_i00", n)]:
        if isinstance(ns[name], str):
            ns[name] = redact(ns[name], secrets)
    with hm.db_input_cache_lock:
        hm.db_input_cache[:] = [(n, redact(s, secrets), redact(r, secrets)) for n, s, r in hm.db_input_cache]
    _scrub_db(hm, secrets)


def _scrub_db(hm: Any, secrets: list[str]) -> None:
    db = getattr(hm, "db", None)
    if db is None:
        return
    try:
        with db:
            for secret in secrets:
                db.execute(
                    "UPDATE history SET source = replace(source, ?, ?), "
                    "source_raw = replace(source_raw, ?, ?)",
                    (secret, REDACTED, secret, REDACTED),
                )
    except Exception:
        pass
