"""The Jupyter server's named connections, as a kernel sees them: `list_connections()`.

The extension serves the list at `{base_url}loom/connections` (names, kinds, display URLs,
whether each is signed in and where its credential comes from, never the credential). A kernel
reaches it with its proxy token; an older server without that route still published the names
and kinds in `LOOM_JUPYTER_CONNECTIONS`, which is used instead.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ._errors import LoomConfigError, NotFoundError
from ._settings import DEFAULT_CONNECTION, PROXY_URL_ENV, published_connections
from .kinds import KINDS

__all__ = ["ConnectionInfo", "list_connections"]


@dataclass(frozen=True)
class ConnectionInfo:
    """One connection of the Jupyter server; `credential` names the source, never the secret."""

    name: str
    kind: str
    title: str
    url: str | None = None
    default: bool = False
    signed_in: bool | None = None
    credential: str | None = None
    prefix: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConnectionInfo:
        kind = str(data.get("kind") or "loom")
        return cls(
            name=str(data.get("name") or ""), kind=kind,
            title=str(data.get("title") or _title(kind)), url=_text(data.get("url")),
            default=bool(data.get("default")),
            signed_in=data.get("signed_in") if isinstance(data.get("signed_in"), bool) else None,
            credential=_text(data.get("credential")), prefix=_text(data.get("prefix")),
        )


def list_connections(
    environ: Mapping[str, str] | None = None, timeout: float | httpx.Timeout = 10.0
) -> list[ConnectionInfo]:
    """Every connection of the Jupyter server that started this kernel, `default` first.

    Raises LoomConfigError outside such a kernel (there is no server to ask)."""
    env = os.environ if environ is None else environ
    proxy = env.get(PROXY_URL_ENV)
    if not proxy:
        raise LoomConfigError(
            "Named connections come from a Jupyter server with the loom-jupyter extension; "
            "this Python was not started by one (it talks to one Loom directly).")
    from ._client import Loom

    try:
        with Loom(url=proxy, timeout=timeout, max_retries=1) as client:
            answer = client.request("GET", "/connections")
    except NotFoundError:  # a server from before named connections: names and kinds only
        answer = [{"name": name, "kind": kind, "default": name == DEFAULT_CONNECTION}
                  for name, kind in published_connections(env).items()]
    rows = [ConnectionInfo.from_json(item) for item in answer if isinstance(item, Mapping)] \
        if isinstance(answer, list) else []
    return sorted(rows, key=lambda row: (not row.default, row.name))


def _title(kind: str) -> str:
    found = KINDS.get(kind)
    return found.title if found is not None else kind


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
