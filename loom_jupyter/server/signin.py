"""Sign in to Loom as yourself: the device-code flow (loom-api.md §1.3), run by the server.

The kernel or the browser asks `{base_url}loom/signin` to start; they get the user code and the
link to show a person, and watch the state. The server polls Loom, receives the `lt_` token,
checks who it belongs to, stores it (credentials.SignInStore) and uses it. The token travels
from Loom to this process only: no answer of these routes carries it.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..client import AuthenticationError, LoomError
from .base import LoomAuthMixin, ProxyError
from .credentials import Credential, SignInStore
from .sdk import ServerLoom
from .sources import PasswordSource

if TYPE_CHECKING:
    from ..client.models.common import DeviceCode
    from .connections import Connection

__all__ = ["DeviceSignIn", "SignInHandler"]

POLL_INTERVAL = 1.0  # the spec polls once a second


class DeviceSignIn:
    """One sign-in at a time for this server; `view()` is what anyone may see of it."""

    def __init__(self, connection: Connection, poll_interval: float = POLL_INTERVAL) -> None:
        self.connection = connection
        self.poll_interval = poll_interval
        self._task: asyncio.Future[None] | None = None
        self._pending: dict[str, Any] = {}
        self._expires_at = 0.0
        self._outcome: dict[str, str] = {}

    # -- what callers see -------------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        credential = self.connection.credential
        state = "signed_in" if credential is not None else "signed_out"
        out: dict[str, Any] = {"url": self.connection.display_url, "state": state,
                               "credential": credential.describe() if credential else None}
        if self.pending:
            out.update(state="pending", **self._pending,
                       expires_in=max(0, round(self._expires_at - time.monotonic())))
        elif self._outcome:
            out["last_attempt"] = dict(self._outcome)
        return out

    @property
    def pending(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def _hint(self) -> str:
        return self.connection.login_hint

    def _store(self) -> SignInStore:
        return SignInStore(Path(self.connection.signin_dir), self.connection.url)

    # -- starting, polling, finishing ----------------------------------------------------------
    async def start(self) -> dict[str, Any]:
        """Begin (or keep showing) a sign-in; the same code while one is pending."""
        if not self.connection.configured:
            raise ProxyError(503, "not_configured", "No Loom URL is configured: set "
                             "c.LoomJupyter.url or the LOOM_URL environment variable.")
        if not self.pending:
            code = await self._device_start()
            self._pending = {"user_code": code.user_code,
                             "verification_url": code.verification_url}
            self._expires_at = time.monotonic() + code.expires_in
            self._outcome = {}
            self._task = asyncio.ensure_future(self._poll(code))
        return self.view()

    async def _device_start(self) -> DeviceCode:
        try:
            return await self.connection.public_client.auth.device_start()  # type: ignore[no-any-return]
        except LoomError as exc:
            raise ProxyError(502, "signin_unavailable", f"Loom at "
                             f"{self.connection.display_url} could not start a sign-in: {exc}") \
                from None

    async def _poll(self, code: DeviceCode) -> None:
        try:
            while time.monotonic() < self._expires_at:
                await asyncio.sleep(self.poll_interval)
                token = await self._poll_once(code.device_code)
                if token is not None:
                    await self._finish(token)
                    return
            self._fail("expired", "The sign-in code expired before it was approved: run "
                       f"{self._hint} again.")
        except _Ended:
            pass
        finally:
            self._pending = {}

    async def _poll_once(self, device_code: str) -> str | None:
        try:
            answer = await self.connection.public_client.auth.device_poll(device_code)
        except AuthenticationError:
            raise self._fail("denied", f"Loom refused the sign-in: run {self._hint} again.") \
                from None
        except LoomError:
            return None  # transient (Loom restarting, a dropped connection): poll again
        if answer.status == "completed" and answer.access_token:
            return str(answer.access_token)
        if answer.status in ("expired", "denied"):
            raise self._fail(answer.status, f"The sign-in was {answer.status}: run "
                             f"{self._hint} again.")
        return None

    async def _finish(self, token: str) -> None:
        try:
            async with ServerLoom(self.connection.url, token, max_retries=1) as loom:
                me = await loom.me()
        except LoomError:
            raise self._fail("failed", "Loom did not accept the new sign-in: run "
                             f"{self._hint} again.") from None
        who = me.display_name or getattr(me, "username", None) or me.id
        credential = self._store().save(token, who)
        current = self.connection.credential
        if current is None or current.source == "sign-in":
            await self.connection.use_credential(credential)
        self._outcome = {"state": "signed_in", "message": f"Signed in to "
                         f"{self.connection.display_url} as {who}."}
        if current is not None and current.source != "sign-in":
            self._outcome["message"] += (f" The {current.source} key configured for this "
                                         "server still takes precedence.")

    def _fail(self, state: str, message: str) -> _Ended:
        self._outcome = {"state": state, "message": message}
        return _Ended()

    # -- signing out --------------------------------------------------------------------------
    async def sign_out(self) -> dict[str, Any]:
        """Forget the stored sign-in (revoking it upstream first, where Loom allows)."""
        self.cancel()
        stored = self._store().load()
        if stored is not None:
            await _revoke(self.connection.url, stored)
            self._store().forget()
        current = self.connection.credential
        if current is not None and current.source == "sign-in":
            await self.connection.use_credential(None)
        self._outcome = {"state": "signed_out", "message": (
            f"Signed out of {self.connection.display_url}." if stored else "There was no sign-in.")}
        return self.view()

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._pending = {}


class _Ended(Exception):
    """The poll loop ends with an outcome already recorded."""


async def _revoke(url: str, credential: Credential) -> None:
    try:
        async with ServerLoom(url, credential.secret, max_retries=0, timeout=5.0) as loom:
            await loom.auth.logout()
    except LoomError:
        pass  # gone already, or no such route: forgetting it here is what matters


MAX_PASSWORD = 4096


class SignInHandler(LoomAuthMixin):
    """`{base_url}loom/signin` and `loom/connections/NAME/signin`: GET the state; POST starts a
    device sign-in (Loom) or signs in with `{"username", "password"}` (password kinds); DELETE
    signs out. No answer carries a credential; a password lives in this process's memory only."""

    async def get(self, *args: str) -> None:
        await self.authorize_loom("read")
        self.send_json(self._view())

    async def post(self, *args: str) -> None:
        await self.authorize_loom("write")
        connection = self.connection
        if connection.signin is not None:
            self.send_json(await connection.signin.start())
        elif isinstance(connection.source, PasswordSource):
            username, password = self._credentials(connection.source.username)
            await connection.source.sign_in(connection, username, password)
            self.send_json(self._view())
        else:
            raise self._nothing_to_sign_in()

    async def delete(self, *args: str) -> None:
        await self.authorize_loom("write")
        connection = self.connection
        if connection.signin is not None:
            self.send_json(await connection.signin.sign_out())
        elif isinstance(connection.source, PasswordSource):
            await connection.source.forget(connection)
            self.send_json(self._view())
        else:
            raise self._nothing_to_sign_in()

    def _view(self) -> dict[str, Any]:
        connection = self.connection
        if connection.signin is not None:
            return connection.signin.view()
        credential = connection.credential
        view: dict[str, Any] = {
            "url": connection.display_url, "connection": connection.name,
            "state": "signed_in" if credential is not None else "signed_out",
            "credential": credential.describe() if credential else None,
            "source": connection.credential_label()}
        if isinstance(connection.source, PasswordSource):
            view["username"] = connection.source.username
        return view

    def _credentials(self, configured: str) -> tuple[str, str]:
        try:
            body = json.loads(self.request.body or b"{}")
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            raise ProxyError(400, "bad_request", 'Send {"username": ..., "password": ...}.')
        username = body.get("username") or configured
        password = body.get("password")
        if not isinstance(username, str) or not username or len(username) > 256:
            raise ProxyError(400, "bad_request", "A username is needed to sign in.")
        if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD:
            raise ProxyError(400, "bad_request", "A password is needed to sign in.")
        return username, password

    def _nothing_to_sign_in(self) -> ProxyError:
        connection = self.connection
        return ProxyError(400, "no_signin", f"Connection {connection.name!r} uses its "
                          f"{connection.credential_label()}; there is nothing to sign in to.")
