"""The OpenAPI 3.0 document of the local server, merged from every handler module's paths.

Helpers here keep handler modules' `OPENAPI_PATHS` short. Schemas stay plain (type, properties,
required, items, enum; `nullable` for JSON null) so a test can validate live responses with
jsonschema after a tiny conversion.
"""
from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Any

from .._version import __version__

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                   "server_version": {"type": "integer"}, "client_version": {"type": "integer"}},
}
# One event of a `text/event-stream` body, as OpenAPI tools (schemathesis) read them.
SSE_EVENT: dict[str, Any] = {
    "type": "object", "required": ["data"],
    "properties": {"event": {"type": "string"}, "data": {"type": "string"},
                   "id": {"type": "string"}},
}
_REASONS = {400: "Bad request", 401: "Authentication required", 403: "Forbidden",
            404: "Not found", 409: "Conflict", 413: "Payload too large",
            415: "Unsupported media type", 429: "Too many", 500: "Internal error",
            503: "Service unavailable"}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses: int) -> dict[str, Any]:
    """Error responses in the documented `{"error","message"}` shape, keyed by status."""
    return {str(s): json_response(_REASONS.get(s, "Error"), {"$ref": "#/components/schemas/Error"})
            for s in statuses}


def path_param(name: str, description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string"}}


def query_param(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


def json_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def obj(properties: dict[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    """A JSON object schema; extra keys are allowed (a newer server may add fields)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required := list(required):
        schema["required"] = required
    return schema


def build_document(modules: Iterable[ModuleType]) -> dict[str, Any]:
    """One OpenAPI 3.0 document from the handler modules' OPENAPI_PATHS (and OPENAPI_SCHEMAS)."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for module in modules:
        for path, item in module.OPENAPI_PATHS.items():
            paths.setdefault(path, {}).update(item)
        schemas.update(getattr(module, "OPENAPI_SCHEMAS", {}))
    return {
        "openapi": "3.0.3",
        "info": {"title": "Loom (loom-jupyter local server)", "version": __version__,
                 "description": "The Loom API subset served by `loom-jupyter local`."},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "An API key `lk_...`, or an access token "
                                              "`lt_...` from the device-code sign-in"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "loom_session"},
            },
        },
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
    }
