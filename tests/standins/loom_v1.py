"""Stand-in for the "Loom" v1 asset server (seed 002): REST under /api/v1, JWT login, paged CRUD,
binary upload/download, and the live pipeline-events WebSocket.

Wire facts (seed 002, and the issue-13 contract where the seed is silent):
- `POST /api/v1/auth/login {"username","password"}` -> 200 `{"token": JWT}` (HS256, `exp` =
  now + `token_lifetime`); bad credentials -> 401. Every other route needs
  `Authorization: Bearer JWT`: none -> 401 "Authorization required", expired (or revoked by
  `expire_tokens()`) -> 401 "Token expired", forged/malformed -> 401 "Invalid token".
- Errors are `{"message", "statusCode"}`, unknown routes included.
- Lists are paged: `?page=1&perPage=25` (1-based, perPage 1..100) ->
  `{"data": [...], "_metainfo": {"currentPage","perPage","pageCount","totalCount"}}`.
- Assets `{"uuid","name","mimeType","size","sha512","tags","created","edited"}`; `sha512` is
  null and `size` 0 until a binary is uploaded (`POST .../binary`, raw body, its Content-Type;
  multipart is accepted too); `GET .../binary` answers the bytes with their Content-Type.
  `tags` holds tag names. `GET|POST|DELETE /api/v1/assets/sha512/{hash}` address by hash.
- users, groups, roles, tags, pipelines, libraries, collections, tokens: the same CRUD pattern
  (`name` required; users need `username`, and a `password` makes that user able to log in).
- `POST /api/v1/pipelines/{uuid}/run` (our assumption) -> 202 run; then, every `event_delay`
  seconds, JSON text frames `pipeline.started`, one `pipeline.progress` per step, and
  `pipeline.finished` (`status` "success", or "failed" for a pipeline created with
  `"fail": true`) go to every client of `GET /api/v1/pipelines/events/ws` (Bearer on the
  upgrade). A client that connects while a run is in progress first gets that run's earlier
  events, so "run, then follow" works.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
import secrets
from typing import Any, ClassVar

import tornado.web
import tornado.websocket

from tests.standins import _jwt
from tests.standins._server import ApiError, Handler, Route, StandIn, iso_now

DEFAULT_USERS = {"admin": "loom-v1-admin-pass"}
TABLES = ("users", "groups", "roles", "tags", "pipelines", "libraries", "collections", "tokens")
_TABLES = "|".join(TABLES)
_SEED_ASSETS = [
    ("readme.txt", "text/plain", b"Hello from the Loom v1 stand-in.\n", ["demo"]),
    ("data.csv", "text/csv", b"x,y\n1,2\n3,4\n", ["demo", "raw"]),
    ("notes.md", "text/markdown", b"# Notes\n\nNothing to see.\n", []),
]


class V1Handler(Handler):
    """Every v1 route: errors as {"message","statusCode"}, Bearer JWT unless `public`."""

    standin: LoomV1StandIn
    public: ClassVar[bool] = False

    def error_body(self, status: int, message: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {"message": message, "statusCode": status}

    def prepare(self) -> None:
        super().prepare()
        if not self.public:
            self.standin.check_token(self.bearer())

    def table(self, name: str) -> dict[str, dict[str, Any]]:
        return self.standin.tables[name]

    def item(self, table: str, key: str) -> dict[str, Any]:
        found = self.table(table).get(key)
        if found is None:
            raise ApiError(404, f"Cannot find {table.rstrip('s')} with uuid '{key}'")
        return found

    def send_page(self, items: list[dict[str, Any]]) -> None:
        page = self.int_arg("page", 1, 1, 1_000_000)
        per_page = self.int_arg("perPage", 25, 1, 100)
        start = (page - 1) * per_page
        self.send_json({"data": items[start:start + per_page], "_metainfo": {
            "currentPage": page, "perPage": per_page,
            "pageCount": math.ceil(len(items) / per_page), "totalCount": len(items)}})


class NotFound(V1Handler):
    public = True

    def prepare(self) -> None:
        super().prepare()
        raise ApiError(404, f"Cannot {self.request.method} {self.request.path}")


class Login(V1Handler):
    public = True

    def post(self) -> None:
        body = self.body_json()
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise ApiError(400, "username and password are required")
        if not secrets.compare_digest(self.standin.passwords.get(username, "\0").encode(),
                                      password.encode()):
            raise ApiError(401, "Invalid username or password")
        self.send_json({"token": self.standin.issue(username)})


class OAuth2(V1Handler):
    public = True

    def post(self) -> None:
        raise ApiError(400, "OAuth2 is not configured on this server")


class Collection(V1Handler):
    def get(self, table: str) -> None:
        self.send_page(list(self.table(table).values()))

    def post(self, table: str) -> None:
        self.send_json(self.standin.create(table, self.body_json()), 201)


class Item(V1Handler):
    def get(self, table: str, key: str) -> None:
        self.send_json(self.item(table, key))

    def post(self, table: str, key: str) -> None:
        self.send_json(self.standin.update(table, self.item(table, key), self.body_json()))

    def delete(self, table: str, key: str) -> None:
        self.send_json(self.standin.delete(table, self.item(table, key)))


class Assets(V1Handler):
    def get(self) -> None:
        self.send_page(list(self.table("assets").values()))

    def post(self) -> None:
        self.send_json(self.standin.create("assets", self.body_json()), 201)


class Asset(V1Handler):
    def asset(self, key: str) -> dict[str, Any]:
        return self.item("assets", key)

    def get(self, key: str) -> None:
        self.send_json(self.asset(key))

    def post(self, key: str) -> None:
        self.send_json(self.standin.update("assets", self.asset(key), self.body_json()))

    def delete(self, key: str) -> None:
        self.send_json(self.standin.delete("assets", self.asset(key)))


class AssetBySha(Asset):
    def asset(self, key: str) -> dict[str, Any]:
        found = next((a for a in self.table("assets").values() if a["sha512"] == key), None)
        if found is None:
            raise ApiError(404, f"Cannot find asset with sha512 '{key}'")
        return found


class Binary(V1Handler):
    def get(self, key: str) -> None:
        self.item("assets", key)
        if key not in self.standin.binaries:
            raise ApiError(404, f"Asset '{key}' has no binary data")
        data, content_type = self.standin.binaries[key]
        self.set_header("Content-Type", content_type)
        self.finish(data)

    def post(self, key: str) -> None:
        self.item("assets", key)
        files = [f for parts in self.request.files.values() for f in parts]
        if files:
            data, content_type = files[0]["body"], files[0]["content_type"]
        else:
            data = self.request.body
            content_type = self.request.headers.get("Content-Type", "application/octet-stream")
        self.send_json(self.standin.store_binary(key, data, content_type.split(";")[0].strip()))

    def delete(self, key: str) -> None:
        self.item("assets", key)
        self.send_json(self.standin.store_binary(key, None, None))


class AssetTags(V1Handler):
    def post(self, key: str) -> None:
        body, asset = self.body_json(), self.item("assets", key)
        tag = self.item("tags", str(body.get("uuid", "")))
        if tag["name"] not in asset["tags"]:
            asset["tags"].append(tag["name"])
        self.send_json(asset)


class AssetTag(V1Handler):
    def delete(self, key: str, tag_key: str) -> None:
        asset, tag = self.item("assets", key), self.item("tags", tag_key)
        if tag["name"] in asset["tags"]:
            asset["tags"].remove(tag["name"])
        self.send_json(asset)


class RunPipeline(V1Handler):
    def post(self, key: str) -> None:
        self.send_json(self.standin.run_pipeline(self.item("pipelines", key)), 202)


class PipelineEvents(V1Handler, tornado.websocket.WebSocketHandler):
    def check_origin(self, origin: str) -> bool:
        return True  # an API server, not a browser app: bearer auth is what guards it

    def open(self) -> None:
        self.standin.sockets.add(self)
        for run in self.standin.runs.values():
            if run["status"] == "running":
                for event in run["events"]:
                    self.write_message(json.dumps(event))

    def on_message(self, message: str | bytes) -> None:
        pass

    def on_close(self) -> None:
        self.standin.sockets.discard(self)


class LoomV1StandIn(StandIn):
    """The v1 asset server on 127.0.0.1; `users` maps username -> password."""

    kind = "loom-v1"
    OPTIONS = ("users", "token_lifetime", "event_delay")
    not_found = NotFound

    def __init__(self, users: dict[str, str] | None = None, token_lifetime: float = 300.0,
                 event_delay: float = 0.1) -> None:
        self.users = dict(users or DEFAULT_USERS)
        self.token_lifetime = token_lifetime
        self.event_delay = event_delay
        self.secret = secrets.token_bytes(32)
        self.sockets: set[PipelineEvents] = set()
        super().__init__()

    def routes(self) -> list[Route]:
        p = "/api/v1"
        return [
            (f"{p}/auth/login", Login), (f"{p}/auth/oauth2", OAuth2),
            (f"{p}/assets", Assets),
            (f"{p}/assets/sha512/([^/]+)", AssetBySha),
            (f"{p}/assets/([^/]+)", Asset), (f"{p}/assets/([^/]+)/binary", Binary),
            (f"{p}/assets/([^/]+)/tags", AssetTags), (f"{p}/assets/([^/]+)/tags/([^/]+)", AssetTag),
            (f"{p}/pipelines/events/ws", PipelineEvents),
            (f"{p}/pipelines/([^/]+)/run", RunPipeline),
            (f"{p}/({_TABLES})", Collection), (f"{p}/({_TABLES})/([^/]+)", Item),
        ]

    def credentials(self) -> list[dict[str, str]]:
        return [{"username": u, "password": p} for u, p in self.users.items()]

    @property
    def username(self) -> str:
        return next(iter(self.users))

    @property
    def password(self) -> str:
        return self.users[self.username]

    def login(self, username: str | None = None) -> str:
        """A fresh JWT for `username` (the first user by default), issued like a real login."""
        return self.call(lambda: self.issue(username or next(iter(self.users))))

    def _close_streams(self) -> None:
        for socket in list(self.sockets):
            socket.close()

    def expire_tokens(self) -> None:
        """Make every token issued so far answer 401 "Token expired" (no sleeping in tests)."""
        self.call(lambda: self.revoked.update(self.issued))

    # -- state (touched on the loop only) ----------------------------------------------------
    def _reset_state(self) -> None:
        self.passwords: dict[str, str] = {}
        self.issued: set[str] = set()
        self.revoked: set[str] = set()
        self.tables: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in ("assets", *TABLES)}
        self.binaries: dict[str, tuple[bytes, str]] = {}
        self.runs: dict[str, dict[str, Any]] = {}
        for username, password in self.users.items():
            self.create("users", {"username": username, "password": password})
        tags = {name: self.create("tags", {"name": name}) for name in ("demo", "raw")}
        for name, mime, data, tag_names in _SEED_ASSETS:
            asset = self.create("assets", {"name": name, "mimeType": mime})
            asset["tags"] = [tags[t]["name"] for t in tag_names]
            self.store_binary(asset["uuid"], data, mime)
        self.create("pipelines", {"name": "thumbnails", "steps": ["decode", "resize", "encode"]})
        self.create("groups", {"name": "editors"})
        for role in ("admin", "viewer"):
            self.create("roles", {"name": role})
        self.create("libraries", {"name": "Default library"})

    def issue(self, username: str) -> str:
        token = _jwt.issue(self.secret, username, self.token_lifetime)
        self.issued.add(_jwt.verify(self.secret, token)["jti"])
        return token

    def check_token(self, token: str | None) -> None:
        if token is None:
            raise ApiError(401, "Authorization required")
        try:
            claims = _jwt.verify(self.secret, token)
        except _jwt.TokenError as exc:
            raise ApiError(401, str(exc)) from None
        if claims.get("jti") in self.revoked:
            raise ApiError(401, "Token expired")

    def create(self, table: str, body: dict[str, Any]) -> dict[str, Any]:
        field = "username" if table == "users" else "name"
        if not isinstance(body.get(field), str) or not body[field]:
            raise ApiError(400, f"Field '{field}' is required")
        if table == "users" and body["username"] in self.passwords:
            raise ApiError(409, f"User '{body['username']}' already exists")
        if table == "assets":
            fields = {"name": body["name"],
                      "mimeType": str(body.get("mimeType") or "application/octet-stream"),
                      "size": 0, "sha512": None, "tags": []}
        else:
            fields = {k: v for k, v in body.items() if k != "password"}
        now = iso_now()
        record = {"uuid": self.new_id(table), **fields, "created": now, "edited": now}
        if table == "users" and isinstance(body.get("password"), str):
            self.passwords[body["username"]] = body["password"]
        self.tables[table][record["uuid"]] = record
        return record

    def update(self, table: str, record: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        fixed = {"uuid", "created", "edited", "size", "sha512"}
        if "name" in body and (not isinstance(body["name"], str) or not body["name"]):
            raise ApiError(400, "Field 'name' must be a non-empty string")
        if table == "users" and isinstance(body.get("password"), str):
            self.passwords[record["username"]] = body["password"]
        record.update({k: v for k, v in body.items() if k not in fixed and k != "password"})
        record["edited"] = iso_now()
        return record

    def delete(self, table: str, record: dict[str, Any]) -> dict[str, Any]:
        del self.tables[table][record["uuid"]]
        self.binaries.pop(record["uuid"], None)
        if table == "users":
            self.passwords.pop(record["username"], None)
        return record

    def store_binary(self, key: str, data: bytes | None, content_type: str | None) -> dict[str, Any]:
        asset = self.tables["assets"][key]
        if data is None:
            self.binaries.pop(key, None)
            asset.update(size=0, sha512=None)
        else:
            self.binaries[key] = (data, content_type or "application/octet-stream")
            asset.update(size=len(data), sha512=hashlib.sha512(data).hexdigest(),
                         mimeType=content_type or asset["mimeType"])
        asset["edited"] = iso_now()
        return asset

    def run_pipeline(self, pipeline: dict[str, Any]) -> dict[str, Any]:
        run = {"uuid": self.new_id("runs"), "pipeline": pipeline["uuid"], "status": "running",
               "started": iso_now()}
        self.runs[run["uuid"]] = {**run, "events": []}
        self.spawn(self._play(pipeline, run["uuid"]))
        return run

    async def _play(self, pipeline: dict[str, Any], run_id: str) -> None:
        steps = pipeline.get("steps") if isinstance(pipeline.get("steps"), list) else None
        count = len(steps or []) or 3
        base = {"pipeline": pipeline["uuid"], "run": run_id}
        events = [{"type": "pipeline.started", **base}]
        events += [{"type": "pipeline.progress", **base, "step": i, "steps": count,
                    "progress": round(i / count, 3)} for i in range(1, count + 1)]
        failed = bool(pipeline.get("fail"))
        events.append({"type": "pipeline.finished", **base,
                       "status": "failed" if failed else "success"})
        for event in events:
            await asyncio.sleep(self.event_delay)
            self._emit(run_id, {**event, "timestamp": iso_now()})

    def _emit(self, run_id: str, event: dict[str, Any]) -> None:
        run = self.runs[run_id]
        run["events"].append(event)
        if event["type"] == "pipeline.finished":
            run["status"] = event["status"]
        for socket in list(self.sockets):
            try:
                socket.write_message(json.dumps(event))
            except tornado.websocket.WebSocketClosedError:
                self.sockets.discard(socket)
