"""`{base_url}loom/status`: what the extension is pointed at and whether Loom answers (no secrets)."""
from __future__ import annotations

from typing import Any

import httpx
from jupyter_server.auth.decorator import authorized
from tornado import web

from .._version import __version__
from .base import LoomAuthMixin

__all__ = ["StatusHandler", "probe"]

PROBE_TIMEOUT = 5.0


async def probe(client: httpx.AsyncClient, health_url: str, timeout: float) -> dict[str, Any]:
    """GET Loom's /health once; report reachability and version, or why not (the error class)."""
    try:
        response = await client.get(health_url, timeout=timeout)
    except httpx.HTTPError as exc:
        return {"reachable": False, "error": type(exc).__name__}
    try:
        body = response.json()
    except ValueError:
        return {"reachable": False, "error": f"HTTP {response.status_code}, not JSON"}
    version = body.get("version") if isinstance(body, dict) else None
    if isinstance(version, dict):
        version = version.get("version")
    return {"reachable": True, "health": body.get("status") if isinstance(body, dict) else None,
            "version": version if isinstance(version, str) else None}


class StatusHandler(LoomAuthMixin):
    """The extension's own JSON; it never contains the credential, only whether one is set."""

    def get_login_url(self) -> str:
        raise web.HTTPError(403, "Jupyter authentication required")

    @web.authenticated
    @authorized
    async def get(self) -> None:
        loom = self.loom
        report: dict[str, Any] = {
            "extension_version": __version__,
            "url": loom.display_url,
            "configured": loom.configured,
            "credential": loom.has_credential,
            "reachable": False,
            "version": None,
        }
        if loom.configured:
            timeout = min(PROBE_TIMEOUT, loom.connect_timeout + 1)
            report.update(await probe(loom.http, loom.upstream_url("/health"), timeout))
        self.send_json(report)
