"""`GET /health`: public, always JSON; 200 healthy/degraded, 503 unhealthy (loom-api.md §7)."""
from __future__ import annotations

import os
import time
from typing import Any

from ..._version import __version__
from ..base import LocalHandler
from ..openapi import json_response, obj
from ..store import utc_now

_BUILD_TIMESTAMP = utc_now()


class HealthHandler(LocalHandler):
    auth_required = False

    def get(self) -> None:
        started = time.perf_counter()
        components = {"database": self._database(), "data_dir": self._data_dir()}
        if components["database"]["status"] != "healthy":
            status = "unhealthy"  # the database is critical; everything else only degrades
        elif any(c["status"] != "healthy" for c in components.values()):
            status = "degraded"
        else:
            status = "healthy"
        self.write_json({
            "status": status, "timestamp": utc_now(),
            "duration_ms": round((time.perf_counter() - started) * 1000),
            "version": {"version": __version__, "git_sha": "local",
                        "build_timestamp": _BUILD_TIMESTAMP},
            "components": components,
        }, 200 if status in ("healthy", "degraded") else 503)

    def _database(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            self.state.store.ping()
        except Exception as exc:
            return {"status": "unhealthy", "latency_ms": 0, "error": type(exc).__name__}
        return {"status": "healthy", "latency_ms": round((time.perf_counter() - started) * 1000)}

    def _data_dir(self) -> dict[str, Any]:
        path = self.state.config.data_dir
        writable = path.is_dir() and os.access(path, os.W_OK)
        return {"status": "healthy" if writable else "degraded", "path": str(path),
                "exists": path.exists(), "writable": writable}


ROUTES = [(r"/health", HealthHandler)]

_STATUS = {"type": "string", "enum": ["healthy", "degraded", "unhealthy", "unknown"]}
_COMPONENT = obj({"status": _STATUS, "latency_ms": {"type": "integer"}}, ["status"])
_HEALTH = obj({
    "status": _STATUS, "timestamp": {"type": "string"}, "duration_ms": {"type": "integer"},
    "version": obj({"version": {"type": "string"}, "git_sha": {"type": "string"},
                    "build_timestamp": {"type": "string"}}, ["version"]),
    "components": {**obj({"database": _COMPONENT}, ["database"]),
                   "additionalProperties": _COMPONENT},
}, ["status", "timestamp", "duration_ms", "version", "components"])

OPENAPI_PATHS = {"/health": {"get": {
    "summary": "Health of the server and its components", "tags": ["health"], "security": [],
    "responses": {"200": json_response("Healthy or degraded", _HEALTH),
                  "503": json_response("Unhealthy", _HEALTH)}}}}
