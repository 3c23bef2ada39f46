"""Turn upstream failures into ProxyErrors that name the Loom URL, never the credential."""
from __future__ import annotations

import json

import httpx

from .base import ProxyError

__all__ = ["display_url", "transport_error", "wrap_non_json"]

MAX_WRAPPED = 2000  # characters of a non-JSON upstream body kept in the wrapped message


def display_url(url: str) -> str:
    """The configured URL without userinfo, query or fragment: safe to show anyone."""
    if not url:
        return ""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))


def transport_error(exc: httpx.HTTPError, url: str) -> ProxyError:
    """502 when Loom cannot be reached, 504 when it is too slow."""
    kind = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return ProxyError(504, "upstream_timeout", f"Loom at {url} did not answer in time "
                          f"({kind}).", loom_url=url)
    return ProxyError(502, "upstream_unreachable", f"Cannot reach Loom at {url} ({kind}): is it "
                      "running, and is c.LoomJupyter.url right?", loom_url=url)


async def wrap_non_json(response: httpx.Response, url: str) -> ProxyError:
    """A body that is neither JSON nor SSE never reaches the browser as-is (it could be HTML)."""
    raw = b""
    async for chunk in response.aiter_bytes():
        raw += chunk
        if len(raw) > MAX_WRAPPED * 4:
            break
    text = raw.decode("utf-8", "replace")[:MAX_WRAPPED]
    ctype = response.headers.get("content-type", "none").split(";")[0][:100]
    status = response.status_code
    if status < 400:
        return ProxyError(502, "upstream_not_json", f"Loom at {url} answered {status} with "
                          f"{ctype} instead of JSON: is c.LoomJupyter.url the Loom API?",
                          upstream_status=status, upstream_content_type=ctype, loom_url=url)
    return ProxyError(status, _code(text, status), text.strip() or response.reason_phrase,
                      upstream_content_type=ctype)


def _code(text: str, status: int) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return "upstream_error" if status >= 500 else "bad_request" if status == 400 else "error"
    return str(body.get("error", "error")) if isinstance(body, dict) else "error"
