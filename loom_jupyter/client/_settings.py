"""Where the Loom URL and credential come from: proxy variables < LOOM_URL/LOOM_API_KEY < arguments."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ._errors import LoomConfigError

Mode = Literal["proxy", "direct"]

PROXY_URL_ENV = "LOOM_JUPYTER_PROXY_URL"
PROXY_TOKEN_ENV = "LOOM_JUPYTER_PROXY_TOKEN"
URL_ENV = "LOOM_URL"
KEY_ENV = "LOOM_API_KEY"
KEY_FILE_ENV = "LOOM_API_KEY_FILE"  # read by the server extension only
CONNECTIONS_ENV = "LOOM_JUPYTER_CONNECTIONS"  # JSON {"NAME": "KIND"} published to kernels
DEFAULT_CONNECTION = "default"
# Set by the Jupyter extension on the errors it writes itself (Loom's error shape, whatever the
# connection's kind), so a client reads them as Loom's, not in the platform's dialect.
PROXY_ERROR_HEADER = "X-Loom-Proxy-Error"
CONNECTION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class Secret:
    """A credential that never shows itself in repr/str (so it cannot leak into logs or tracebacks)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


class SecretList(list):  # type: ignore[type-arg]
    """Credentials to scrub from server text; its repr hides them, because verbose tracebacks
    (IPython's `%xmode Verbose`) print every local variable of every frame."""

    def __repr__(self) -> str:
        return f"<{len(self)} hidden credential(s)>"


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings; `credential` is wrapped so printing settings is safe."""

    url: str
    mode: Mode
    credential: Secret | None
    cookie: Secret | None = None
    kind: str = "loom"
    connection: str | None = None  # the server's connection name, when going through the proxy

    def auth_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.credential:
            # The Jupyter proxy authenticates kernels with Jupyter's own token scheme.
            scheme = "token" if self.mode == "proxy" else "Bearer"
            headers["Authorization"] = f"{scheme} {self.credential.reveal()}"
        if self.cookie:
            value = self.cookie.reveal()
            headers["Cookie"] = value if "=" in value else f"loom_session={value}"
        return headers

    def secrets(self) -> list[str]:
        return SecretList(s.reveal() for s in (self.credential, self.cookie)
                          if s and len(s.reveal()) >= 4)


def resolve_settings(
    url: str | None = None,
    api_key: str | None = None,
    cookie: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Pick the highest-precedence complete source; an explicit url pairs with LOOM_API_KEY if no key."""
    env = os.environ if environ is None else environ
    mode: Mode = "direct"
    found_url, key = None, None
    if env.get(PROXY_URL_ENV):
        found_url, key, mode = env[PROXY_URL_ENV], env.get(PROXY_TOKEN_ENV), "proxy"
    # LOOM_URL alone does not outrank the proxy: a kernel of a server started with LOOM_URL +
    # LOOM_API_KEY inherits the URL but not the key (the extension removed it).
    if env.get(URL_ENV) and (env.get(KEY_ENV) or not env.get(PROXY_URL_ENV)):
        found_url, key, mode = env[URL_ENV], env.get(KEY_ENV), "direct"
    if url is not None:
        # Reuse an environment credential only for the very URL it belongs to: a key must
        # never be sent to a host the user did not pair it with.
        norm = url.rstrip("/")
        if norm == env.get(URL_ENV, "").rstrip("/"):
            key, mode = env.get(KEY_ENV), "direct"
        elif norm == env.get(PROXY_URL_ENV, "").rstrip("/"):
            key, mode = env.get(PROXY_TOKEN_ENV), "proxy"
        else:
            key, mode = None, "direct"
        found_url = url
    if api_key is not None:
        key, mode = api_key, "direct"
    if not found_url:
        raise LoomConfigError(
            "No Loom URL configured: pass Loom(url=...) or set LOOM_URL (and LOOM_API_KEY), "
            "or start the kernel from a Jupyter server with the loom-jupyter extension."
        )
    _check_url(found_url)
    return Settings(
        url=found_url,
        mode=mode,
        credential=Secret(key) if key else None,
        cookie=Secret(cookie) if cookie else None,
    )


def _check_url(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise LoomConfigError(f"Loom URL must start with http:// or https://, got {url!r}.")


def published_connections(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The connections the Jupyter server published to this kernel: {name: kind name}."""
    env = os.environ if environ is None else environ
    raw = env.get(CONNECTIONS_ENV)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    found = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    if env.get(PROXY_URL_ENV) and DEFAULT_CONNECTION not in found:
        found = {DEFAULT_CONNECTION: "loom", **found}
    return found


def resolve_connection(
    name: str, kind: str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """`Loom(connection=NAME)` in a kernel: the extension's proxy prefix for NAME, its token."""
    env = os.environ if environ is None else environ
    proxy = env.get(PROXY_URL_ENV)
    if not proxy:
        raise LoomConfigError(
            f"connection={name!r} works in a kernel started by a Jupyter server with the "
            "loom-jupyter extension; elsewhere pass url= and kind= (and a credential)."
        )
    known = published_connections(env)
    if name not in known:
        names = ", ".join(repr(n) for n in sorted(known)) or "none"
        raise LoomConfigError(f"Unknown connection {name!r}: this Jupyter server has {names}.")
    if kind is not None and kind != known[name]:
        raise LoomConfigError(
            f"Connection {name!r} is a {known[name]} connection, not {kind}: drop kind= or fix it."
        )
    base = proxy if proxy.endswith("/") else proxy + "/"
    url = base if name == DEFAULT_CONNECTION else f"{base}connections/{name}/"
    _check_url(url)
    token = env.get(PROXY_TOKEN_ENV)
    return Settings(url=url, mode="proxy", credential=Secret(token) if token else None,
                    kind=known[name], connection=name)


def resolve_direct(url: str | None, kind: str, title: str, api_key: str | None) -> Settings:
    """Another platform reached directly: its own URL, never Loom's environment credential."""
    if not url:
        raise LoomConfigError(
            f"No {title} URL: pass url= with kind={kind!r}, or connection= in a kernel of a "
            "Jupyter server that declares the connection."
        )
    _check_url(url)
    return Settings(url=url, mode="direct", credential=Secret(api_key) if api_key else None,
                    kind=kind)
