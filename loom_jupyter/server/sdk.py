"""The SDK as the server uses it for its own calls to Loom, with the relay's rules."""
from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

from ..client import AsyncLoom

__all__ = ["ServerLoom", "no_cookies"]


def no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing: the proxy speaks for many callers with one credential."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class ServerLoom(AsyncLoom):
    """AsyncLoom with no environment proxies, no redirects and no cookies."""

    def _client_options(self) -> dict[str, Any]:
        return {**super()._client_options(), "trust_env": False, "follow_redirects": False,
                "cookies": no_cookies()}
