"""One entry of `c.LoomJupyter.connections`, checked: a name, a kind, a URL, one credential source.

A bad entry is an `EntryError` naming the connection and the field, so the server can say so in
one startup line and still serve the good ones. Environment variables named by any entry
(`api_key_env`, `password_env`) are taken out of the environment before anything else, even
when the entry is bad, so no kernel ever inherits them.
"""
from __future__ import annotations

import difflib
from functools import partial
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from ..client import LoomConfigError
from ..client.kinds import Kind, get_kind

__all__ = ["NAME", "ConnectionSpec", "EntryError", "SourceKind", "parse_entry", "take_env_secrets"]

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
FIELDS = ("kind", "url", "api_key_file", "api_key_env", "username", "password_file",
          "password_env", "token_file")
ENV_FIELDS = ("api_key_env", "password_env")
SourceKind = Literal["api_key", "password", "token_file", "sign-in"]


class EntryError(ValueError):
    """A connection entry that cannot be used; the message names the connection and field."""

    def __init__(self, name: str, field_name: str, message: str) -> None:
        shown = name if isinstance(name, str) and NAME.fullmatch(name) else "(invalid name)"
        super().__init__(f"connection {shown!r}, {field_name}: {message}")


@dataclass(frozen=True)
class ConnectionSpec:
    """A checked entry. `key` and `password` are secrets: never in a repr."""

    name: str
    kind: Kind
    url: str
    source: SourceKind
    label: str  # where the credential comes from, safe to show
    key: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    token_file: str = ""


def take_env_secrets(entries: Mapping[str, Any],
                     environ: MutableMapping[str, str]) -> dict[str, str]:
    """Remove every variable an entry names from `environ`; {variable: value} of those set."""
    taken: dict[str, str] = {}
    for entry in entries.values():
        if not isinstance(entry, Mapping):
            continue
        for name in ENV_FIELDS:
            var = entry.get(name)
            if isinstance(var, str) and var and var in environ:
                taken[var] = environ.pop(var)
    return taken


def _strings(name: str, entry: Mapping[str, Any]) -> dict[str, str]:
    unknown = [k for k in entry if k not in FIELDS]
    if unknown:
        bad = str(unknown[0])[:40]
        close = difflib.get_close_matches(bad, FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise EntryError(name, bad, f"not a connection field{hint}; fields: {', '.join(FIELDS)}")
    out: dict[str, str] = {}
    for key, value in entry.items():
        if not isinstance(value, str):
            raise EntryError(name, key, "must be a string")
        out[key] = value.strip()
    return out


def _kind(name: str, fields: Mapping[str, str]) -> Kind:
    try:
        return get_kind(fields.get("kind") or "loom")
    except LoomConfigError as exc:
        raise EntryError(name, "kind", str(exc)) from None


def _url(name: str, kind: Kind, fields: Mapping[str, str]) -> str:
    url = fields.get("url", "")
    if not url and kind.default_port:
        return f"http://127.0.0.1:{kind.default_port}"
    if not url:
        raise EntryError(name, "url", "missing: the base URL of the server")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise EntryError(name, "url", "not a URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise EntryError(name, "url", "must be an http(s) URL with a host")
    if parsed.query or parsed.fragment:
        raise EntryError(name, "url", "must not carry a query or fragment")
    return url.rstrip("/")


def _first_line(name: str, field_name: str, path: str) -> str:
    try:
        lines = Path(path).expanduser().read_text().splitlines()
    except (OSError, UnicodeError) as exc:
        raise EntryError(name, field_name, f"cannot read the file ({type(exc).__name__})") from None
    value = lines[0].strip() if lines else ""
    if not value:
        raise EntryError(name, field_name, "the file is empty")
    return value


def _from_env(name: str, field_name: str, var: str, taken: Mapping[str, str]) -> str:
    value = taken.get(var, "").strip()
    if not value:
        raise EntryError(name, field_name, f"the environment variable {var} is not set")
    return value


def _source(name: str, kind: Kind, fields: Mapping[str, str], url: str,
            taken: Mapping[str, str]) -> ConnectionSpec:
    given = [f for f in ("api_key_file", "api_key_env", "username", "token_file") if fields.get(f)]
    if len(given) > 1:
        raise EntryError(name, given[1], f"give one credential source, not {' and '.join(given)}")
    for stray in ("password_file", "password_env"):
        if fields.get(stray) and given != ["username"]:
            raise EntryError(name, stray, "only goes with username")
    if fields.get("password_file") and fields.get("password_env"):
        raise EntryError(name, "password_env", "give password_file or password_env, not both")
    base = partial(ConnectionSpec, name, kind, url)
    if not given:
        if kind.name == "loom":
            return base(source="sign-in", label="sign-in")
        raise EntryError(name, "credential", f"a {kind.name} connection needs one of "
                         + ", ".join(_sources_for(kind)))
    chosen = given[0]
    if chosen == "api_key_file":
        return base(source="api_key", label="api_key_file",
                              key=_first_line(name, chosen, fields[chosen]))
    if chosen == "api_key_env":
        return base(source="api_key", label=f"api_key_env {fields[chosen]}",
                              key=_from_env(name, chosen, fields[chosen], taken))
    if chosen == "token_file":
        if kind.read_token_file is None:
            raise EntryError(name, chosen, f"a {kind.name} connection has no token file; use "
                             + ", ".join(_sources_for(kind)))
        return base(source="token_file", label="token_file",
                              token_file=str(Path(fields[chosen]).expanduser()))
    if kind.login is None:
        raise EntryError(name, "username", f"a {kind.name} connection does not sign in with a "
                         "password; use " + ", ".join(_sources_for(kind)))
    password, label = "", "password (prompted)"
    if fields.get("password_file"):
        password, label = _first_line(name, "password_file", fields["password_file"]), \
            "password_file"
    elif fields.get("password_env"):
        password = _from_env(name, "password_env", fields["password_env"], taken)
        label = f"password_env {fields['password_env']}"
    return base(source="password", label=label, username=fields["username"],
                          password=password)


def _sources_for(kind: Kind) -> list[str]:
    sources = ["api_key_file", "api_key_env"]
    if kind.login is not None:
        sources.append("username (+ password_file or password_env, or a sign-in)")
    if kind.read_token_file is not None:
        sources.append("token_file")
    return sources


def parse_entry(name: Any, entry: Any, taken: Mapping[str, str]) -> ConnectionSpec:
    """Check one `connections` entry (`taken`: the variables take_env_secrets removed)."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise EntryError(str(name), "name", "a connection name is 1-40 of a-z, 0-9, '_' and "
                         "'-', starting with a letter or digit")
    if not isinstance(entry, Mapping):
        raise EntryError(name, "entry", "must be a dict of fields")
    fields = _strings(name, entry)
    kind = _kind(name, fields)
    url = _url(name, kind, fields)
    return _source(name, kind, fields, url, taken)
