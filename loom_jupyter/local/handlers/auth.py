"""`/api/auth/*`: who am I, one-shot WebSocket tokens, the `loom_session` cookie (loom-api.md §1)."""
from __future__ import annotations

from ..auth import SESSION_SECONDS
from ..base import SESSION_COOKIE, LocalHandler
from ..openapi import errors, json_response, obj


class MeHandler(LocalHandler):
    def get(self) -> None:
        self.write_json(self.state.auth.me(self.principal))


class WsTokenHandler(LocalHandler):
    """A `ws_` token for the session WebSocket's first message: 30 s, single use (§1.4)."""

    def get(self) -> None:
        token = self.state.auth.create_ws_token(self.principal)
        self.write_json({"token": token, "expires_in": round(self.state.config.ws_token_ttl)})


class SessionHandler(LocalHandler):
    """Local extension: trade a bearer key for a `loom_session` cookie (real Loom sets it after a
    magic link or OAuth, neither of which exists locally)."""

    def post(self) -> None:
        value = self.state.auth.create_session(self.principal)
        # No Secure flag: the local server speaks plain http on loopback (§1.2, §10.16).
        self.set_cookie(SESSION_COOKIE, value, path="/", max_age=SESSION_SECONDS,
                        httponly=True, samesite="Lax")
        self.write_json({"message": "Session created", "expires_in": SESSION_SECONDS}, 201)

    def delete(self) -> None:
        self._logout()

    def _logout(self) -> None:
        if cookie := self.get_cookie(SESSION_COOKIE):
            self.state.auth.delete_session(cookie)
        self.clear_cookie(SESSION_COOKIE, path="/")
        self.write_json({"message": "Logged out"})


class LogoutHandler(SessionHandler):
    def post(self) -> None:
        self._logout()


ROUTES = [
    (r"/api/auth/me", MeHandler),
    (r"/api/auth/ws-token", WsTokenHandler),
    (r"/auth/ws-token", WsTokenHandler),
    (r"/api/auth/session", SessionHandler),
    (r"/api/auth/logout", LogoutHandler),
]

_ME = obj({"id": {"type": "string"}, "display_name": {"type": "string"},
           "global_roles": {"type": "array", "items": {"type": "string",
                                                        "enum": ["support", "system_admin"]}},
           "created_at": {"type": "string"}}, ["id", "display_name", "global_roles"])
_WS_TOKEN = obj({"token": {"type": "string", "pattern": "^ws_[0-9a-f]{32}$"},
                 "expires_in": {"type": "integer"}}, ["token", "expires_in"])
_MESSAGE = obj({"message": {"type": "string"}, "expires_in": {"type": "integer"}}, ["message"])
_WS_TOKEN_OP = {"get": {"summary": "A one-shot WebSocket token (30 s, single use)",
                        "tags": ["auth"],
                        "responses": {"200": json_response("The token", _WS_TOKEN), **errors(401)}}}

OPENAPI_PATHS = {
    "/api/auth/me": {"get": {"summary": "The authenticated user", "tags": ["auth"],
                             "responses": {"200": json_response("The user", _ME), **errors(401)}}},
    "/api/auth/ws-token": _WS_TOKEN_OP,
    "/auth/ws-token": _WS_TOKEN_OP,
    "/api/auth/session": {
        "post": {"summary": "Local extension: set a `loom_session` cookie for the caller",
                 "tags": ["auth"],
                 "responses": {"201": json_response("Cookie set", _MESSAGE), **errors(401)}},
        "delete": {"summary": "End the cookie session", "tags": ["auth"],
                   "responses": {"200": json_response("Cookie cleared", _MESSAGE), **errors(401)}},
    },
    "/api/auth/logout": {"post": {"summary": "End the cookie session", "tags": ["auth"],
                                  "responses": {"200": json_response("Cookie cleared", _MESSAGE),
                                                **errors(401)}}},
}
