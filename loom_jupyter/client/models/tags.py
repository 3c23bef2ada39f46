"""Weaver tags as people type them, `key:value`: the one parser the SDK, magics and widgets share.

The rule, everywhere: split at the first `:` (loom-api.md §4.3); spaces around the key and the
value are dropped; the key is label-like (letters and digits of any script, `équipe` as much as
`team`, and `.`, `_`, `-`, `/`; at most 128 characters, starting and ending with a letter or
digit); the value is one non-empty line. Loom refuses only empty keys, `:` and control
characters (the local server likewise), so every key accepted here, Loom accepts.
Anything else is a ValueError whose message is one line naming the offending text.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = ["TAG_KEY", "check_tag_key", "format_tag_filter", "parse_tag_filter",
           "parse_tag_filters", "tag_filter_pair"]

# `[^\W_]` is a letter or digit of any script; `\w` adds `_`. Matched on the NFC form, so a key
# typed with combining accents (as macOS keyboards do) passes as its composed twin does.
TAG_KEY = re.compile(r"[^\W_]([\w./-]{0,126}[^\W_])?\Z")
_SHOWN = 64  # at most this much of a bad input is echoed back


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def check_tag_key(key: object) -> str:
    """`key` when it is a valid tag key, else ValueError."""
    if not isinstance(key, str) or not TAG_KEY.match(unicodedata.normalize("NFC", key)):
        shown = _shown(key) if isinstance(key, str) else repr(key)
        raise ValueError(f"tag key {shown} must be letters, digits, '.', '_', '-' or '/' "
                         "(starting and ending with a letter or digit)")
    return key


def tag_filter_pair(key: object, value: object) -> tuple[str, str]:
    """A filter given as a key and a value (a dict item): the same rule as `parse_tag_filter`."""
    check_tag_key(key.strip() if isinstance(key, str) else key)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"tag {key!r} needs a string value, got {value!r}")
    text = str(value).strip()
    if not text or "\n" in text or "\r" in text:
        raise ValueError(f"tag {key!r} needs a non-empty, single-line value, got {_shown(text)}")
    return str(key).strip(), text


def parse_tag_filter(text: str) -> tuple[str, str]:
    """`"team:ds"` -> `("team", "ds")`; `"url:http://x"` -> `("url", "http://x")`."""
    key, sep, value = text.partition(":")
    if not sep or not key.strip() or not value.strip():
        raise ValueError(f"tag {_shown(text)} must look like KEY:VALUE, "
                         "a key:value pair such as team:ds")
    return tag_filter_pair(key, value)


def parse_tag_filters(text: str) -> dict[str, str]:
    """Several filters typed in one box, separated by commas: `"team:ds, batch:nightly"`."""
    return dict(parse_tag_filter(item) for item in text.split(",") if item.strip())


def format_tag_filter(key: str, value: str) -> str:
    """The `tag=` query value for one filter (the inverse of `parse_tag_filter`)."""
    return f"{key}:{value}"
