"""The SQL of weaver records: what survives a restart of the local server."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from .store import Store, utc_now


class WeaverRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    def undeleted(self) -> list[sqlite3.Row]:
        return self.store.all("SELECT * FROM weavers WHERE deleted_at IS NULL")

    def save(self, weaver_id: str, owner_user_id: str, org_id: str, status: str,
             created_at: str, data: dict[str, Any]) -> None:
        """Insert the record, or update its status and data (the rest never changes)."""
        self.store.execute(
            "INSERT INTO weavers (id, owner_user_id, org_id, status, created_at, data) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
            "data = excluded.data",
            (weaver_id, owner_user_id, org_id, status, created_at, json.dumps(data)))

    def mark_deleted(self, weaver_id: str) -> None:
        self.store.execute("UPDATE weavers SET deleted_at = ?, status = ? WHERE id = ?",
                           (utc_now(), "deleted", weaver_id))
