"""Load through one real jupyter-server (a subprocess with the extension) in front of a local Loom.

`run_load(...)` opens `streams` SSE log streams (spread over `producers` weavers that print
numbered lines for `seconds`) and `terminals` terminal sessions (weavers that echo their raw
PTY input back), all through the extension, checks that every line and every byte arrived
exactly once and in order, and samples both servers' RSS. Everything is bounded in time.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import string
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import connect

from tests.fixtures.loom_server import LocalLoom

START_TIMEOUT = 30.0
IMAGE = "python:3.12"
ECHO = ("import os, tty\ntty.setraw(0)\nwhile True:\n d = os.read(0, 65536)\n"
        " if not d: break\n os.write(1, d)\n")


def producer(k: int, seconds: float, pause: float) -> list[str]:
    """Prints `p<k> <seq> <filler>` every `pause` s for `seconds`, then `END <count>`."""
    code = (
        f"import time\ntime.sleep(1.0)\nend = time.monotonic() + {seconds!r}\ni = 0\n"
        "while time.monotonic() < end:\n"
        f" print(f'p{k} {{i:07d}} ' + 'x' * (i % 50), flush=True)\n i += 1\n"
        f" time.sleep({pause!r})\nprint(f'END {{i}}', flush=True)\n"
    )
    return ["python3", "-c", code]


@dataclass
class JupyterServer:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def proxy(self) -> str:
        return f"{self.url}/loom/"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_jupyter(root: Path, loom_url: str, key: str, extra: dict[str, Any] | None = None,
                  key_in_env: bool = False) -> JupyterServer:
    """`python -m jupyter_server` with only loom_jupyter enabled, isolated config and runtime.

    The key is given in a 0600 file, or with `key_in_env` as `LOOM_API_KEY`."""
    config_dir, runtime = root / "config", root / "runtime"
    for d in (config_dir, runtime, root / "work"):
        d.mkdir(parents=True, exist_ok=True)
    key_file = root / "loom.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    token = os.urandom(16).hex()
    port = _free_port()
    others = ("jupyterlab", "jupyter_lsp", "jupyter_server_proxy", "notebook_shim", "notebook",
              "jupyter_server_terminals", "nbclassic", "voila")
    config = {"ServerApp": {"jpserver_extensions": {"loom_jupyter": True,
                                                    **{name: False for name in others}},
                            "ip": "127.0.0.1", "port": port, "port_retries": 0,
                            "open_browser": False, "allow_root": True,
                            "root_dir": str(root / "work")},
              "IdentityProvider": {"token": token},
              "LoomJupyter": {"url": loom_url, **({} if key_in_env else
                                                  {"api_key_file": str(key_file)}),
                              **(extra or {})}}
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LOOM_", "JUPYTER_")) and k not in ("JPY_SESSION_NAME",)}
    env.update(JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_RUNTIME_DIR=str(runtime),
               JUPYTER_CONFIG_PATH=str(config_dir), JUPYTER_PLATFORM_DIRS="1")
    if key_in_env:
        env["LOOM_API_KEY"] = key
    log_path = root / "jupyter.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "jupyter_server"], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                   start_new_session=True, cwd=root)
    server = JupyterServer(f"http://127.0.0.1:{port}", token, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter server exited:\n{log_path.read_text()[-3000:]}")
        try:
            r = httpx.get(f"{server.proxy}status", headers=server.headers(), timeout=2)
            if r.status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"jupyter server not up in {START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")


@dataclass
class Result:
    streams: int = 0
    lines: int = 0
    stream_bytes: int = 0
    terminals: int = 0
    terminal_bytes: int = 0
    round_trips: int = 0
    errors: list[str] = field(default_factory=list)
    max_open_streams: int = 0
    rss: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        rss = ", ".join(f"{name} {v['baseline']:.0f}->{v['peak']:.0f} MiB"
                        for name, v in self.rss.items())
        return (f"{self.streams} SSE streams ({self.lines} lines, {self.stream_bytes / 1e6:.1f} MB, "
                f"max {self.max_open_streams} open at once), {self.terminals} terminals "
                f"({self.round_trips} round trips, {self.terminal_bytes / 1e6:.2f} MB echoed) in "
                f"{self.seconds:.1f} s; RSS {rss}; {len(self.errors)} errors")


class Sampler:
    """Peak RSS (MiB) of some processes, sampled every `period` seconds."""

    def __init__(self, pids: dict[str, int], period: float = 0.25) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.baseline = {name: self._rss(p) for name, p in self.procs.items()}
        self.peak = dict(self.baseline)
        self.period = period

    @staticmethod
    def _rss(proc: psutil.Process) -> float:
        return proc.memory_info().rss / 2**20

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for name, proc in self.procs.items():
                self.peak[name] = max(self.peak[name], self._rss(proc))
            try:
                await asyncio.wait_for(stop.wait(), self.period)
            except asyncio.TimeoutError:
                pass

    def report(self) -> dict[str, dict[str, float]]:
        return {n: {"baseline": self.baseline[n], "peak": self.peak[n]} for n in self.procs}


class Load:
    def __init__(self, jupyter: JupyterServer, loom: LocalLoom, key: str, result: Result) -> None:
        self.jupyter, self.loom, self.key, self.result = jupyter, loom, key, result
        self.open_streams = 0

    def _error(self, text: str) -> None:
        self.result.errors.append(text[:300])

    async def create(self, http: httpx.AsyncClient, command: list[str], case: str) -> str:
        r = await http.post("api/weaver", json={
            "image": IMAGE, "org_id": self.loom.org_id, "command": command,
            "tags": {"case": case}, "lifetime_hours": 1}, timeout=60)
        r.raise_for_status()
        return str(r.json()["id"])

    async def stream(self, http: httpx.AsyncClient, weaver_id: str, name: str,
                     deadline: float) -> None:
        """One SSE follower: every `pK NNNNNNN` line exactly once and in order, then END."""
        expected, buffer, data = 0, "", []
        try:
            async with http.stream("GET", f"api/weaver/{weaver_id}/logs",
                                   params={"tail": "-1", "timestamps": "false"},
                                   timeout=httpx.Timeout(30, read=30)) as r:
                if r.status_code != 200:
                    self._error(f"{name}: HTTP {r.status_code} {(await r.aread())[:200]!r}")
                    return
                self.open_streams += 1
                self.result.max_open_streams = max(self.result.max_open_streams, self.open_streams)
                try:
                    async for raw in r.aiter_lines():
                        self.result.stream_bytes += len(raw) + 1
                        if raw.startswith("data:"):
                            data.append(raw[6:] if raw.startswith("data: ") else raw[5:])
                            continue
                        if raw or not data:
                            continue
                        buffer += "\n".join(data)
                        data = []
                        *lines, buffer = buffer.split("\n")
                        for line in (ln.rstrip("\r") for ln in lines):
                            if line.startswith("END "):
                                if int(line[4:]) != expected:
                                    self._error(f"{name}: END {line[4:]} after {expected} lines")
                                return
                            seq = int(line.split()[1])
                            if seq != expected:
                                self._error(f"{name}: got {seq}, expected {expected}")
                                return
                            expected += 1
                            self.result.lines += 1
                        if time.monotonic() > deadline:
                            self._error(f"{name}: still streaming at the deadline")
                            return
                finally:
                    self.open_streams -= 1
            self._error(f"{name}: stream ended without END after {expected} lines")
        except (httpx.HTTPError, ValueError, IndexError) as exc:
            self._error(f"{name}: {type(exc).__name__}: {exc}")

    async def terminal(self, weaver_id: str, name: str, until: float, deadline: float) -> None:
        """Type random printable chunks into a raw echo PTY; every byte must come back in order."""
        url = self.jupyter.proxy.replace("http://", "ws://") + f"api/weaver/{weaver_id}/attach"
        rng = random.Random(name)
        sent = received = b""
        try:
            async with connect(url, additional_headers=self.jupyter.headers(), open_timeout=30,
                               max_size=2**22) as ws:
                await asyncio.sleep(1.5)  # let the weaver switch its PTY to raw mode
                while await _drain(ws, 0.1):
                    pass  # anything printed before raw mode (nothing expected) is not ours
                while time.monotonic() < until:
                    chunk = "".join(rng.choices(string.ascii_letters + string.digits,
                                                k=rng.randint(64, 1024))).encode()
                    await ws.send(chunk)
                    sent += chunk
                    while len(received) < len(sent):
                        frame = await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic()))
                        received += frame if isinstance(frame, bytes) else frame.encode()
                    self.result.round_trips += 1
                    await asyncio.sleep(0.02)
            if received != sent:
                at = next(i for i, (a, b) in enumerate(zip(received, sent, strict=False)) if a != b) \
                    if len(received) >= len(sent) else len(received)
                self._error(f"{name}: echo differs at byte {at} of {len(sent)}")
            self.result.terminal_bytes += len(received)
        except Exception as exc:  # any failure is a load error to report
            self._error(f"{name}: {type(exc).__name__}: {exc}")


async def _drain(ws: Any, wait: float) -> bytes:
    try:
        frame = await asyncio.wait_for(ws.recv(), wait)
    except asyncio.TimeoutError:
        return b""
    return frame if isinstance(frame, bytes) else frame.encode()


async def run_load(jupyter: JupyterServer, loom: LocalLoom, key: str, *, streams: int,
                   producers: int, terminals: int, seconds: float, pause: float = 0.01) -> Result:
    result = Result(streams=streams, terminals=terminals)
    load = Load(jupyter, loom, key, result)
    case = os.urandom(6).hex()
    limits = httpx.Limits(max_connections=streams + 20, max_keepalive_connections=20)
    async with httpx.AsyncClient(base_url=jupyter.proxy, headers=jupyter.headers(), limits=limits,
                                 trust_env=False, timeout=60) as http:
        makers = [load.create(http, producer(k, seconds, pause), case) for k in range(producers)]
        echoes = [load.create(http, ["python3", "-c", ECHO], case) for _ in range(terminals)]
        ids = await asyncio.gather(*makers, *echoes)
        sampler = Sampler({"jupyter-server": jupyter.process.pid, "local-loom": loom.process.pid})
        stop = asyncio.Event()
        sampling = asyncio.ensure_future(sampler.run(stop))
        started = time.monotonic()
        until, deadline = started + seconds + 1.0, started + seconds + 60.0
        tasks = [load.stream(http, ids[i % producers], f"stream-{i}", deadline) for i in range(streams)]
        tasks += [load.terminal(ids[producers + i], f"terminal-{i}", until, deadline)
                  for i in range(terminals)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), seconds + 90)
        finally:
            result.seconds = time.monotonic() - started
            stop.set()
            await sampling
            result.rss = sampler.report()
            await asyncio.gather(*(http.delete(f"api/weaver/{i}") for i in ids),
                                 return_exceptions=True)
    return result
