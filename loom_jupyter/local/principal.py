"""Who is calling: a user with one global role and the orgs they belong to (loom-api.md §1, §9)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["user", "support", "system_admin"]
ROLES: tuple[Role, ...] = ("user", "support", "system_admin")


@dataclass(frozen=True)
class Principal:
    user_id: str
    display_name: str
    role: Role
    org_ids: tuple[str, ...]
    key_id: str | None
    access_token_id: str | None = None  # set when an `lt_` token made the call (logout revokes it)

    @property
    def is_admin(self) -> bool:
        return self.role == "system_admin"

    @property
    def is_support(self) -> bool:
        return self.role == "support"

    @property
    def sees_everything(self) -> bool:
        """Support and system admins read what belongs to anyone (they do not all write it)."""
        return self.is_admin or self.is_support
