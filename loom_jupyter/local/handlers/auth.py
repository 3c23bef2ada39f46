"""`/api/auth/*`: who am I, sign-in providers, the device-code flow, one-shot WebSocket tokens,
the `loom_session` cookie, logout (loom-api.md §1)."""
from __future__ import annotations

from ..auth import SESSION_SECONDS
from ..base import SESSION_COOKIE, LocalHandler
from ..openapi import errors, json_body, json_response, obj


class ProvidersHandler(LocalHandler):
    """No OAuth app and no SMTP locally, so no sign-in provider is configured: an honest `[]`
    (Loom lists only configured ones; keys and the device flow need none)."""

    auth_required = False

    def get(self) -> None:
        self.write_json({"providers": []})


class DeviceStartHandler(LocalHandler):
    auth_required = False

    def post(self) -> None:
        base = f"{self.request.protocol}://{self.request.host}"
        self.write_json(self.state.devices.start(base))


class DevicePollHandler(LocalHandler):
    auth_required = False

    def post(self) -> None:
        self.write_json(self.state.devices.poll(self.json_body().get("device_code")))


class DeviceCompleteHandler(LocalHandler):
    def post(self) -> None:
        self.state.devices.approve(self.principal.user_id, self.json_body().get("user_code"))
        self.write_json({"message": "Device authorized"})


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
        if cookie := self.get_cookie(SESSION_COOKIE):
            self.state.auth.delete_session(cookie)
        self._cleared()

    def _cleared(self) -> None:
        self.clear_cookie(SESSION_COOKIE, path="/")
        self.write_json({"message": "Logged out"})


class LogoutHandler(SessionHandler):
    """Ends the credential of the call: its cookie session, or its `lt_` token (§1.3)."""

    def post(self) -> None:
        self.state.auth.logout(self.principal, self.get_cookie(SESSION_COOKIE))
        self._cleared()


ROUTES = [
    (r"/api/auth/providers", ProvidersHandler),
    (r"/api/auth/device/start", DeviceStartHandler),
    (r"/api/auth/device/poll", DevicePollHandler),
    (r"/api/auth/device/complete", DeviceCompleteHandler),
    (r"/api/auth/me", MeHandler),
    (r"/api/auth/ws-token", WsTokenHandler),
    (r"/auth/ws-token", WsTokenHandler),
    (r"/api/auth/session", SessionHandler),
    (r"/api/auth/logout", LogoutHandler),
]

_STR, _NSTR = {"type": "string"}, {"type": "string", "nullable": True}
_ME = obj({"id": _STR, "display_name": _STR, "email": _NSTR, "avatar_url": _NSTR,
           "locale": _NSTR,
           "global_roles": {"type": "array", "items": {"type": "string",
                                                        "enum": ["support", "system_admin"]}},
           "created_at": _STR},
          ["id", "display_name", "email", "avatar_url", "locale", "global_roles"])
_PROVIDERS = obj({"providers": {"type": "array", "items": {
    "type": "string", "enum": ["github", "google", "okta", "magic_link"]}}}, ["providers"])
_DEVICE_START = obj({"device_code": {"type": "string", "format": "uuid"},
                     "user_code": {"type": "string", "pattern": "^[0-9]{3}-[0-9]{3}-[0-9]{3}$"},
                     "verification_url": _STR, "expires_in": {"type": "integer", "minimum": 1}},
                    ["device_code", "user_code", "verification_url", "expires_in"])
_DEVICE_POLL = obj({"status": {"type": "string", "enum": ["pending", "completed", "expired"]},
                    "access_token": {"type": "string", "pattern": "^lt_[0-9a-f]{64}$"}},
                   ["status"])
_WS_TOKEN = obj({"token": {"type": "string", "pattern": "^ws_[0-9a-f]{32}$"},
                 "expires_in": {"type": "integer"}}, ["token", "expires_in"])
_MESSAGE = obj({"message": {"type": "string"}, "expires_in": {"type": "integer"}}, ["message"])
_WS_TOKEN_OP = {"get": {"summary": "A one-shot WebSocket token (30 s, single use)",
                        "tags": ["auth"],
                        "responses": {"200": json_response("The token", _WS_TOKEN), **errors(401)}}}

OPENAPI_PATHS = {
    "/api/auth/providers": {"get": {
        "summary": "Configured sign-in providers (none locally)", "tags": ["auth"],
        "security": [], "responses": {"200": json_response("Providers", _PROVIDERS)}}},
    "/api/auth/device/start": {"post": {
        "summary": "Start a device-code sign-in: a code to show a person, valid 600 s",
        "tags": ["auth"], "security": [],
        "responses": {"200": json_response("The codes", _DEVICE_START)}}},
    "/api/auth/device/poll": {"post": {
        "summary": "Poll a device code (every 1 s): `completed` pays out the `lt_` token once",
        "tags": ["auth"], "security": [],
        "requestBody": json_body(obj({"device_code": {"type": "string", "format": "uuid"}},
                                     ["device_code"])),
        "responses": {"200": json_response("Its status", _DEVICE_POLL),
                      **errors(400, 413, 415)}}},
    "/api/auth/device/complete": {"post": {
        "summary": "Approve a user code as the caller (what the /device page does)",
        "tags": ["auth"],
        "requestBody": json_body(obj({"user_code": _STR}, ["user_code"])),
        "responses": {"200": json_response("Approved", obj({"message": _STR}, ["message"])),
                      **errors(400, 401, 413, 415)}}},
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
    "/api/auth/logout": {"post": {"summary": "End the caller's cookie session or revoke its "
                                             "`lt_` access token", "tags": ["auth"],
                                  "responses": {"200": json_response("Cookie cleared", _MESSAGE),
                                                **errors(401)}}},
}
