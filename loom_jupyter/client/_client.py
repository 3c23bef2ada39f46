"""`Loom` and `AsyncLoom` side by side: the shared surface, and the only two I/O paths."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from .._version import __version__
from ._base import (
    Call,
    CloseStream,
    Emit,
    Flow,
    OpenStream,
    RawResponse,
    ReadStream,
    Sleep,
    StreamHandle,
    check_status,
    parse_response,
    transport_errors,
)
from ._errors import LoomError
from ._retry import RetryPolicy
from ._settings import Mode, Settings, resolve_settings
from .resources import Auth, Llm, SignIn, Threads, Weavers
from .resources import auth as _auth

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class BaseLoom:
    """Everything but I/O: settings, request building, the public surface (shared by both)."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        cookie: str | None = None,
        max_retries: int = 2,
    ) -> None:
        self._settings: Settings = resolve_settings(url, api_key, cookie)
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._policy = RetryPolicy(max_attempts=max_retries + 1)
        self.weavers = Weavers(self)
        self.threads = Threads(self)
        self.llm = Llm(self)
        self.auth = Auth(self)
        self.signin = SignIn(self)

    @property
    def url(self) -> str:
        return self._settings.url

    @property
    def mode(self) -> Mode:
        return self._settings.mode

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, mode={self.mode!r})"

    def _secrets(self) -> list[str]:
        return self._settings.secrets()

    def _client_options(self) -> dict[str, Any]:
        headers = {"User-Agent": f"loom-jupyter/{__version__}", "Accept": "application/json"}
        headers.update(self._settings.auth_headers())
        base = self.url if self.url.endswith("/") else self.url + "/"
        return {"base_url": base, "headers": headers, "timeout": self._timeout}

    def _request_args(self, call: Call[Any]) -> dict[str, Any]:
        timeout = self._timeout
        if call.read_timeout is not None:
            timeout = httpx.Timeout(
                connect=self._timeout.connect, read=call.read_timeout,
                write=self._timeout.write, pool=self._timeout.pool,
            )
        return {
            "method": call.method, "url": call.path.lstrip("/"), "params": call.params,
            "json": call.json, "headers": dict(call.headers or {}), "timeout": timeout,
        }

    def _errors(self, call: Call[Any]) -> Any:
        return transport_errors(call, self.url, self._secrets())

    @staticmethod
    def _usable_stream(response: httpx.Response) -> bool:
        """An error status or an HTML page must be read whole to report it (§0 SPA fallback)."""
        return response.status_code < 400 and "html" not in response.headers.get("content-type", "")

    def _check_stream(self, call: Call[Any], response: httpx.Response) -> None:
        content = response.content if response.is_closed else b""
        check_status(call, RawResponse(response.status_code, response.headers, content), self._secrets())

    def health(self) -> Any:
        """`GET /health` -> Health (a 503 'unhealthy' answer is returned, not raised)."""
        return self._run(_auth.health(self._policy))

    def me(self) -> Any:
        """`GET /api/auth/me` -> User."""
        return self._run(_auth.me(self._policy))

    def orgs(self) -> Any:
        """`GET /api/orgs` -> list[Org]."""
        return self._run(_auth.orgs(self._policy))

    def default_org_id(self) -> Any:
        """The caller's only org id; LoomError when there are several or none."""
        return self._run(_auth.default_org_id(self._policy))

    def _run(self, flow: Flow[Any]) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _iterate(self, flow: Flow[Any]) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


class Loom(BaseLoom):
    """Synchronous Loom client: `with Loom() as loom: loom.weavers.list()`."""

    def __init__(self, url: str | None = None, api_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(url, api_key, **kwargs)
        self._http = httpx.Client(**self._client_options())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Loom:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, flow: Flow[Any]) -> Any:
        steps = self._iterate(flow)
        while True:
            try:
                next(steps)
            except StopIteration as stop:
                return stop.value

    def _iterate(self, flow: Flow[Any]) -> Iterator[Any]:
        handles: list[StreamHandle] = []
        value: Any = None
        error: LoomError | None = None
        try:
            while True:
                op = flow.throw(error) if error else flow.send(value)
                value, error = None, None
                if isinstance(op, Emit):
                    yield op.value
                    continue
                try:
                    value = self._perform(op, handles)
                except LoomError as exc:
                    error = exc
        except StopIteration as stop:
            return stop.value
        finally:
            flow.close()
            for handle in handles:
                self._stream_close(handle)

    def _perform(self, op: Any, handles: list[StreamHandle]) -> Any:
        if isinstance(op, Call):
            return self._send(op)
        if isinstance(op, Sleep):
            time.sleep(op.seconds)
            return None
        if isinstance(op, OpenStream):
            handles.append(self._stream_open(op.call))
            return handles[-1]
        if isinstance(op, ReadStream):
            return self._stream_read(op.handle)
        if isinstance(op, CloseStream):
            return self._stream_close(op.handle)
        raise TypeError(f"unknown flow operation {op!r}")

    def _send(self, call: Call[Any]) -> Any:
        with self._errors(call):
            response = self._http.request(**self._request_args(call))
        raw = RawResponse(response.status_code, response.headers, response.content)
        return parse_response(call, raw, self._secrets())

    def _stream_open(self, call: Call[Any]) -> StreamHandle:
        request = self._http.build_request(**self._request_args(call))
        with self._errors(call):
            response = self._http.send(request, stream=True)
            if not self._usable_stream(response):
                response.read()
                response.close()
        self._check_stream(call, response)
        return StreamHandle(call, response, response.iter_bytes())

    def _stream_read(self, handle: StreamHandle) -> bytes | None:
        with self._errors(handle.call):
            return next(handle.chunks, None)  # type: ignore[no-any-return]

    def _stream_close(self, handle: StreamHandle) -> None:
        if not handle.closed:
            handle.closed = True
            handle.native.close()

    def _attach(self, path: str, probe: float) -> Any:
        from ._ws import connect_terminal

        return connect_terminal(self._settings, path, self._timeout, probe)


class AsyncLoom(BaseLoom):
    """Asynchronous Loom client: `async with AsyncLoom() as loom: await loom.weavers.list()`."""

    # The same resources, each method awaitable: typed Any for checkers (see Result).
    weavers: Any
    threads: Any
    llm: Any
    auth: Any
    signin: Any

    def __init__(self, url: str | None = None, api_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(url, api_key, **kwargs)
        self._http = httpx.AsyncClient(**self._client_options())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncLoom:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _run(self, flow: Flow[Any]) -> Any:
        result: list[Any] = []
        async for _ in self._iterate(flow, result=result):
            pass
        return result[0] if result else None

    async def _iterate(
        self, flow: Flow[Any], result: list[Any] | None = None
    ) -> AsyncIterator[Any]:
        handles: list[StreamHandle] = []
        value: Any = None
        error: LoomError | None = None
        try:
            while True:
                op = flow.throw(error) if error else flow.send(value)
                value, error = None, None
                if isinstance(op, Emit):
                    yield op.value
                    continue
                try:
                    value = await self._perform(op, handles)
                except LoomError as exc:
                    error = exc
        except StopIteration as stop:
            if result is not None:
                result.append(stop.value)
        finally:
            flow.close()
            for handle in handles:
                await self._stream_close(handle)

    async def _perform(self, op: Any, handles: list[StreamHandle]) -> Any:
        if isinstance(op, Call):
            return await self._send(op)
        if isinstance(op, Sleep):
            await asyncio.sleep(op.seconds)
            return None
        if isinstance(op, OpenStream):
            handles.append(await self._stream_open(op.call))
            return handles[-1]
        if isinstance(op, ReadStream):
            return await self._stream_read(op.handle)
        if isinstance(op, CloseStream):
            return await self._stream_close(op.handle)
        raise TypeError(f"unknown flow operation {op!r}")

    async def _send(self, call: Call[Any]) -> Any:
        with self._errors(call):
            response = await self._http.request(**self._request_args(call))
        raw = RawResponse(response.status_code, response.headers, response.content)
        return parse_response(call, raw, self._secrets())

    async def _stream_open(self, call: Call[Any]) -> StreamHandle:
        request = self._http.build_request(**self._request_args(call))
        with self._errors(call):
            response = await self._http.send(request, stream=True)
            if not self._usable_stream(response):
                await response.aread()
                await response.aclose()
        self._check_stream(call, response)
        return StreamHandle(call, response, response.aiter_bytes())

    async def _stream_read(self, handle: StreamHandle) -> bytes | None:
        with self._errors(handle.call):
            return await anext(handle.chunks, None)  # type: ignore[no-any-return]

    async def _stream_close(self, handle: StreamHandle) -> None:
        if not handle.closed:
            handle.closed = True
            await handle.native.aclose()

    async def _attach(self, path: str, probe: float) -> Any:
        from ._ws import aconnect_terminal

        return await aconnect_terminal(self._settings, path, self._timeout, probe)
