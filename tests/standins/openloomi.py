"""Stand-in for openloomi's API (seed 003): email/password login, token refresh, the base64
token file, and streaming chat (OpenAI-style SSE).

Wire facts (seed 003, and the issue-13 contract where the seed is silent):
- `POST /api/remote-auth/login {"email","password"}` -> `{"user":{"id","email","name"},"token":JWT}`
  (HS256, `exp` = now + `token_lifetime`); `POST /api/remote-auth/register` likewise (201);
  `POST /api/remote-auth/refresh` (Bearer, still valid) -> `{"token": new JWT}`;
  `GET|PUT /api/remote-auth/user`, `GET /api/remote-auth/subscription`, `GET /api/user/identity`,
  `PUT /api/user/password {"currentPassword","newPassword"}`, `POST /api/auth/set-token`.
- Token file: base64 (standard alphabet) of the JWT, written by `write_token_file`.
- Errors `{"error", "code"?, "cause"?}`; no token -> 401 code "unauthorized", expired (or revoked
  by `expire_tokens()`) -> 401 `{"error":"Token expired","code":"token_expired"}`, forged ->
  401 code "invalid_token"; bad body -> 400 code "validation_error" with a `cause`.
- `GET /api/ai/chat` (no auth) -> `{"status":"ok"}`; `GET /api/ai/v1/models` ->
  `{"object":"list","data":[{"id","object":"model","owned_by"}]}`;
  `POST /api/ai/v1/chat/completions {"model"?,"messages","stream"}` and (our assumption, same
  framing) `POST /api/ai/chat {"messages","stream"}`: with `stream` true, SSE lines
  `data: {"id","object":"chat.completion.chunk","created","model","choices":[{"index":0,
  "delta":{...},"finish_reason":null}]}` (a role chunk, one chunk per word `chunk_delay` s
  apart, a `finish_reason: "stop"` chunk) then `data: [DONE]`; otherwise one `chat.completion`.
  The reply is deterministic: `Hello from the openloomi stand-in. You said: <last user text>`.
"""
from __future__ import annotations

import asyncio
import base64
import os
import secrets
import time
from pathlib import Path
from typing import Any, ClassVar

from tornado.iostream import StreamClosedError

from tests.standins import _jwt
from tests.standins._server import ApiError, Handler, Route, StandIn, words

DEFAULT_USERS = {"user@example.com": "password123"}
MODELS = ("openloomi-default", "openloomi-fast")


def reply_for(messages: list[dict[str, Any]]) -> str:
    """The stand-in's (deterministic) answer to a conversation."""
    last = next((m for m in reversed(messages) if m.get("role") == "user"), messages[-1])
    content = last.get("content", "")
    if isinstance(content, list):  # OpenAI content parts
        content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return f"Hello from the openloomi stand-in. You said: {content}"


class LoomiHandler(Handler):
    """Every openloomi route: errors as {"error","code"?,"cause"?}, Bearer JWT unless public."""

    standin: OpenLoomiStandIn
    public_methods: ClassVar[frozenset[str]] = frozenset()

    def error_body(self, status: int, message: str, extra: dict[str, Any]) -> dict[str, Any]:
        return {"error": message, **extra}

    def prepare(self) -> None:
        super().prepare()
        self.user: dict[str, Any] = {}
        if self.request.method not in self.public_methods:
            self.user = self.standin.check_token(self.bearer())

    def fields(self, *names: str) -> list[str]:
        body = self.body_json()
        missing = [n for n in names if not isinstance(body.get(n), str) or not body[n]]
        if missing:
            raise ApiError(400, "Invalid request body", code="validation_error",
                           cause=f"{', '.join(missing)}: Required")
        return [body[n] for n in names]


class NotFound(LoomiHandler):
    public_methods = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})

    def prepare(self) -> None:
        super().prepare()
        raise ApiError(404, "Not Found", code="not_found")


class Login(LoomiHandler):
    public_methods = frozenset({"POST"})

    def post(self) -> None:
        email, password = self.fields("email", "password")
        user = self.standin.users_by_email.get(email)
        if user is None or not secrets.compare_digest(user["password"].encode(), password.encode()):
            raise ApiError(401, "Invalid email or password", code="invalid_credentials")
        self.send_json({"user": public(user), "token": self.standin.issue(email)})


class Register(LoomiHandler):
    public_methods = frozenset({"POST"})

    def post(self) -> None:
        email, password = self.fields("email", "password")
        if email in self.standin.users_by_email:
            raise ApiError(409, "User already exists", code="user_exists")
        user = self.standin.add_user(email, password, self.body_json().get("name"))
        self.send_json({"user": public(user), "token": self.standin.issue(email)}, 201)


class Refresh(LoomiHandler):
    def post(self) -> None:
        self.send_json({"token": self.standin.issue(self.user["email"])})


class CurrentUser(LoomiHandler):
    def get(self) -> None:
        self.send_json(public(self.user))

    def put(self) -> None:
        name = self.body_json().get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "Invalid request body", code="validation_error",
                           cause="name: Expected string")
        self.user["name"] = name
        self.send_json(public(self.user))


class Subscription(LoomiHandler):
    def get(self) -> None:
        self.send_json({"plan": "free", "status": "active"})


class Password(LoomiHandler):
    def put(self) -> None:
        current, new = self.fields("currentPassword", "newPassword")
        if not secrets.compare_digest(self.user["password"].encode(), current.encode()):
            raise ApiError(400, "Current password is incorrect", code="invalid_password")
        self.user["password"] = new
        self.send_json({"success": True})


class SetToken(LoomiHandler):
    public_methods = frozenset({"POST"})

    def post(self) -> None:
        self.fields("token")
        self.send_json({"success": True})


class Models(LoomiHandler):
    def get(self) -> None:
        self.send_json({"object": "list", "data": [
            {"id": m, "object": "model", "owned_by": "openloomi"} for m in MODELS]})


class Completions(LoomiHandler):
    public_methods = frozenset({"GET"})

    def get(self) -> None:
        self.send_json({"status": "ok"})

    async def post(self) -> None:
        body = self.body_json()
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) for m in messages):
            raise ApiError(400, "Invalid request body", code="validation_error",
                           cause="messages: Expected a non-empty array of messages")
        model = body.get("model") or MODELS[0]
        if model not in MODELS:
            raise ApiError(404, f"Model '{model}' not found", code="model_not_found")
        text = reply_for(messages)
        if body.get("stream"):
            await self.stream(model, text)
        else:
            self.send_json(completion(model, text))

    async def stream(self, model: str, text: str) -> None:
        self.start_sse()
        ident, created = f"chatcmpl-{secrets.token_hex(6)}", int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": ident, "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [{"index": 0, "delta": delta,
                                                 "finish_reason": finish}]}

        try:
            await self.sse(chunk({"role": "assistant", "content": ""}))
            for part in words(text):
                await asyncio.sleep(self.standin.chunk_delay)
                await self.sse(chunk({"content": part}))
            await self.sse(chunk({}, "stop"))
            await self.sse("[DONE]")
        except StreamClosedError:
            pass  # recorded in `disconnects` by on_connection_close


def completion(model: str, text: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-{secrets.token_hex(6)}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": len(words(text)),
                      "total_tokens": len(words(text))}}


def public(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "email": user["email"], "name": user["name"]}


class OpenLoomiStandIn(StandIn):
    """openloomi's API on 127.0.0.1; `users` maps email -> password."""

    kind = "openloomi"
    OPTIONS = ("users", "token_lifetime", "chunk_delay")
    not_found = NotFound

    def __init__(self, users: dict[str, str] | None = None, token_lifetime: float = 300.0,
                 chunk_delay: float = 0.02) -> None:
        self.users = dict(users or DEFAULT_USERS)
        self.token_lifetime = token_lifetime
        self.chunk_delay = chunk_delay
        self.secret = secrets.token_bytes(32)
        super().__init__()

    def routes(self) -> list[Route]:
        return [
            ("/api/remote-auth/login", Login), ("/api/remote-auth/register", Register),
            ("/api/remote-auth/refresh", Refresh), ("/api/remote-auth/user", CurrentUser),
            ("/api/remote-auth/subscription", Subscription), ("/api/user/identity", CurrentUser),
            ("/api/user/password", Password), ("/api/auth/set-token", SetToken),
            ("/api/ai/chat", Completions), ("/api/ai/v1/chat/completions", Completions),
            ("/api/ai/v1/models", Models),
        ]

    def credentials(self) -> list[dict[str, str]]:
        return [{"email": e, "password": p} for e, p in self.users.items()]

    @property
    def email(self) -> str:
        return next(iter(self.users))

    @property
    def password(self) -> str:
        return self.users[self.email]

    def login(self, email: str | None = None) -> str:
        """A fresh JWT for `email` (the first user by default), issued like a real login."""
        return self.call(lambda: self.issue(email or next(iter(self.users))))

    def write_token_file(self, path: str | os.PathLike[str], email: str | None = None) -> Path:
        """Write what the desktop app keeps in ~/.openloomi/token: base64 of a fresh JWT."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(base64.b64encode(self.login(email).encode()).decode() + "\n")
        target.chmod(0o600)
        return target

    def expire_tokens(self) -> None:
        """Make every token issued so far answer 401 "Token expired" (no sleeping in tests)."""
        self.call(lambda: self.revoked.update(self.issued))

    # -- state (touched on the loop only) ----------------------------------------------------
    def _reset_state(self) -> None:
        self.users_by_email: dict[str, dict[str, Any]] = {}
        self.issued: set[str] = set()
        self.revoked: set[str] = set()
        for email, password in self.users.items():
            self.add_user(email, password, None)

    def add_user(self, email: str, password: str, name: Any) -> dict[str, Any]:
        ident = "user_" + self.new_id("users").replace("-", "")[:12]
        user = {"id": ident, "email": email, "password": password,
                "name": name if isinstance(name, str) and name else email.split("@")[0]}
        self.users_by_email[email] = user
        return user

    def issue(self, email: str) -> str:
        user = self.users_by_email[email]
        token = _jwt.issue(self.secret, user["id"], self.token_lifetime, email=email)
        self.issued.add(_jwt.verify(self.secret, token)["jti"])
        return token

    def check_token(self, token: str | None) -> dict[str, Any]:
        if token is None:
            raise ApiError(401, "Unauthorized", code="unauthorized")
        try:
            claims = _jwt.verify(self.secret, token)
        except _jwt.TokenError as exc:
            code = "token_expired" if exc.expired else "invalid_token"
            raise ApiError(401, str(exc), code=code) from None
        if claims.get("jti") in self.revoked:
            raise ApiError(401, "Token expired", code="token_expired")
        user = self.users_by_email.get(str(claims.get("email")))
        if user is None:
            raise ApiError(401, "Invalid token", code="invalid_token")
        return user
