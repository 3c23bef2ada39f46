"""`/api/orgs` and org API keys (loom-api.md §1.5), with the local `role` extension on create."""
from __future__ import annotations

from typing import Any

from ..auth import ROLES, new_key
from ..base import ApiError, LocalHandler
from ..openapi import errors, json_body, json_response, obj, path_param
from ..store import utc_now

SCOPES = ("threads_read", "threads_write", "threads_delete", "llm_use", "tools_use")
_KEY_COLUMNS = "k.id, k.name, k.scopes, k.created_by, k.created_at, k.last_used_at, " \
               "k.revoked_at, k.user_id, u.role"


class OrgsHandler(LocalHandler):
    def get(self) -> None:
        p = self.principal
        rows = self.state.store.all(
            "SELECT o.id, o.name, m.role FROM orgs o LEFT JOIN memberships m "
            "ON m.org_id = o.id AND m.user_id = ? ORDER BY o.created_at", (p.user_id,))
        orgs = [{"id": r["id"], "name": r["name"], "role": r["role"] or "admin"}
                for r in rows if r["role"] is not None or p.is_admin]
        self.write_json({"orgs": orgs})


class _KeysBase(LocalHandler):
    def require_key_admin(self, org_id: str) -> None:
        """Only a system_admin manages keys locally; others get 403 whether or not the org exists."""
        if not self.principal.is_admin:
            raise ApiError(403, "forbidden", "Insufficient permissions")
        if self.state.store.one("SELECT 1 FROM orgs WHERE id = ?", (org_id,)) is None:
            raise ApiError(404, "not_found", f"Organization not found: {org_id}")


def _key_json(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "scopes": row["scopes"].split(),
            "created_by": row["created_by"], "created_at": row["created_at"],
            "last_used_at": row["last_used_at"], "revoked_at": row["revoked_at"],
            "role": row["role"], "user_id": row["user_id"]}


def _parse_key_request(body: dict[str, Any]) -> tuple[str, list[str], str]:
    name, scopes, role = body.get("name"), body.get("scopes", list(SCOPES)), body.get("role", "user")
    if not isinstance(name, str) or not name.strip():
        raise ApiError(400, "invalid_name", "name must be a non-empty string")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):  # shown in listings and terminals
        raise ApiError(400, "invalid_name", "name must not contain control characters")
    if not isinstance(scopes, list) or not scopes or not all(s in SCOPES for s in scopes):
        raise ApiError(400, "invalid_scopes", f"scopes must be a non-empty list of {list(SCOPES)}")
    if role not in ROLES:
        raise ApiError(400, "bad_request", f"role must be one of {list(ROLES)}")
    return name.strip(), scopes, role


class ApiKeysHandler(_KeysBase):
    def get(self, org_id: str) -> None:
        self.require_key_admin(org_id)
        rows = self.state.store.all(
            f"SELECT {_KEY_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id "
            "WHERE k.org_id = ? ORDER BY k.created_at", (org_id,))
        self.write_json({"api_keys": [_key_json(r) for r in rows]})

    def post(self, org_id: str) -> None:
        """Each key gets a new user named after it, with the requested global role."""
        self.require_key_admin(org_id)
        name, scopes, role = _parse_key_request(self.json_body())
        auth, key = self.state.auth, new_key()
        with self.state.store.transaction():
            user_id = auth.create_user(name, role, org_id, "member")  # type: ignore[arg-type]
            key_id, created_at = auth.insert_key(key, org_id, user_id, name, scopes,
                                                 created_by=self.principal.user_id)
        self.write_json({"id": key_id, "key": key, "name": name, "scopes": scopes,
                         "created_at": created_at, "role": role, "user_id": user_id}, 201)


class ApiKeyHandler(_KeysBase):
    def delete(self, org_id: str, key_id: str) -> None:
        self.require_key_admin(org_id)
        store = self.state.store
        with store.transaction():
            row = store.one("SELECT revoked_at FROM api_keys WHERE id = ? AND org_id = ?",
                            (key_id, org_id))
            if row is None:
                raise ApiError(404, "not_found", f"API key not found: {key_id}")
            if row["revoked_at"] is not None:
                raise ApiError(409, "already_revoked", "API key is already revoked")
            store.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (utc_now(), key_id))
        self.write_json({"message": "API key revoked"})


ROUTES = [
    (r"/api/orgs", OrgsHandler),
    (r"/api/orgs/([^/]+)/api-keys", ApiKeysHandler),
    (r"/api/orgs/([^/]+)/api-keys/([^/]+)", ApiKeyHandler),
]

_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_ROLE = {"type": "string", "enum": list(ROLES)}
_SCOPES = {"type": "array", "items": {"type": "string", "enum": list(SCOPES)}}
_ORGS = obj({"orgs": {"type": "array", "items": obj(
    {"id": _STR, "name": _STR, "role": _STR}, ["id", "name", "role"])}}, ["orgs"])
# Listed keys may carry the admin key's wildcard scope "*" (it cannot be requested).
_KEY_SCOPES = {"type": "array", "items": {"type": "string", "enum": [*SCOPES, "*"]}}
_KEY = obj({"id": _STR, "name": _STR, "scopes": _KEY_SCOPES, "created_by": _NSTR, "created_at": _STR,
            "last_used_at": _NSTR, "revoked_at": _NSTR, "role": _ROLE, "user_id": _STR},
           ["id", "name", "scopes", "created_at", "revoked_at"])
_CREATED = obj({"id": _STR, "key": {"type": "string", "pattern": "^lk_[0-9a-f]{64}$"},
                "name": _STR, "scopes": _SCOPES, "created_at": _STR, "role": _ROLE,
                "user_id": _STR}, ["id", "key", "name", "scopes", "created_at", "role", "user_id"])
_CREATE = obj({"name": _STR, "scopes": _SCOPES, "role": _ROLE}, ["name"])
_ORG = [path_param("org_id")]

OPENAPI_PATHS = {
    "/api/orgs": {"get": {"summary": "Organizations of the caller", "tags": ["orgs"],
                          "responses": {"200": json_response("Orgs", _ORGS), **errors(401)}}},
    "/api/orgs/{org_id}/api-keys": {
        "get": {"summary": "API keys of an org (system_admin)", "tags": ["orgs"],
                "parameters": _ORG,
                "responses": {"200": json_response("Keys", obj(
                    {"api_keys": {"type": "array", "items": _KEY}}, ["api_keys"])),
                    **errors(401, 403, 404)}},
        "post": {"summary": "Create a key; local extension: `role` makes a new user with that role",
                 "tags": ["orgs"], "parameters": _ORG, "requestBody": json_body(_CREATE),
                 "responses": {"201": json_response("The key, shown once", _CREATED),
                               **errors(400, 401, 403, 404, 413, 415)}},
    },
    "/api/orgs/{org_id}/api-keys/{key_id}": {
        "delete": {"summary": "Revoke a key", "tags": ["orgs"],
                   "parameters": _ORG + [path_param("key_id")],
                   "responses": {"200": json_response("Revoked", obj({"message": _STR},
                                                                     ["message"])),
                                 **errors(401, 403, 404, 409)}},
    },
}
