"""`{base_url}loom/status` (the default connection: what it is pointed at, whether Loom answers;
and every connection's row) and `{base_url}loom/connections` (every connection, by name). Neither
ever carries a secret, and only the default connection is probed upstream."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..client import APIStatusError, LoomError
from .base import LoomAuthMixin

if TYPE_CHECKING:
    from .app import LoomJupyter
    from .connections import Connection

__all__ = ["ConnectionsHandler", "StatusHandler", "connection_rows", "probe"]

PROBE_TIMEOUT = 5.0


async def probe(loom: Connection, timeout: float) -> dict[str, Any]:
    """Ask Loom's /health once (the SDK's flow); report reachability and version, or why not."""
    try:
        health = await asyncio.wait_for(loom.public_client.health(), timeout)
    except (LoomError, asyncio.TimeoutError) as exc:
        # An HTTP error status still means Loom answered; the class names what went wrong.
        return {"reachable": isinstance(exc, APIStatusError), "error": type(exc).__name__}
    return {"reachable": True, "health": health.status, "version": health.server_version}


def connection_rows(app: LoomJupyter) -> list[dict[str, Any]]:
    """Every connection as `GET loom/connections` lists it (no upstream call: what is held)."""
    return [c.describe() for c in app.listed_connections()]


class StatusHandler(LoomAuthMixin):
    """The extension's own JSON; it never contains the credential, only whether one is set."""

    async def get(self) -> None:
        await self.authorize_loom("read")
        loom = self.loom.default_connection
        report: dict[str, Any] = {
            "extension_version": __version__,
            "url": loom.display_url,
            "configured": loom.configured,
            "credential": loom.has_credential,
            "credential_source": loom.credential.describe() if loom.credential else None,
            "reachable": False,
            "version": None,
        }
        if loom.configured and loom.kind.name == "loom":
            report.update(await probe(loom, min(PROBE_TIMEOUT, self.loom.connect_timeout + 1)))
        report["connections"] = connection_rows(self.loom)
        self.send_json(report)


class ConnectionsHandler(LoomAuthMixin):
    """`GET {base_url}loom/connections`: name, kind, display URL, credential source of each."""

    async def get(self) -> None:
        await self.authorize_loom("read")
        self.send_json(connection_rows(self.loom))
