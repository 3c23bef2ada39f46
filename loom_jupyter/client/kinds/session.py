"""A signed-in session with a password or token-file kind, used directly (not through the proxy).

The session holds the JWT, signs in before the first request and again when the JWT's `exp` has
passed, and signs in once more when a request is answered 401; a second 401 is a clear error.
It is sans-I/O: `authorize(flow)` wraps a flow and yields the sign-in call like any other call.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .._base import Call, Flow, OpenStream
from .._errors import AuthenticationError, LoomConfigError, LoomError
from .._settings import Secret, SecretList
from .base import Kind, Token, token_from

# Sign in again this long before `exp`, so a request does not leave with a JWT about to lapse.
EXPIRY_MARGIN = 0.25
_KEEP_OLD_TOKENS = 8


class Session:
    """The bearer JWT of one client; never shows the password or the JWT in its repr."""

    def __init__(
        self,
        kind: Kind,
        *,
        username: str | None = None,
        password: str | None = None,
        token_file: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if password is not None and username is None:
            raise LoomConfigError(f"A {kind.title} password needs username= too.")
        if username is not None and kind.login is None:
            raise LoomConfigError(f"{kind.title} does not sign in with a username and password; "
                                  "pass api_key= instead.")
        if token_file is not None and kind.read_token_file is None:
            raise LoomConfigError(f"{kind.title} has no token file; pass another credential.")
        self.kind = kind
        self.username = username
        self._password = Secret(password) if password is not None else None
        self._token_file = token_file
        self._clock = clock
        self._token: Token | None = None
        self._seen: list[str] = []
        self.sign_ins = 0
        if token_file is not None:
            self._adopt(token_from(kind.read_token_file(token_file)))  # type: ignore[misc]

    def __repr__(self) -> str:
        who = f"username={self.username!r}" if self.username else f"token_file={self._token_file!r}"
        return f"Session({self.kind.name!r}, {who}, signed_in={self._token is not None})"

    @property
    def expires_at(self) -> float | None:
        return self._token.expires_at if self._token else None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token.secret}"} if self._token else {}

    def secrets(self) -> list[str]:
        found = SecretList(self._seen)
        if self._password and len(self._password.reveal()) >= 4:
            found.append(self._password.reveal())
        return found

    def _adopt(self, token: Token) -> None:
        self._token = token
        if token.secret not in self._seen:
            self._seen.append(token.secret)
            del self._seen[:-_KEEP_OLD_TOKENS]

    def _stale(self) -> bool:
        if self._token is None:
            return self._password is not None
        return self._password is not None and self._token.expired(self._clock(), EXPIRY_MARGIN)

    def ensure(self) -> Flow[None]:
        """Sign in first when there is no JWT yet or its `exp` has passed."""
        if self._stale():
            yield from self.sign_in()

    def sign_in(self) -> Flow[bool]:
        """Log in again with the password, or re-read the token file; False if nothing changed."""
        if self._password is not None:
            call = replace(self.kind.login(self.username, self._password.reveal()),  # type: ignore[misc,arg-type]
                           auth=False)
            try:
                token = yield call
            except AuthenticationError as exc:
                raise AuthenticationError(
                    f"Signing in to {self.kind.title} as {self.username!r} failed: "
                    f"{_platform_words(exc)}.", status_code=exc.status_code, code=exc.code,
                    body=exc.body, method=exc.method, path=exc.path,
                ) from None
            self.sign_ins += 1
            self._adopt(token)
            return True
        if self._token_file is not None:
            old = self._token
            self._adopt(token_from(self.kind.read_token_file(self._token_file)))  # type: ignore[misc]
            return old is None or old.secret != self._token.secret  # type: ignore[union-attr]
        return False

    def perform(self, op: Any) -> Flow[Any]:
        """Send one call (or open one stream) signed in; on 401 sign in once and send it again."""
        if self._stale():
            yield from self.sign_in()
        try:
            return (yield op)
        except AuthenticationError as exc:
            first = exc
        if not (yield from self.sign_in()):
            raise _refused(first, self, renewed=False)
        try:
            return (yield op)
        except AuthenticationError as exc:
            raise _refused(exc, self, renewed=True) from None

    def authorize(self, flow: Flow[Any]) -> Flow[Any]:
        """`flow` with every Call/OpenStream sent through `perform` (other operations pass through)."""
        value: Any = None
        error: LoomError | None = None
        try:
            while True:
                try:
                    op = flow.throw(error) if error else flow.send(value)
                except StopIteration as stop:
                    return stop.value
                value, error = None, None
                try:
                    if _signed(op):
                        value = yield from self.perform(op)
                    else:
                        value = yield op
                except LoomError as exc:
                    error = exc
        finally:
            flow.close()


def _signed(op: Any) -> bool:
    call = op.call if isinstance(op, OpenStream) else op
    return isinstance(call, Call) and call.auth


def _platform_words(exc: AuthenticationError) -> str:
    """The part of an error sentence after 'failed with HTTP 401 (...): '."""
    text = exc.message.rstrip(".")
    _, sep, tail = text.partition(": ")
    return tail if sep else "the server refused the credentials (HTTP 401)"


def _refused(exc: AuthenticationError, session: Session, *, renewed: bool) -> AuthenticationError:
    if renewed:
        how = f"even after signing in again as {session.username!r}"
    elif session._token_file is not None:
        how = (f"with the token from {session._token_file!r} (expired? sign in to "
               f"{session.kind.title} again to refresh it)")
    else:
        how = "and no password is known to sign in again"
    return AuthenticationError(
        f"{exc.method} {exc.path} was refused (HTTP 401) {how}: {_platform_words(exc)}.",
        status_code=exc.status_code, code=exc.code, body=exc.body, method=exc.method, path=exc.path,
    )
