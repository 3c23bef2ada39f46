"""`Loom` and `AsyncLoom` side by side: the shared surface, and the only two I/O paths."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
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
    limit_body_reads,
    parse_response,
    transport_errors,
)
from ._errors import AuthenticationError, LoomConfigError, LoomError, UnsupportedFeatureError
from ._retry import RetryPolicy, request
from ._settings import (
    Mode,
    SecretList,
    Settings,
    resolve_connection,
    resolve_direct,
    resolve_settings,
)
from .kinds import KINDS, Kind, get_kind
from .kinds.session import Session
from .resources import Auth, Llm, SignIn, Threads, Weavers
from .resources import auth as _auth
from .resources._resource import raw_call, relative_path

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# How long a rate-limited idempotent request may wait for its window before being reported:
# Loom keeps its historical 10 s; the other kinds announce their reset time, so wait it out.
LOOM_RATE_LIMIT_WAIT = 10.0
RATE_LIMIT_WAIT = 60.0
_LOG = logging.getLogger("loom_jupyter.client")


def announce(op: Sleep) -> None:
    """A wait the server asked for is logged (visible in a notebook), never silent."""
    if op.reason:
        _LOG.warning("%s", op.reason)


class BaseLoom:
    """Everything but I/O: settings, request building, the public surface (shared by both)."""

    # Kind "loom"'s resources (other kinds attach their own, see kinds/).
    weavers: Weavers
    threads: Threads
    llm: Llm
    auth: Auth
    signin: SignIn

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        connection: str | None = None,
        kind: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token_file: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        cookie: str | None = None,
        max_retries: int = 2,
        max_rate_limit_wait: float | None = None,
    ) -> None:
        self._session: Session | None = None
        if connection is not None:
            given = [n for n, v in (("url", url), ("api_key", api_key), ("username", username),
                                    ("password", password), ("token_file", token_file),
                                    ("cookie", cookie)) if v is not None]
            if given:
                raise LoomConfigError(
                    f"connection={connection!r} goes through the Jupyter server, which holds the "
                    f"credential: drop {', '.join(given)}.")
            self._settings: Settings = resolve_connection(connection, kind)
        else:
            self._settings = self._direct(url, api_key, get_kind(kind or "loom"), username,
                                          password, token_file, cookie)
        self._kind: Kind = get_kind(self._settings.kind)
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        if max_rate_limit_wait is None:
            max_rate_limit_wait = LOOM_RATE_LIMIT_WAIT if self._kind.name == "loom" else RATE_LIMIT_WAIT
        self._policy = RetryPolicy(max_attempts=max_retries + 1, max_retry_after=max_rate_limit_wait)
        for name, resource in self._kind.resources.items():
            setattr(self, name, resource(self))

    def _direct(
        self, url: str | None, api_key: str | None, kind: Kind, username: str | None,
        password: str | None, token_file: str | None, cookie: str | None,
    ) -> Settings:
        if kind.name == "loom":
            if username is not None or password is not None or token_file is not None:
                raise LoomConfigError("Loom signs in with an API key (api_key=) or the device "
                                      "sign-in (loom.signin), not username=/password=/token_file=.")
            return resolve_settings(url, api_key, cookie)
        sources = [n for n, v in (("api_key", api_key), ("username", username or password),
                                  ("token_file", token_file)) if v is not None]
        if len(sources) > 1:
            raise LoomConfigError(f"Pass one credential for {kind.title}, not {' and '.join(sources)}.")
        if cookie is not None:
            raise LoomConfigError(f"cookie= is a Loom credential; {kind.title} does not take it.")
        settings = resolve_direct(url, kind.name, kind.title, api_key)
        if username is not None or password is not None or token_file is not None:
            self._session = Session(kind, username=username, password=password, token_file=token_file)
        return settings

    @property
    def url(self) -> str:
        return self._settings.url

    @property
    def mode(self) -> Mode:
        return self._settings.mode

    @property
    def kind(self) -> str:
        """The connection kind's name: "loom", "loom-v1", "openloomi", "nodeloom", ..."""
        return self._kind.name

    @property
    def connection(self) -> str | None:
        """The Jupyter server's name for this connection, when going through its proxy."""
        return self._settings.connection

    def __repr__(self) -> str:
        extra = f", kind={self.kind!r}" if self.kind != "loom" else ""
        extra += f", connection={self.connection!r}" if self.connection else ""
        return f"{type(self).__name__}(url={self.url!r}, mode={self.mode!r}{extra})"

    def __getattr__(self, name: str) -> Any:
        """A resource of another kind: say so in one sentence (an AttributeError for hasattr)."""
        owners = [k for k in KINDS.values() if name in k.resources] if not name.startswith("_") else []
        if not owners or "_kind" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        raise self._feature_error(name, owners[0].title)

    def _feature_error(self, feature: str, owner: str) -> UnsupportedFeatureError:
        where = f"connection {self.connection!r}" if self.connection else f"this client ({self.url})"
        return UnsupportedFeatureError(
            f"{feature} is a {owner} feature; {where} is a {self.kind} connection.")

    def _loom_only(self, feature: str) -> None:
        if self._kind.name != "loom":
            raise self._feature_error(feature, "Loom")

    def _secrets(self) -> list[str]:
        found = SecretList(self._settings.secrets())
        if self._session is not None:
            found.extend(self._session.secrets())
        return found

    def _client_options(self) -> dict[str, Any]:
        headers = {"User-Agent": f"loom-jupyter/{__version__}", "Accept": "application/json"}
        headers.update(self._settings.auth_headers())
        base = self.url if self.url.endswith("/") else self.url + "/"
        return {"base_url": base, "headers": headers, "timeout": self._timeout}

    def _auth_headers(self) -> dict[str, str]:
        """The credential headers of the next request (the session's JWT changes over time)."""
        headers = self._settings.auth_headers()
        if self._session is not None:
            headers.update(self._session.headers())
        return headers

    def _request_args(self, call: Call[Any]) -> dict[str, Any]:
        timeout = self._timeout
        if call.read_timeout is not None:
            timeout = httpx.Timeout(
                connect=self._timeout.connect, read=call.read_timeout,
                write=self._timeout.write, pool=self._timeout.pool,
            )
        headers = dict(call.headers or {})
        if self._session is not None and call.auth:
            headers.update(self._session.headers())
        args: dict[str, Any] = {
            "method": call.method, "url": relative_path(call.path), "params": call.params,
            "headers": headers, "timeout": timeout,
        }
        if call.content is not None:
            args["content"] = call.content
        else:
            args["json"] = call.json
        return args

    def _authorized(self, flow: Flow[Any]) -> Flow[Any]:
        return self._session.authorize(flow) if self._session is not None else flow

    def _errors(self, call: Call[Any]) -> Any:
        return transport_errors(call, self.url, self._secrets(), self._kind.title)

    @staticmethod
    def _usable_stream(response: httpx.Response) -> bool:
        """An error status or an HTML page must be read whole to report it (§0 SPA fallback)."""
        return response.status_code < 400 and "html" not in response.headers.get("content-type", "")

    def _check_stream(self, call: Call[Any], response: httpx.Response) -> None:
        content = response.content if response.is_closed else b""
        check_status(call, RawResponse(response.status_code, response.headers, content),
                     self._secrets(), self._kind)

    def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        """Any route of the connection's platform: the parsed JSON answer (None when empty).
        Errors are the usual LoomError subclasses; GET/PUT/DELETE are retried when transient."""
        return self._run(request(raw_call(method, path, params, json), self._policy))

    def health(self) -> Any:
        """`GET /health` -> Health (a 503 'unhealthy' answer is returned, not raised)."""
        self._loom_only("health")
        return self._run(_auth.health(self._policy))

    def me(self) -> Any:
        """`GET /api/auth/me` -> User."""
        self._loom_only("me")
        return self._run(_auth.me(self._policy))

    def orgs(self) -> Any:
        """`GET /api/orgs` -> list[Org]."""
        self._loom_only("orgs")
        return self._run(_auth.orgs(self._policy))

    def default_org_id(self) -> Any:
        """The caller's only org id; LoomError when there are several or none."""
        self._loom_only("default_org_id")
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
        flow = self._authorized(flow)
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
            announce(op)
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
        return parse_response(call, raw, self._secrets(), self._kind)

    def _stream_open(self, call: Call[Any]) -> StreamHandle:
        request = self._http.build_request(**self._request_args(call))
        with self._errors(call):
            response = self._http.send(request, stream=True)
            if not self._usable_stream(response):
                response.read()
                response.close()
        self._check_stream(call, response)
        limit_body_reads(call, response)
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

    def _json_socket(self, path: str) -> Any:
        """A WebSocket of JSON events, signed in (once more after a refused handshake)."""
        from ._ws import connect_events

        def connect() -> Any:
            return connect_events(self.url, path, self._auth_headers(), self._timeout,
                                  self._secrets(), self._kind)

        if self._session is None:
            return connect()
        self._run(self._session.ensure())
        try:
            return connect()
        except AuthenticationError:
            self._run(self._session.sign_in())
            return connect()


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
        flow = self._authorized(flow)
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
            announce(op)
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
        return parse_response(call, raw, self._secrets(), self._kind)

    async def _stream_open(self, call: Call[Any]) -> StreamHandle:
        request = self._http.build_request(**self._request_args(call))
        with self._errors(call):
            response = await self._http.send(request, stream=True)
            if not self._usable_stream(response):
                await response.aread()
                await response.aclose()
        self._check_stream(call, response)
        limit_body_reads(call, response)
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

    async def _json_socket(self, path: str) -> Any:
        from ._ws import aconnect_events

        async def connect() -> Any:
            return await aconnect_events(self.url, path, self._auth_headers(), self._timeout,
                                         self._secrets(), self._kind)

        if self._session is None:
            return await connect()
        await self._run(self._session.ensure())
        try:
            return await connect()
        except AuthenticationError:
            await self._run(self._session.sign_in())
            return await connect()
