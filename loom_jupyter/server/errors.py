"""Turn upstream failures into ProxyErrors that name the Loom URL, never the credential."""
from __future__ import annotations

import json

import httpx

from .base import ProxyError
from .bodies import BodyError, read_prefix

__all__ = ["body_refusal", "display_url", "transport_error", "wrap_non_json"]

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


def body_refusal(exc: BodyError, url: str) -> ProxyError:
    """An answer the proxy will not relay (conflicting types, a bomb, an unknown encoding)."""
    return ProxyError(502, "upstream_bad_body", f"Loom at {url} sent {exc}; the proxy does not "
                      "relay it.", loom_url=url)


async def wrap_non_json(response: httpx.Response, url: str, secret: str,
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
