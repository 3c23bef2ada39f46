"""Assemble and run the local server: every handler module, one tornado app, clean shutdown."""
from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import socket
import sys
from types import ModuleType

import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from .base import NotFoundHandler
from .config import LocalConfig
from .handlers import MODULES
from .lock import DataDirBusy, DataDirLock
from .openapi import build_document
from .state import LocalState

log = logging.getLogger("loom_jupyter.local")
# Bodies are streamed and checked against config.max_body_bytes (413 JSON) by LocalHandler; this
# is only the connection-level backstop, far above it, so the JSON answer wins.
_CONNECTION_BODY_LIMIT = 1024 * 1024 * 1024


def handler_modules() -> list[ModuleType]:
    """All handler modules of the contract; a missing one is a broken install, not optional."""
    modules = []
    for name in MODULES:
        try:
            modules.append(importlib.import_module(f"{__package__}.handlers.{name}"))
        except ImportError as exc:
            raise RuntimeError(f"local server handler module `handlers.{name}` cannot be "
                               f"imported: {exc}") from exc
    return modules


def all_routes(modules: list[ModuleType]) -> list[tuple[str, type]]:
    return [route for module in modules for route in module.ROUTES]


def make_app(state: LocalState, modules: list[ModuleType]) -> tornado.web.Application:
    return tornado.web.Application(
        all_routes(modules), loom_state=state, loom_openapi=build_document(modules),
        default_handler_class=NotFoundHandler,
        websocket_max_message_size=state.config.max_body_bytes,
        websocket_ping_interval=None, compress_response=False)


class LocalServer:
    """The server in-process: `await start()` binds (port 0 = a free one) and sets `.url`."""

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.url = ""
        self.state: LocalState | None = None
        self._server: HTTPServer | None = None
        self._lock = DataDirLock(config.data_dir)

    async def start(self) -> None:
        """DataDirBusy if another server uses the data directory; OSError if the port is taken.

        The port is bound before the state opens: a server that cannot serve must not adopt
        (and on its way out stop) the weavers a previous one left running."""
        modules = handler_modules()
        self._lock.acquire()  # before anything reads or changes the data directory
        try:
            sockets = bind_sockets(self.config.port, self.config.host, family=_family(self.config))
        except OSError:
            self._lock.release()
            raise
        try:
            self.state = await LocalState.open(self.config)
        except BaseException:
            for sock in sockets:
                sock.close()
            self._lock.release()
            raise
        self._server = HTTPServer(make_app(self.state, modules), xheaders=False,
                                  max_body_size=_CONNECTION_BODY_LIMIT)
        self._server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            try:
                await asyncio.wait_for(self._server.close_all_connections(), timeout=5)
            except asyncio.TimeoutError:
                log.warning("some connections did not close within 5 s")
            self._server = None
        if self.state is not None:
            await self.state.close()
            self.state = None
        self._lock.release()


def _family(config: LocalConfig) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in config.host else socket.AF_INET


async def _serve(config: LocalConfig) -> None:
    server = LocalServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The key itself is never printed: only where to find it.
    print(f"loom-jupyter local: serving the Loom API at {server.url}", flush=True)
    print(f"loom-jupyter local: admin key file {config.admin_key_file} "
          f"(data in {config.data_dir})", flush=True)
    try:
        await stop.wait()
    finally:
        print("loom-jupyter local: stopping", flush=True)
        await server.stop()


def run(config: LocalConfig) -> None:
    """Serve until SIGINT/SIGTERM (the CLI entry point)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve(config))
    except DataDirBusy as exc:
        raise SystemExit(str(exc)) from None
    except OSError as exc:
        raise SystemExit(f"loom-jupyter local: cannot start on {config.host}:{config.port} "
                         f"with data in {config.data_dir}: {exc}") from None
