"""Turn upstream failures into ProxyErrors that name the Loom URL, never the credential.

`upstream_errors()` is the one translator, for HTTP, SSE and WebSocket paths alike (like the
client's `transport_errors`): whatever talking to Loom raised leaves it as a ProxyError.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.http11 import Response as WsResponse

from ..client._problems import scrub, scrub_data
from ..client._ws import redirect_refusal
from .base import ProxyError
from .bodies import BodyError, Secrets, UpstreamAnswer, read_prefix

__all__ = ["display_url", "upstream_errors", "wrap_non_json"]

MAX_WRAPPED = 2000  # characters of a non-JSON upstream body kept in the wrapped message


def display_url(url: str) -> str:
    """The configured URL without userinfo, query or fragment: safe to show anyone."""
    if not url:
        return ""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


@contextmanager
def upstream_errors(url: str, secret: Secrets, path: str, setting: str = "c.LoomJupyter.url",
                    *, reading_body: bool = False) -> Iterator[None]:
    """Translate every failure of a call to the upstream at `url` (for the request `path`);
    `setting` names where that URL is configured. With `reading_body`, Loom has answered and
    its body is being read: a failure then is an answer broken off, not an unreachable Loom."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise (broken_off(exc, url) if reading_body else transport_error(exc, url, setting)) from None
    except BodyError as exc:
        raise ProxyError(502, "upstream_bad_body", f"Loom at {url} sent {exc}; the proxy does "
                         "not relay it.", loom_url=url) from None
    except InvalidStatus as exc:
        raise upstream_refusal(exc.response, url, secret, path) from None
    except (TimeoutError, asyncio.TimeoutError):
        raise ProxyError(504, "upstream_timeout", f"Loom at {url} did not accept the WebSocket "
                         "in time.") from None
    except (OSError, InvalidHandshake) as exc:
        raise ProxyError(502, "upstream_unreachable", f"Cannot open a WebSocket to Loom at "
                         f"{url} ({type(exc).__name__}).") from None


def transport_error(exc: httpx.HTTPError, url: str,
                    setting: str = "c.LoomJupyter.url") -> ProxyError:
    """502 when Loom cannot be reached, 504 when it is too slow."""
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return ProxyError(504, "upstream_timeout", f"Loom at {url} did not answer in time "
                          f"({kind}).", loom_url=url)
    return ProxyError(502, "upstream_unreachable", f"Cannot reach Loom at {url} ({kind}): is it "
                      f"running, and is {setting} right?", loom_url=url)


def broken_off(exc: httpx.HTTPError, url: str) -> ProxyError:
    """Loom answered, then its body stopped short: 504 if it went quiet, else 502."""
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return ProxyError(504, "upstream_timeout", f"Loom at {url} stopped sending its answer "
                          f"({kind}).", loom_url=url)
    return ProxyError(502, "upstream_broke_off", f"Loom at {url} broke off its answer ({kind}); "
                      "try again.", loom_url=url)


async def wrap_non_json(response: UpstreamAnswer, url: str, secret: Secrets,
                        ctype: str) -> ProxyError:
    """A body that is neither JSON nor SSE never reaches the browser as-is (it could be HTML)."""
    raw = await read_prefix(response, secret, MAX_WRAPPED * 4)
    text = raw.decode("utf-8", "replace")[:MAX_WRAPPED]
    ctype = (ctype or "none").split(";")[0].strip()[:100]
    status = response.status_code
    if status < 400:
        return ProxyError(502, "upstream_not_json", f"Loom at {url} answered {status} with "
                          f"{ctype} instead of JSON: is c.LoomJupyter.url the Loom API?",
                          upstream_status=status, upstream_content_type=ctype, loom_url=url)
    return ProxyError(status, _code(text, status), text.strip() or f"Loom answered HTTP {status}.",
                      upstream_content_type=ctype)


def _code(text: str, status: int) -> str:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return "upstream_error" if status >= 500 else "bad_request" if status == 400 else "error"
    return str(body.get("error", "error"))[:100] if isinstance(body, dict) else "error"


def upstream_refusal(response: WsResponse, url: str, secret: Secrets, path: str) -> ProxyError:
    """Loom refused a WebSocket upgrade: keep its status and JSON error, wrap anything else.

    A redirect is a refusal too (never followed: the credential must not go elsewhere)."""
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location") or ""
        return ProxyError(502, "upstream_redirect", redirect_refusal(path, status, location))
    secrets = [secret] if isinstance(secret, str) else list(secret)
    body = _json_object(response)
    if body:
        code = body.get("error")
        extra = {k: v for k, v in body.items() if k not in ("error", "message")}
        return ProxyError(status if status >= 400 else 502,
                          scrub(code, secrets)[:100] if isinstance(code, str) else "upstream_error",
                          scrub(str(body.get("message", "")), secrets), **scrub_data(extra, secrets))
    text = (response.body or b"").decode("utf-8", "replace")[:MAX_WRAPPED].strip()
    return ProxyError(status if status >= 400 else 502, "upstream_error",
                      scrub(text, secrets) or f"Loom at {url} refused the WebSocket with HTTP "
                      f"{status}.")


def _json_object(response: WsResponse) -> dict[str, Any]:
    ctype = response.headers.get("Content-Type", "") or ""
    if ctype.split(";")[0].strip().lower() != "application/json":
        return {}
    try:
        value = json.loads(bytes(response.body or b""))
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
