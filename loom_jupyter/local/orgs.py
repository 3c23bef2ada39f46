"""Orgs, their members and API keys: who may see and manage them (loom-api.md §1.5, §4.2)."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .auth import Auth
from .errors import AlreadyRevoked, InvalidName, InvalidRequest, InvalidScopes, NotAllowed, NotFound
from .principal import ROLES, Principal, Role

SCOPES = ("threads_read", "threads_write", "threads_delete", "llm_use", "tools_use")
# Local orgs are made by the server, never listed publicly and joined only by getting a key.
ORG_VISIBILITY, ORG_JOIN_POLICY = "private", "invite_only"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "org"


def _org_json(row: Any) -> dict[str, Any]:
    """An org as Loom's web client reads it; a local org never changes after it is made."""
    return {"id": row["id"], "name": row["name"], "slug": _slug(row["name"]),
            "visibility": ORG_VISIBILITY, "join_policy": ORG_JOIN_POLICY, "is_personal": False,
            "created_at": row["created_at"], "updated_at": row["created_at"],
            "member_count": row["member_count"]}


def _member_json(row: Any) -> dict[str, Any]:
    return {"user_id": row["user_id"], "display_name": row["display_name"], "email": None,
            "avatar_url": None, "role": row["role"], "joined_at": row["joined_at"]}


def _key_json(row: Any) -> dict[str, Any]:
    """A listed API key as Loom shows it: its first characters, never the key, nor its hash."""
    return {"id": row["id"], "name": row["name"], "prefix": row["prefix"] or "lk_",
            "scopes": row["scopes"].split(), "created_by": row["created_by"],
            "created_at": row["created_at"], "last_used_at": row["last_used_at"],
            "revoked_at": row["revoked_at"], "role": row["role"], "user_id": row["user_id"]}


def parse_key_request(body: dict[str, Any]) -> tuple[str, list[str], Role]:
    """`{name, scopes?, role?}` of a key to create (`role` is a local extension)."""
    name, scopes, role = body.get("name"), body.get("scopes", list(SCOPES)), body.get("role", "user")
    if not isinstance(name, str) or not name.strip():
        raise InvalidName("name must be a non-empty string")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):  # shown in listings and terminals
        raise InvalidName("name must not contain control characters")
    if not isinstance(scopes, list) or not scopes or not all(s in SCOPES for s in scopes):
        raise InvalidScopes(f"scopes must be a non-empty list of {list(SCOPES)}")
    if role not in ROLES:
        raise InvalidRequest(f"role must be one of {list(ROLES)}")
    return name.strip(), scopes, role


class Orgs:
    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self.accounts = auth.accounts

    def of(self, p: Principal) -> list[dict[str, Any]]:
        """The caller's orgs with their role there (a local extension); a system admin sees
        every org (as `admin` where not a member)."""
        return [{**_org_json(r), "role": r["role"] or "admin"}
                for r in self.accounts.orgs_with_role(p.user_id)
                if r["role"] is not None or p.is_admin]

    def get(self, p: Principal, org_id: str) -> dict[str, Any]:
        """`GET /api/orgs/{id}`: for its members and system admins."""
        self.require_member(p, org_id)
        row = self.accounts.org(org_id)
        if row is None:  # only reached by an admin: require_member has refused the others
            raise NotFound(f"Organization not found: {org_id}")
        return _org_json(row)

    def members(self, p: Principal, org_id: str) -> list[dict[str, Any]]:
        """`GET /api/orgs/{id}/members`: for its members and system admins."""
        self.require_member(p, org_id)
        return [_member_json(r) for r in self.accounts.members(org_id)]

    def require_member(self, p: Principal, org_id: str) -> None:
        """Members may use an org; a system admin any org that exists (§4.2)."""
        if p.is_admin and not self.accounts.org_exists(org_id):
            raise NotFound(f"Organization not found: {org_id}")
        if not p.is_admin and org_id not in p.org_ids:  # unknown orgs included
            raise NotAllowed(f"Not a member of organization {org_id}")

    def _require_key_admin(self, p: Principal, org_id: str) -> None:
        """Only a system_admin manages keys locally; others get 403 whether or not the org exists."""
        if not p.is_admin:
            raise NotAllowed("Insufficient permissions")
        if not self.accounts.org_exists(org_id):
            raise NotFound(f"Organization not found: {org_id}")

    def keys(self, p: Principal, org_id: str) -> list[dict[str, Any]]:
        self._require_key_admin(p, org_id)
        return [_key_json(r) for r in self.accounts.keys_of_org(org_id)]

    def create_key(self, p: Principal, org_id: str,
                   read_body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Each key gets a new user named after it, with the requested global role.

        The body is read after the permission check: a stranger gets 403, never a 400 about it.
        """
        self._require_key_admin(p, org_id)
        name, scopes, role = parse_key_request(read_body())
        made = self.auth.create_key(org_id, name, scopes, role, created_by=p.user_id)
        return {"id": made["id"], "key": made["key"], "prefix": made["prefix"], "name": name,
                "scopes": scopes, "created_at": made["created_at"], "role": role,
                "user_id": made["user_id"]}

    def revoke_key(self, p: Principal, org_id: str, key_id: str) -> None:
        self._require_key_admin(p, org_id)
        with self.auth.store.transaction():
            row = self.accounts.key_in_org(key_id, org_id)
            if row is None:
                raise NotFound(f"API key not found: {key_id}")
            if row["revoked_at"] is not None:
                raise AlreadyRevoked("API key is already revoked")
            self.accounts.revoke_key(key_id)
