"""Who sees and changes which thread on the local server: one rule for get, list and search (§3, §9)."""
from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from loom_jupyter.client.models.ids import new_thread_id
from tests.fixtures.loom_server import LocalLoom


def _call(server: LocalLoom, method: str, path: str, key: str | None,
          **kw: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", headers=server.headers(key), timeout=15,
                         **kw)


def _put(server: LocalLoom, key: str | None, thread_id: str, visibility: str,
         word: str) -> httpx.Response:
    body = {"id": thread_id, "version": 1, "visibility": visibility,
            "metadata": {"title": f"{visibility} {word}"},
            "conversation": {"messages": [{"role": "user", "content": word}]}}
    return _call(server, "PUT", f"/api/threads/{thread_id}", key, json=body)


class World:
    def __init__(self, server: LocalLoom, owner: str) -> None:
        self.server = server
        self.word = f"w{uuid.uuid4().hex}"
        self.keys = {"owner": owner, "other": server.make_key("user", name="threads-other"),
                     "support": server.make_key("support", name="threads-support"),
                     "admin": None}
        self.private, self.shared = new_thread_id(), new_thread_id()
        for thread_id, visibility in ((self.private, "private"), (self.shared, "organization")):
            assert _put(server, owner, thread_id, visibility, self.word).status_code == 200

    def seen(self, who: str) -> dict[str, set[str]]:
        """Which of our two threads `who` finds by get, by list and by search."""
        key, mine = self.keys[who], {self.private, self.shared}
        by_get = {t for t in mine
                  if _call(self.server, "GET", f"/api/threads/{t}", key).status_code == 200}
        listed = _call(self.server, "GET", "/api/threads", key, params={"limit": 1000}).json()
        found = _call(self.server, "GET", "/api/threads/search", key, params={"q": self.word}).json()
        return {"get": by_get, "list": {t["id"] for t in listed["threads"]} & mine,
                "search": {h["id"] for h in found["hits"]} & mine}


@pytest.fixture(scope="module")
def world(loom_server: LocalLoom, user_key: str) -> World:
    return World(loom_server, user_key)


@pytest.mark.parametrize(("who", "private_visible"),
                         [("owner", True), ("other", False), ("support", True), ("admin", True)])
def test_get_list_and_search_agree_on_who_sees_a_private_thread(world, who, private_visible):
    expected = {world.shared, world.private} if private_visible else {world.shared}
    assert world.seen(who) == {"get": expected, "list": expected, "search": expected}


def test_only_the_owner_or_an_admin_changes_a_thread(world):
    server, keys = world.server, world.keys
    other_put = _put(server, keys["other"], world.shared, "organization", world.word)
    assert (other_put.status_code, other_put.json()["error"]) == (403, "forbidden")
    support_put = _put(server, keys["support"], world.shared, "organization", world.word)
    assert support_put.json() == {"error": "forbidden", "message": "Support access is read-only"}
    # a thread the caller cannot see is not found, even to delete
    hidden = _call(server, "DELETE", f"/api/threads/{world.private}", keys["other"])
    assert hidden.json() == {"error": "not_found", "message": f"Thread not found: {world.private}"}
    assert _put(server, keys["owner"], world.shared, "organization", world.word).status_code == 200


def test_a_deleted_thread_is_gone_for_everyone(loom_server, user_key):
    world = World(loom_server, user_key)
    gone = _call(loom_server, "DELETE", f"/api/threads/{world.private}", None)
    assert gone.status_code == 204
    for who in ("owner", "support", "admin"):
        assert world.seen(who) == {"get": {world.shared}, "list": {world.shared},
                                   "search": {world.shared}}
