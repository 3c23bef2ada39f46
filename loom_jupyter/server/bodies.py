"""What an upstream body may become on Jupyter's origin: one content type, bounded, credential-free.

The proxy asks Loom for `Accept-Encoding: identity`. An upstream that compresses anyway gets its
gzip/deflate decoded here in bounded steps (never `aread()`'s all-at-once inflation), other
encodings are refused, and every relayed byte passes a scrubber that replaces the server's credentials
should the upstream echo one (an error page that prints the request's headers, say).
"""
from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from typing import Protocol

import httpx

__all__ = ["BodyError", "Headers", "Scrubber", "Secrets", "UpstreamAnswer", "check_encoding",
           "content_type", "read_all", "read_prefix", "redact_headers", "relayed_chunks",
           "scrub_bytes"]

INFLATE_STEP = 64 * 1024  # most bytes one decompression step may produce
INFLATE_LIMIT = 64 * 1024 * 1024  # most decoded bytes relayed from one compressed answer
REDACTED = b"[redacted]"
_INFLATED = ("gzip", "x-gzip", "deflate")


class BodyError(ValueError):
    """An upstream answer the proxy will not relay (before or while relaying it)."""


class Headers(Protocol):
    """An answer's headers (upstream.Answer's tornado HTTPHeaders, or httpx.Headers)."""

    def get_list(self, name: str) -> list[str]: ...


class UpstreamAnswer(Protocol):
    """An upstream answer whose body is read on demand (upstream.Answer, or httpx.Response)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Headers: ...

    def aiter_raw(self) -> AsyncIterator[bytes]: ...

    async def aread(self) -> bytes: ...


def content_type(headers: Headers) -> str:
    """The one Content-Type of an answer ('' if none); several different ones are refused."""
    values = {v.strip() for v in headers.get_list("content-type")}
    if len(values) > 1:
        raise BodyError("conflicting Content-Type headers")
    value = values.pop() if values else ""
    if not value.isascii() or not value.isprintable():
        raise BodyError("a Content-Type that is not printable ASCII")
    return value


Secrets = str | Sequence[str]  # one credential, or every credential the server holds


def _secret_list(secrets: Secrets) -> list[str]:
    values = [secrets] if isinstance(secrets, str) else list(secrets)
    # Longest first: a secret that contains another is replaced whole.
    return sorted({v for v in values if v}, key=len, reverse=True)


class Scrubber:
    """Replaces secrets in a byte stream, even when one is split across chunks.

    Only a chunk's tail that could begin a secret is held back, so a stream whose chunks end
    in anything else (an SSE event's blank line, say) is relayed without delay."""

    def __init__(self, secrets: Secrets) -> None:
        self._secrets = [s.encode() for s in _secret_list(secrets)]
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        if not self._secrets:
            return chunk
        data = self._held + chunk
        for secret in self._secrets:
            if secret in data:
                data = data.replace(secret, REDACTED)
        keep = max(_partial_tail(data, secret) for secret in self._secrets)
        self._held = data[len(data) - keep:] if keep else b""
        return data[:len(data) - keep] if keep else data

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held


def _partial_tail(data: bytes, secret: bytes) -> int:
    """How many bytes at the end of `data` could be the start of `secret`."""
    i = data.find(secret[:1], max(0, len(data) - len(secret) + 1))
    while i != -1:
        if secret.startswith(data[i:]):
            return len(data) - i
        i = data.find(secret[:1], i + 1)
    return 0


def scrub_bytes(body: bytes, secrets: Secrets) -> bytes:
    """A whole body with every secret replaced."""
    for secret in _secret_list(secrets):
        if secret.encode() in body:
            body = body.replace(secret.encode(), REDACTED)
    return body


class _Inflater:
    """Decodes gzip or zlib-wrapped deflate in steps of at most INFLATE_STEP bytes."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(32 + zlib.MAX_WBITS)  # accepts a gzip or a zlib header
        self.total = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                out = self._z.decompress(data, INFLATE_STEP)
            except zlib.error:
                raise BodyError("a compressed body that does not decode") from None
            self.total += len(out)
            if self.total > INFLATE_LIMIT:
                raise BodyError(f"a compressed body larger than {INFLATE_LIMIT >> 20} MiB decoded")
            if out:
                yield out
            data = self._z.unconsumed_tail


def _encoding(headers: Headers) -> str:
    codings = [c.strip().lower() for v in headers.get_list("content-encoding")
               for c in v.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return ""
    if len(codings) == 1 and codings[0] in _INFLATED:
        return codings[0]
    raise BodyError(f"a body encoded as {', '.join(codings)[:60]} (the proxy asked for identity)")


def check_encoding(headers: Headers) -> bool:
    """True when the body needs decoding; raises BodyError for an encoding we do not decode."""
    return bool(_encoding(headers))


async def _decoded(response: UpstreamAnswer) -> AsyncIterator[bytes]:
    if not _encoding(response.headers):
        async for chunk in response.aiter_raw():
            yield chunk
        return
    inflater = _Inflater()
    async for chunk in response.aiter_raw():
        for out in inflater.feed(chunk):
            yield out


async def relayed_chunks(response: UpstreamAnswer, secret: Secrets) -> AsyncIterator[bytes]:
    """The body as the browser may see it: decoded within bounds, the credentials replaced."""
    scrubber = Scrubber(secret)
    async for chunk in _decoded(response):
        if out := scrubber.feed(chunk):
            yield out
    if tail := scrubber.flush():
        yield tail


async def read_all(response: UpstreamAnswer, secret: Secrets) -> bytes:
    """A small body in one piece (the caller checked its length), decoded and scrubbed."""
    if _encoding(response.headers):
        return b"".join([chunk async for chunk in relayed_chunks(response, secret)])
    return scrub_bytes(await response.aread(), secret)  # identity: nothing to inflate


async def read_prefix(response: UpstreamAnswer, secret: Secrets, limit: int) -> bytes:
    """At most about `limit` bytes of the body (to quote in an error), decoded and scrubbed."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in relayed_chunks(response, secret):
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except (BodyError, httpx.HTTPError):
        pass  # quote what arrived
    return b"".join(parts)[:limit]


def redact_headers(headers: Iterable[tuple[str, str]], secret: Secrets) -> list[tuple[str, str]]:
    """Drop any header value that carries a secret."""
    secrets = _secret_list(secret)
    headers = list(headers)
    every_value = "\n".join(v for _, v in headers)  # one look in the usual case: none there
    if not any(s in every_value for s in secrets):
        return headers
    return [(n, v) for n, v in headers if not any(s in v for s in secrets)]
