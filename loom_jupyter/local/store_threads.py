"""The SQL of threads, and the one place that says which threads a reader can see (§3.2)."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .store import Store, parse_timestamp, utc_now

# The visibility rule, written once: not deleted, and the reader sees private threads (support,
# admins), owns the thread, or the thread is not private.
_VISIBLE = "deleted_at IS NULL AND (? OR owner_user_id = ? OR visibility != 'private')"


@dataclass(frozen=True)
class Reader:
    user_id: str
    sees_private: bool


class ThreadRows:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _visible(self, reader: Reader, workspace: str | None) -> tuple[str, list[Any]]:
        where, params = _VISIBLE, [reader.sees_private, reader.user_id]
        if workspace:
            where, params = where + " AND workspace_root = ?", params + [workspace]
        return where, params

    def row(self, thread_id: str) -> sqlite3.Row | None:
        """The stored row whoever may see it, deleted or not (writes need to know)."""
        return self.store.one("SELECT * FROM threads WHERE id = ?", (thread_id,))

    def visible(self, reader: Reader, thread_id: str) -> sqlite3.Row | None:
        where, params = self._visible(reader, None)
        return self.store.one(f"SELECT * FROM threads WHERE id = ? AND {where}",
                              [thread_id, *params])

    def page(self, reader: Reader, limit: int, offset: int,
             workspace: str | None) -> tuple[list[dict[str, Any]], int]:
        """Visible threads by last activity, newest first, and how many there are in all."""
        where, params = self._visible(reader, workspace)
        total = self.store.one(f"SELECT count(*) AS n FROM threads WHERE {where}", params)
        rows = self.store.all(f"SELECT data FROM threads WHERE {where} ORDER BY activity_ts DESC,"
                              " id LIMIT ? OFFSET ?", params + [limit, offset])
        return [json.loads(r["data"]) for r in rows], int(total["n"]) if total else 0

    def searchable(self, reader: Reader, workspace: str | None) -> list[sqlite3.Row]:
        """Every visible thread with its search text and activity time."""
        where, params = self._visible(reader, workspace)
        return self.store.all(
            f"SELECT data, search_text, activity_ts FROM threads WHERE {where}", params)

    def upsert(self, data: dict[str, Any], owner_user_id: str, search_text: str) -> None:
        self.store.execute(
            "INSERT INTO threads (id, version, owner_user_id, visibility, workspace_root,"
            " activity_ts, search_text, data, deleted_at) VALUES (?,?,?,?,?,?,?,?,NULL)"
            " ON CONFLICT(id) DO UPDATE SET version=excluded.version,"
            " owner_user_id=excluded.owner_user_id, visibility=excluded.visibility,"
            " workspace_root=excluded.workspace_root, activity_ts=excluded.activity_ts,"
            " search_text=excluded.search_text, data=excluded.data, deleted_at=NULL",
            (data["id"], data["version"], owner_user_id, data["visibility"],
             data.get("workspace_root"), parse_timestamp(data["last_activity_at"]),
             search_text, json.dumps(data)))

    def soft_delete(self, thread_id: str) -> None:
        self.store.execute("UPDATE threads SET deleted_at = ? WHERE id = ?", (utc_now(), thread_id))
