"""Where the Loom credential comes from, for this Jupyter server and its user: one answer.

Highest precedence first: `c.LoomJupyter.api_key`, `c.LoomJupyter.api_key_file`,
`$LOOM_API_KEY`, `$LOOM_API_KEY_FILE`, then a stored sign-in (Loom's device-code flow). A sign-in
is kept per Loom URL in Jupyter's data directory, which is per person under JupyterHub, in a file
of mode 0600, so it survives a restart and never leaves the server.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..client._settings import KEY_ENV, KEY_FILE_ENV

__all__ = ["Credential", "SignInStore", "resolve_credential"]


@dataclass(frozen=True)
class Credential:
    """A credential and where it came from; `secret` never shows in a repr."""

    secret: str = field(repr=False)
    source: str  # "config", "config file", "environment", "environment file", "sign-in"
    who: str | None = None  # the Loom display name, when known (sign-ins)

    def describe(self) -> dict[str, str | None]:
        """What may be shown anyone: the source and the person, never the secret."""
        return {"source": self.source, "user": self.who}


class SignInStore:
    """One 0600 JSON file per Loom URL: `{"url", "token", "user"}`."""

    def __init__(self, directory: Path, url: str) -> None:
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.path = directory / f"signin-{digest}.json"
        self.url = url

    def load(self) -> Credential | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token or data.get("url") != self.url:
            return None
        who = data.get("user")
        return Credential(token, "sign-in", who if isinstance(who, str) else None)

    def save(self, token: str, who: str | None) -> Credential:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"url": self.url, "token": token, "user": who}, f)
        os.chmod(tmp, 0o600)  # in case the file existed with looser bits
        os.replace(tmp, self.path)
        return Credential(token, "sign-in", who)

    def forget(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


def _first_line(path: str) -> str:
    lines = Path(path).expanduser().read_text().splitlines()
    return lines[0].strip() if lines else ""


def resolve_credential(api_key: str, api_key_file: str, environ: Mapping[str, str],
                       store: SignInStore | None) -> Credential | None:
    """The credential in use, by the precedence above. Raises OSError for an unreadable file
    that was asked for (the caller reports it: a named file that cannot be read is an error,
    not a reason to fall through to a weaker source)."""
    candidates = [
        ("config", lambda: api_key.strip()),
        ("config file", lambda: _first_line(api_key_file) if api_key_file else ""),
        ("environment", lambda: environ.get(KEY_ENV, "").strip()),
        ("environment file", lambda: _first_line(environ[KEY_FILE_ENV])
         if environ.get(KEY_FILE_ENV) else ""),
    ]
    for source, read in candidates:
        if secret := read():  # an empty value or file means "not this source"
            return Credential(secret, source)
    return store.load() if store is not None else None
