"""`GET /api/openapi.json`: the document built by `local/openapi.py` (public, like real Loom's)."""
from __future__ import annotations

from ..base import LocalHandler
from ..openapi import json_response, obj


class OpenApiHandler(LocalHandler):
    auth_required = False

    def get(self) -> None:
        self.write_json(self.settings["loom_openapi"])


ROUTES = [(r"/api/openapi.json", OpenApiHandler)]

OPENAPI_PATHS = {"/api/openapi.json": {"get": {
    "summary": "This document", "tags": ["meta"], "security": [],
    "responses": {"200": json_response("OpenAPI 3.0", obj(
        {"openapi": {"type": "string"}, "paths": {"type": "object"}}, ["openapi", "paths"]))}}}}
