"""What the three stand-ins share: a tornado app on its own event-loop thread, request recording,
JSON and SSE helpers, and error bodies in each platform's own shape.

A stand-in runs its loop in a daemon thread, so one instance serves sync tests, async tests
(whose loops come and go per test) and the `python -m tests.standins` CLI alike. Handlers run
on that loop; `StandIn.call` runs a function there from any other thread (state is only ever
touched on the loop).
"""
from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPServerRequest
from tornado.netutil import bind_sockets

T = TypeVar("T")
S = TypeVar("S", bound="StandIn")
Route = tuple[str, type[tornado.web.RequestHandler]]
_NAMESPACE = uuid.UUID("6f0c5b8e-2d1a-4c8e-9a51-5e2f1d0c7a13")


def iso_now() -> str:
    """UTC now as `2026-02-17T10:30:00.000Z`, the timestamp form all three platforms use."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def words(text: str) -> list[str]:
    """`text` cut into word-sized stream chunks (each keeps its trailing space)."""
    return re.findall(r"\S+\s*", text)


@dataclass
class Recorded:
    """One request as the stand-in received it: every header, raw path and body."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def header_names(self) -> set[str]:
        return {n.lower() for n, _ in self.headers}

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ApiError(tornado.web.HTTPError):
    """An error answer; `extra` holds platform fields (openloomi's `code`, `cause`)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(status)
        self.message = message
        self.extra = extra


class Handler(tornado.web.RequestHandler):
    """Records each request before answering and writes errors through `error_body`."""

    standin: Any

    def initialize(self, standin: StandIn) -> None:
        self.standin = standin

    def check_xsrf_cookie(self) -> None:
        pass

    def prepare(self) -> None:
        self.standin.record(self.request)

    def error_body(self, status: int, message: str, extra: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.message if isinstance(exc, ApiError) else self._reason
        extra = exc.extra if isinstance(exc, ApiError) else {}
        self.send_json(self.error_body(status_code, message, extra), status_code)

    def on_connection_close(self) -> None:
        if not self._finished:  # the client went away before the answer ended
            self.standin.disconnects.append(self.request.path)
        super().on_connection_close()

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if not isinstance(value, tornado.web.HTTPError):  # expected answers are not news
            super().log_exception(typ, value, tb)

    def send_json(self, body: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body))

    def body_json(self) -> dict[str, Any]:
        """The request body as a JSON object, or a 400 in the platform's shape."""
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise ApiError(400, "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        return body

    def bearer(self) -> str | None:
        scheme, _, secret = self.request.headers.get("Authorization", "").partition(" ")
        return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None

    def int_arg(self, name: str, default: int, minimum: int, maximum: int) -> int:
        raw = self.get_query_argument(name, None)
        try:
            value = default if raw is None else int(raw)
        except ValueError:
            raise ApiError(400, f"Query parameter '{name}' must be an integer") from None
        if not minimum <= value <= maximum:
            raise ApiError(400, f"Query parameter '{name}' must be between {minimum} and {maximum}")
        return value

    def start_sse(self) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")

    async def sse(self, data: Any, event: str | None = None) -> None:
        """Send one event now; raises StreamClosedError once the client has gone."""
        text = data if isinstance(data, str) else json.dumps(data)
        self.write((f"event: {event}\n" if event else "") + f"data: {text}\n\n")
        await self.flush()


class StandIn:
    """Base of the stand-ins: start/stop on 127.0.0.1, recorded requests, reset and configure.

    Subclasses set their option attributes (named in OPTIONS) before calling `__init__`, give
    their routes, their 404 handler and `_reset_state`; `reset()` restores the options given
    at construction, empties the state and the request log.
    """

    kind: ClassVar[str] = ""
    OPTIONS: ClassVar[tuple[str, ...]] = ()
    not_found: ClassVar[type[tornado.web.RequestHandler]] = Handler

    def __init__(self) -> None:
        self.url = ""
        self.port = 0
        self.requests: list[Recorded] = []
        self.disconnects: list[str] = []  # paths whose client left before the answer ended
        self._options = {name: getattr(self, name) for name in self.OPTIONS}
        self._ids = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: HTTPServer | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{self.kind}-standin",
                                        daemon=True)
        self._reset_state()

    def __repr__(self) -> str:  # credentials stay out of reprs, as everywhere in the suite
        return f"<{type(self).__name__} {self.url or 'not started'}>"

    # -- what subclasses provide -------------------------------------------------------------
    def routes(self) -> list[Route]:
        raise NotImplementedError

    def credentials(self) -> list[dict[str, str]]:
        """What the stand-in accepts, for the CLI and for test setup."""
        raise NotImplementedError

    def _reset_state(self) -> None:
        raise NotImplementedError

    def _close_streams(self) -> None:
        """Close long-lived connections the HTTP server no longer tracks (WebSockets)."""

    # -- life cycle ----------------------------------------------------------------------------
    def start(self: S, port: int = 0) -> S:
        sockets = bind_sockets(port, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread.start()
        self.call(lambda: self._listen(sockets))
        return self

    def _listen(self, sockets: list[Any]) -> None:
        app = tornado.web.Application(
            [(path, cls, {"standin": self}) for path, cls in self.routes()],
            default_handler_class=self.not_found, default_handler_args={"standin": self},
            log_function=lambda handler: None)  # tests read `requests`, not access logs
        self._server = HTTPServer(app)
        self._server.add_sockets(sockets)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            for task in list(self._tasks):
                task.cancel()
            self._close_streams()
            if self._server is not None:
                self._server.stop()
                await asyncio.wait_for(self._server.close_all_connections(), 5)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def __enter__(self: S) -> S:
        return self if self.url else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests and handlers --------------------------------------------------------
    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the stand-in's loop (at once if already there) and return its result."""
        if not self._thread.is_alive() or threading.current_thread() is self._thread:
            return fn()
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(timeout=10)

    def reset(self) -> None:
        """Back to the state just after start: options, data, rate windows, request log."""

        def run() -> None:
            for task in list(self._tasks):
                task.cancel()
            for name, value in self._options.items():
                setattr(self, name, value)
            self._ids = 0
            self._reset_state()
            self.requests.clear()
            self.disconnects.clear()

        self.call(run)

    def configure(self, **options: Any) -> None:
        """Change options (e.g. `token_lifetime`, `rate_limit`) until the next `reset()`."""
        unknown = set(options) - set(self.OPTIONS)
        if unknown:
            raise TypeError(f"{self.kind} stand-in has no option {sorted(unknown)}; "
                            f"options: {', '.join(self.OPTIONS)}")

        def run() -> None:
            for name, value in options.items():
                setattr(self, name, value)

        self.call(run)

    def record(self, request: HTTPServerRequest) -> None:
        self.requests.append(Recorded(request.method or "", request.path, request.query,
                                      list(request.headers.get_all()), request.body or b""))

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def new_id(self, what: str) -> str:
        """A UUID that is the same on every run of a fresh stand-in (notebooks stay stable)."""
        self._ids += 1
        return str(uuid.uuid5(_NAMESPACE, f"{self.kind}/{what}/{self._ids}"))

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` on the loop in the background; `reset`/`stop` cancel it."""
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def clock() -> float:
        return time.time()
