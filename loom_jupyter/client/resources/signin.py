"""`client.signin`: sign in to Loom as yourself, through the Jupyter server extension (proxy mode).

The extension runs Loom's device-code flow and keeps the token; these calls only start it,
watch it and end it, so no token ever reaches the kernel (loom-api.md §1.3).
"""
from __future__ import annotations

from .._base import Call, Flow
from .._errors import LoomConfigError
from .._retry import RetryPolicy, request
from ..models.common import SignInState
from ._resource import Resource, Result

_PATH = "/signin"  # relative to the proxy URL, `{base_url}loom/`


def state(policy: RetryPolicy) -> Flow[SignInState]:
    return (yield from request(Call("GET", _PATH, parse=SignInState.model_validate,
                                    idempotent=True), policy))


def start(policy: RetryPolicy) -> Flow[SignInState]:
    return (yield from request(Call("POST", _PATH, parse=SignInState.model_validate), policy))


def sign_out(policy: RetryPolicy) -> Flow[SignInState]:
    return (yield from request(Call("DELETE", _PATH, parse=SignInState.model_validate), policy))


class SignIn(Resource):
    """Sign-in held by the Jupyter server for its user (proxy mode only)."""

    def _check(self) -> None:
        if self._client.mode != "proxy":
            raise LoomConfigError(
                "Signing in needs the Jupyter server extension (proxy mode); this client talks "
                f"to {self._client.url} directly: use an API key (LOOM_API_KEY) instead.")

    def state(self) -> Result[SignInState]:
        """Who is signed in (and how), or the pending code; never a token."""
        self._check()
        return self._client._run(state(self._policy))  # type: ignore[no-any-return]

    def start(self) -> Result[SignInState]:
        """Start a device-code sign-in (or return the pending one): show `user_code` and
        `verification_url` to the person, then watch `state()`."""
        self._check()
        return self._client._run(start(self._policy))  # type: ignore[no-any-return]

    def sign_out(self) -> Result[SignInState]:
        """Forget the stored sign-in (revoked upstream where Loom allows)."""
        self._check()
        return self._client._run(sign_out(self._policy))  # type: ignore[no-any-return]
