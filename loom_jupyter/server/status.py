"""`{base_url}loom/status`: what the extension is pointed at and whether Loom answers (no secrets)."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..client import APIStatusError, LoomError
from .base import LoomAuthMixin

if TYPE_CHECKING:
    from .app import LoomJupyter

__all__ = ["StatusHandler", "probe"]

PROBE_TIMEOUT = 5.0


async def probe(loom: LoomJupyter, timeout: float) -> dict[str, Any]:
    """Ask Loom's /health once (the SDK's flow); report reachability and version, or why not."""
    try:
        health = await asyncio.wait_for(loom.public_client.health(), timeout)
    except (LoomError, asyncio.TimeoutError) as exc:
        # An HTTP error status still means Loom answered; the class names what went wrong.
        return {"reachable": isinstance(exc, APIStatusError), "error": type(exc).__name__}
    return {"reachable": True, "health": health.status, "version": health.server_version}


class StatusHandler(LoomAuthMixin):
    """The extension's own JSON; it never contains the credential, only whether one is set."""

    async def get(self) -> None:
        await self.authorize_loom("read")
        loom = self.loom
        report: dict[str, Any] = {
            "extension_version": __version__,
            "url": loom.display_url,
            "configured": loom.configured,
            "credential": loom.has_credential,
            "credential_source": loom.credential.describe() if loom.credential else None,
            "reachable": False,
            "version": None,
        }
        if loom.configured:
            report.update(await probe(loom, min(PROBE_TIMEOUT, loom.connect_timeout + 1)))
        self.send_json(report)
