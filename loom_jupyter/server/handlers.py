"""HTTP and SSE relay: stream the request up, stream the answer down, cancel when the caller leaves."""
from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

import httpx
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from tornado import web
from tornado.http1connection import HTTP1Connection
from tornado.httputil import responses
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from .base import LoomAuthMixin, ProxyError, safe_path
from .connconfig import NAME
from .bodies import BodyError, check_encoding, content_type, read_all, redact_headers, relayed_chunks
from .upstream import Answer
from .errors import upstream_errors, wrap_non_json
from .headers import request_headers, response_headers
from .signin import SignInHandler
from .status import ConnectionsHandler, StatusHandler

__all__ = ["UPSTREAM_TYPE_HEADER", "LoomProxyHandler", "default_handlers"]

BUFFERED_BODY = 256 * 1024  # bodies up to this size are sent in one piece; larger ones stream
BODY_QUEUE = 8  # chunks (of at most 64 KiB) held between the browser and Loom
SMALL_RESPONSE = 1024 * 1024
_METHODS_WITH_BODY = ("POST", "PUT", "PATCH", "DELETE")
_SAFE_TO_RESEND = ("GET", "HEAD", "OPTIONS")
_STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
_LENGTH = re.compile(r"[0-9]{1,15}")  # ASCII digits only: str.isdigit() also takes "٣"
UPSTREAM_TYPE_HEADER = "X-Loom-Content-Type"  # a relayed file's own type


def _is_sse(ctype: str) -> bool:
    return ctype.split(";")[0].strip().lower() == "text/event-stream"


def _is_json(ctype: str) -> bool:
    base = ctype.split(";")[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def _is_download(ctype: str) -> bool:
    return ctype.split(";")[0].strip().lower() == "application/octet-stream"


def _is_passthrough(ctype: str, status: int) -> bool:
    """Bodies relayed as they are: downloads, and the empty answers of DELETE (204) or 304."""
    base = ctype.split(";")[0].strip().lower()
    return status in (204, 304) or (status < 300 and base == "application/octet-stream")


@web.stream_request_body
class LoomProxyHandler(LoomAuthMixin):
    """`{base_url}loom/(api|proxy)/...`, `auth/ws-token`, `health` -> the same path on Loom;
    `{base_url}loom/connections/NAME/<path>` -> the same path on that connection (its kind's
    route families only).

    Identity, origin and authorization are checked once, in prepare(), before any body is read.
    A password kind's expired JWT is renewed before sending; a 401 to a JWT the server can renew
    is renewed once and the request sent again (when its body was kept: up to 256 KiB)."""

    _body_parts: list[bytes] | None = None
    _body_queue: asyncio.Queue[bytes | None] | None = None
    _sending: asyncio.Future[Answer] | None = None
    _pump: asyncio.Future[None] | None = None
    _client_gone = False
    _body_timer: object | None = None
    _body_seen = 0.0
    _holds_upload_slot = False
    _declared_length: int | None = None

    _prepared = False

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if not self._prepared:
            self._closing()
        super().write_error(status_code, **kwargs)

    def _closing(self) -> None:
        # Answered before the request body was read: tornado closes this connection after the
        # answer. Say so, or a reverse proxy (JupyterHub's) reuses it and fails its next caller.
        self.set_header("Connection", "close")

    async def prepare(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        await self._prepare()
        self._prepared = True

    async def _prepare(self) -> None:
        await super().prepare(_redirect_to_login=False)
        if self._finished:
            return
        await self.authorize_loom(HTTP_METHOD_TO_AUTH_ACTION.get(self.request.method or "GET",
                                                                 "write"))
        if not self.kernel_authenticated and not self.check_origin():
            raise web.HTTPError(404)
        self._url = self.upstream_target()
        self._forward_headers = self._upstream_headers()
        if self.request.method not in _METHODS_WITH_BODY:
            return
        self._watch_body()
        length = self._declared_length
        if length is not None and length <= BUFFERED_BODY:
            self._body_parts = []
        else:
            self._take_upload_slot()
            self._body_queue = asyncio.Queue(BODY_QUEUE)
            self._sending = asyncio.ensure_future(self._send(self._queued_body()))

    @property
    def content_security_policy(self) -> str:
        return super().content_security_policy + "; default-src 'none'"

    def _upstream_headers(self) -> list[tuple[str, str]]:
        try:
            headers = request_headers(self.request.headers.get_all(), {})  # + ours in _send
        except ValueError as exc:
            raise ProxyError(400, "bad_request", f"Refused header: {exc}.") from None
        raw = self.request.headers.get("Content-Length")
        if raw is not None and not _LENGTH.fullmatch(raw):
            raise ProxyError(400, "bad_request", "Refused Content-Length: not a decimal number.")
        self._declared_length = int(raw) if raw is not None else None
        return headers

    # -- slow bodies: an idle timeout, and a bounded number of streamed uploads ---------------
    def _watch_body(self) -> None:
        loop = IOLoop.current()
        self._body_seen = loop.time()
        self._body_timer = loop.call_later(self.loom.body_timeout, self._check_body)

    def _check_body(self) -> None:
        self._body_timer = None
        if self._finished:
            return
        idle = IOLoop.current().time() - self._body_seen
        if idle < self.loom.body_timeout:
            self._body_timer = IOLoop.current().call_later(self.loom.body_timeout - idle,
                                                           self._check_body)
            return
        if self._sending is not None:
            self._sending.cancel()
        self.log.warning("loom proxy: %s %s -> 408 (request body stalled)", self.request.method,
                         safe_path(self.request.path))
        self._closing()
        self.send_json({"error": "request_timeout", "message": "The request body stopped "
                        f"arriving for {self.loom.body_timeout:g} s."}, 408)

    def _stop_watching_body(self) -> None:
        if self._body_timer is not None:
            IOLoop.current().remove_timeout(self._body_timer)
            self._body_timer = None

    def _take_upload_slot(self) -> None:
        if self.loom.uploads_in_flight >= self.loom.upload_slots:
            self.set_header("Retry-After", "5")
            raise ProxyError(503, "too_many_uploads", f"{self.loom.upload_slots} uploads to Loom "
                             "are already in progress; try again shortly.")
        self.loom.uploads_in_flight += 1
        self._holds_upload_slot = True

    def _release_upload_slot(self) -> None:
        if self._holds_upload_slot:
            self._holds_upload_slot = False
            self.loom.uploads_in_flight -= 1

    # -- request body ---------------------------------------------------------------------
    async def data_received(self, chunk: bytes) -> None:
        self._body_seen = IOLoop.current().time()
        if self._body_parts is not None:
            self._body_parts.append(chunk)
        elif self._body_queue is not None:
            await self._feed(chunk)

    async def _feed(self, chunk: bytes | None) -> None:
        assert self._body_queue is not None and self._sending is not None
        put: asyncio.Future[Any] = asyncio.ensure_future(self._body_queue.put(chunk))
        sending: asyncio.Future[Any] = self._sending
        await asyncio.wait({put, sending}, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():  # Loom already answered or failed: nobody will read the rest
            put.cancel()

    async def _queued_body(self) -> AsyncIterator[bytes]:
        assert self._body_queue is not None
        while (chunk := await self._body_queue.get()) is not None:
            yield chunk

    # -- upstream ---------------------------------------------------------------------------
    async def _send(self, content: bytes | AsyncIterator[bytes] | None) -> Answer:
        connection = self.connection
        try:
            await connection.prepare()  # a password kind signs in (again) if it must
            sent = connection.secret
            response = await self._send_once(content)
            if (response.status_code == 401 and connection.renewable
                    and isinstance(content, (bytes, type(None)))):
                try:
                    renewed = await connection.renew(sent)
                except BaseException:
                    await response.aclose()
                    raise
                if renewed:  # the credential expired upstream: once more with the new one
                    await response.aclose()
                    response = await self._send_once(content)
            return response
        finally:
            self._release_upload_slot()  # the body is sent (or never will be): Loom answered

    async def _send_once(self, content: bytes | AsyncIterator[bytes] | None) -> Answer:
        connection = self.connection
        headers = [*self._forward_headers, *connection.auth_headers().items()]
        if not isinstance(content, (bytes, type(None))) and self._declared_length is not None:
            # stream it, but let Loom size-check
            headers.append(("Content-Length", str(self._declared_length)))
        method = self.request.method or "GET"
        upstream = connection.upstream
        with self._upstream_errors():
            try:
                return await upstream.send(method, self._url, headers, content)
            except _STALE_CONNECTION:
                if method not in _SAFE_TO_RESEND:
                    raise
                # A kept-alive connection Loom closed just as we reused it: nothing was
                # answered, and a GET may be sent again, once, on a fresh connection.
                return await upstream.send(method, self._url, headers, content, fresh=True)

    async def _proxy(self) -> None:
        self._stop_watching_body()
        if self._finished:
            return  # answered already (a stalled body)
        if self._sending is None:  # sent and relayed by one task (cancelled if the caller leaves)
            body = b"".join(self._body_parts) if self._body_parts is not None else None
            self._pump = asyncio.ensure_future(self._send_and_relay(body))
        else:
            await self._feed(None)
            self._pump = asyncio.ensure_future(self._relay(self._sending))
        try:
            await self._pump
        except StreamClosedError:
            self._client_gone = True
        except asyncio.CancelledError:
            if not self._client_gone:
                raise

    async def _send_and_relay(self, body: bytes | None) -> None:
        await self._relay(self._send(body))

    async def _relay(self, sending: Awaitable[Answer]) -> None:
        response = await sending
        try:
            with self._upstream_errors():
                ctype = content_type(response.headers)
                check_encoding(response.headers)
            status = response.status_code
            original = ""
            if self.connection.kind.name != "loom" and status < 300 and not (
                    _is_json(ctype) or _is_sse(ctype) or _is_passthrough(ctype, status)):
                # Another platform's file (a v1 asset's bytes): relayed as a download only,
                # its type in a header of its own, never as something a browser would render.
                original, ctype = ctype, "application/octet-stream"
            if not (_is_json(ctype) or _is_sse(ctype) or _is_passthrough(ctype, status)):
                raise await wrap_non_json(response, self.connection.display_url,
                                          self.loom.all_secrets(), ctype)
            self.set_status(status, responses.get(status, "Unknown"))
            relayed = response_headers(response.headers.get_all())
            for name, value in redact_headers(relayed, self.loom.all_secrets()):
                self.set_header(name, value)
            if ctype:
                self.set_header("Content-Type", ctype)
            if original:
                self.set_header(UPSTREAM_TYPE_HEADER, original)
            if _is_download(ctype):
                self.set_header("Content-Disposition", "attachment")
            if _is_sse(ctype):
                await self._relay_events(response)
            else:
                await self._relay_body(response)
        finally:
            await response.aclose()

    async def _relay_events(self, response: Answer) -> None:
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        await self.flush()
        async for chunk in self._upstream_chunks(response):
            self.write(chunk)
            await self.flush()  # back-pressure: do not read Loom faster than the browser reads
        self.finish()

    async def _relay_body(self, response: Answer) -> None:
        length = response.headers.get("content-length", "")
        if response.status_code in (204, 304):
            self.finish()
        elif (_LENGTH.fullmatch(length) and int(length) <= SMALL_RESPONSE
              and not check_encoding(response.headers)):
            with self._upstream_errors(reading_body=True):
                body = await read_all(response, self.loom.all_secrets())
            self.finish(body)
        else:
            async for chunk in self._upstream_chunks(response):
                self.write(chunk)
                await self.flush()
            self.finish()

    async def _upstream_chunks(self, response: Answer) -> AsyncIterator[bytes]:
        try:
            async for chunk in relayed_chunks(response, self.loom.all_secrets()):
                yield chunk
        except (httpx.HTTPError, BodyError) as exc:
            if not self._headers_written:  # nothing relayed yet: one clear error instead
                with self._upstream_errors(reading_body=True):
                    raise
            self.log.warning("loom proxy: %s %s: Loom's answer broke off (%s)",
                             self.request.method, safe_path(self.request.path),
                             exc if isinstance(exc, BodyError) else type(exc).__name__)
            self._cut_short()

    def _cut_short(self) -> None:
        """Loom's answer broke after its head was relayed: drop the caller's connection before
        the end-of-body marker, so the browser or kernel sees an incomplete answer (and retries
        or reconnects) rather than a complete-looking short one. finish() then writes nothing."""
        connection = self.request.connection
        if isinstance(connection, HTTP1Connection):
            connection.close()

    def _upstream_errors(self, reading_body: bool = False) -> AbstractContextManager[None]:
        """Translate what talking to the upstream raised (worked out only when it raised)."""
        return _Translated(self, reading_body)

    def _translator(self, reading_body: bool) -> AbstractContextManager[None]:
        connection = self.connection
        return upstream_errors(connection.display_url, self.loom.all_secrets(),
                               self.request.path, connection.setting, reading_body=reading_body)

    def on_connection_close(self) -> None:
        self._client_gone = True
        self._stop_watching_body()
        for task in (self._pump, self._sending):
            if task is not None and not task.done():
                task.cancel()
        self._close_unrelayed()
        super().on_connection_close()

    def on_finish(self) -> None:
        self._stop_watching_body()
        if self._sending is not None and not self._sending.done():
            self._sending.cancel()
        self._close_unrelayed()
        self._release_upload_slot()
        super().on_finish()

    def _close_unrelayed(self) -> None:
        """An upload's answer that arrived but was never relayed (the relay was cancelled, or
        the request answered otherwise): close it, or its connection stays counted as busy."""
        sending = self._sending
        if sending is not None and sending.done() and not sending.cancelled() \
                and sending.exception() is None:
            sending.result().close()

    async def get(self, *args: str) -> None:
        await self._proxy()

    post = put = patch = delete = get


class _Translated:
    """`errors.upstream_errors` for the handler's upstream, its arguments (the display URL,
    every secret) gathered only when something was raised: nothing to do on success."""

    __slots__ = ("_handler", "_reading_body")

    def __init__(self, handler: LoomProxyHandler, reading_body: bool) -> None:
        self._handler, self._reading_body = handler, reading_body

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if isinstance(exc, Exception):
            with self._handler._translator(self._reading_body):
                raise exc


def _handlers() -> list[tuple[str, type, dict[str, Any]]]:
    name = f"({NAME.pattern})"
    return [
        (r"loom/status", StatusHandler, {}),
        (r"loom/signin", SignInHandler, {}),
        (r"loom/connections/?", ConnectionsHandler, {}),
        (rf"loom/connections/{name}/signin", SignInHandler, {}),
        (rf"loom/connections/{name}/(.*)", LoomProxyHandler, {}),
        (r"loom/(.*)", LoomProxyHandler, {}),
    ]


default_handlers = _handlers()
