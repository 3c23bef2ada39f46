"""Who am I, which orgs, health, WebSocket tokens, and the device-code sign-in (§1.3)."""
from __future__ import annotations

from .._base import Call, Flow
from .._errors import LoomError, NotFoundError
from .._retry import RetryPolicy, request
from ..models.common import DeviceCode, DevicePoll, Health, Org, OrgList, User, WsToken
from ._resource import Resource, Result


def health(policy: RetryPolicy) -> Flow[Health]:
    # /health answers 503 with a full body when unhealthy (loom-api.md §7): return it.
    call = Call("GET", "/health", parse=Health.model_validate, accept_status=frozenset({503}),
                idempotent=True)
    return (yield from request(call, policy))


def me(policy: RetryPolicy) -> Flow[User]:
    return (yield from request(Call("GET", "/api/auth/me", parse=User.model_validate, idempotent=True), policy))


def _orgs(data: object) -> OrgList:
    items = data.get("orgs", []) if isinstance(data, dict) else data
    return OrgList(Org.model_validate(o) for o in items)  # type: ignore[union-attr]


def orgs(policy: RetryPolicy) -> Flow[OrgList]:
    return (yield from request(Call("GET", "/api/orgs", parse=_orgs, idempotent=True), policy))


def default_org_id(policy: RetryPolicy) -> Flow[str]:
    found = yield from orgs(policy)
    if len(found) == 1:
        return found[0].id
    if not found:
        raise LoomError("This Loom account belongs to no organization, so pass org_id explicitly.")
    names = ", ".join(f"{o.name or '?'} ({o.id})" for o in found)
    raise LoomError(f"This Loom account belongs to several organizations ({names}): pass org_id.")


def ws_token(policy: RetryPolicy) -> Flow[WsToken]:
    """The router serves /api/auth/ws-token, the docs say /auth/ws-token (§1.4): try both."""
    try:
        return (yield from request(Call("GET", "/api/auth/ws-token", parse=WsToken.model_validate,
                                        idempotent=True), policy))
    except NotFoundError:
        return (yield from request(Call("GET", "/auth/ws-token", parse=WsToken.model_validate,
                                        idempotent=True), policy))


def device_start(policy: RetryPolicy) -> Flow[DeviceCode]:
    """Begin a sign-in: a code for a person to approve at `verification_url` (public route)."""
    return (yield from request(Call("POST", "/api/auth/device/start",
                                    parse=DeviceCode.model_validate), policy))


def device_poll(policy: RetryPolicy, device_code: str) -> Flow[DevicePoll]:
    """Has the person approved? The spec polls once a second (public route)."""
    return (yield from request(Call("POST", "/api/auth/device/poll",
                                    json={"device_code": device_code},
                                    parse=DevicePoll.model_validate, idempotent=True), policy))


def device_complete(policy: RetryPolicy, user_code: str) -> Flow[None]:
    """Approve someone's code as the caller (what Loom's /device page does)."""
    yield from request(Call("POST", "/api/auth/device/complete", json={"user_code": user_code},
                            expect="empty"), policy)


def logout(policy: RetryPolicy) -> Flow[None]:
    """End the caller's session or access token upstream (`POST /api/auth/logout`)."""
    yield from request(Call("POST", "/api/auth/logout", expect="empty"), policy)


class Auth(Resource):
    """`client.auth`: credentials for WebSockets."""

    def ws_token(self) -> Result[WsToken]:
        """A single-use `ws_` token for first-message WebSocket auth (30 s)."""
        return self._client._run(ws_token(self._policy))  # type: ignore[no-any-return]

    def device_start(self) -> Result[DeviceCode]:
        """Start a device-code sign-in; show `user_code` and `verification_url` to a person."""
        return self._client._run(device_start(self._policy))  # type: ignore[no-any-return]

    def device_poll(self, device_code: str) -> Result[DevicePoll]:
        """One poll of a device-code sign-in: `pending`, `completed` (with the token) or `expired`."""
        return self._client._run(device_poll(self._policy, device_code))  # type: ignore[no-any-return]

    def device_complete(self, user_code: str) -> Result[None]:
        """Approve a device code as the caller."""
        return self._client._run(device_complete(self._policy, user_code))  # type: ignore[no-any-return]

    def logout(self) -> Result[None]:
        """End the caller's session or access token upstream."""
        return self._client._run(logout(self._policy))  # type: ignore[no-any-return]
