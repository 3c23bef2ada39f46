"""`/api/orgs`, one org and its members, org API keys (loom-api.md §1.5), with the local `role`
extension on key create and on listed orgs."""
from __future__ import annotations

from ..base import LocalHandler
from ..openapi import errors, json_body, json_response, obj, path_param
from ..orgs import SCOPES
from ..principal import ROLES


class OrgsHandler(LocalHandler):
    def get(self) -> None:
        self.write_json({"orgs": self.state.orgs.of(self.principal)})


class OrgHandler(LocalHandler):
    def get(self, org_id: str) -> None:
        self.write_json(self.state.orgs.get(self.principal, org_id))


class MembersHandler(LocalHandler):
    def get(self, org_id: str) -> None:
        self.write_json({"members": self.state.orgs.members(self.principal, org_id)})


class ApiKeysHandler(LocalHandler):
    def get(self, org_id: str) -> None:
        self.write_json({"api_keys": self.state.orgs.keys(self.principal, org_id)})

    def post(self, org_id: str) -> None:
        created = self.state.orgs.create_key(self.principal, org_id, self.json_body)
        self.write_json(created, 201)


class ApiKeyHandler(LocalHandler):
    def delete(self, org_id: str, key_id: str) -> None:
        self.state.orgs.revoke_key(self.principal, org_id, key_id)
        self.write_json({"message": "API key revoked"})


ROUTES = [
    (r"/api/orgs", OrgsHandler),
    (r"/api/orgs/([^/]+)", OrgHandler),
    (r"/api/orgs/([^/]+)/members", MembersHandler),
    (r"/api/orgs/([^/]+)/api-keys", ApiKeysHandler),
    (r"/api/orgs/([^/]+)/api-keys/([^/]+)", ApiKeyHandler),
]

_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_ROLE = {"type": "string", "enum": list(ROLES)}
_SCOPES = {"type": "array", "items": {"type": "string", "enum": list(SCOPES)}}
_ORG_ROLE = {"type": "string", "enum": ["owner", "admin", "member"]}
# Loom's web client reads these. Visibility and join policy take Loom's values; a local org is
# always private and invite_only (local/orgs.py).
_ORG_PROPS = {"id": _STR, "name": _STR, "slug": _STR,
              "visibility": {"type": "string", "enum": ["public", "unlisted", "private"]},
              "join_policy": {"type": "string", "enum": ["open", "request", "invite_only"]},
              "is_personal": {"type": "boolean"}, "created_at": _STR, "updated_at": _STR,
              "member_count": {"type": "integer", "nullable": True}}
_ORG_REQUIRED = list(_ORG_PROPS)
_ORG_OBJ = obj(_ORG_PROPS, _ORG_REQUIRED)
_ORGS = obj({"orgs": {"type": "array", "items": obj(
    {**_ORG_PROPS, "role": _ORG_ROLE}, [*_ORG_REQUIRED, "role"])}}, ["orgs"])
_MEMBERS = obj({"members": {"type": "array", "items": obj(
    {"user_id": _STR, "display_name": _STR, "email": _NSTR, "avatar_url": _NSTR,
     "role": _ORG_ROLE, "joined_at": _STR},
    ["user_id", "display_name", "email", "avatar_url", "role", "joined_at"])}}, ["members"])
# Listed keys may carry the admin key's wildcard scope "*" (it cannot be requested).
_KEY_SCOPES = {"type": "array", "items": {"type": "string", "enum": [*SCOPES, "*"]}}
_PREFIX = {"type": "string", "pattern": "^lk_[0-9a-f]{0,8}$"}
_KEY = obj({"id": _STR, "name": _STR, "prefix": _PREFIX, "scopes": _KEY_SCOPES,
            "created_by": _STR, "created_at": _STR, "last_used_at": _NSTR, "revoked_at": _NSTR,
            "role": _ROLE, "user_id": _STR},
           ["id", "name", "prefix", "scopes", "created_by", "created_at", "last_used_at",
            "revoked_at"])
_CREATED = obj({"id": _STR, "key": {"type": "string", "pattern": "^lk_[0-9a-f]{64}$"},
                "prefix": _PREFIX, "name": _STR, "scopes": _SCOPES, "created_at": _STR,
                "role": _ROLE, "user_id": _STR},
               ["id", "key", "prefix", "name", "scopes", "created_at", "role", "user_id"])
_CREATE = obj({"name": _STR, "scopes": _SCOPES, "role": _ROLE}, ["name"])
_ORG = [path_param("org_id")]

OPENAPI_PATHS = {
    "/api/orgs": {"get": {"summary": "Organizations of the caller", "tags": ["orgs"],
                          "responses": {"200": json_response("Orgs", _ORGS), **errors(401)}}},
    "/api/orgs/{org_id}": {"get": {
        "summary": "One org (its members and system admins)", "tags": ["orgs"], "parameters": _ORG,
        "responses": {"200": json_response("The org", _ORG_OBJ), **errors(401, 403, 404)}}},
    "/api/orgs/{org_id}/members": {"get": {
        "summary": "Members of an org (its members and system admins)", "tags": ["orgs"],
        "parameters": _ORG,
        "responses": {"200": json_response("Members", _MEMBERS), **errors(401, 403, 404)}}},
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
