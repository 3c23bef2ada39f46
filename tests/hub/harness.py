"""A real JupyterHub in front of the local Loom: the hub, configurable-http-proxy and one
`jupyterhub-singleuser` process per person (SimpleLocalProcessSpawner), all on 127.0.0.1.

`Hub` starts and stops it and speaks its REST API with the suite's admin service token;
`HubUser` is one person (their hub API token, their own Loom user and key file, their HOME);
`Browser` is a hub login session (cookies + `_xsrf`), as JupyterLab in a browser has;
`Kernel` is a real kernel started through a person's single-user server.

Every answer any of them receives (bodies, headers, SSE lines, WebSocket frames, kernel output)
goes into `Hub.transcript`, which the suite scans for Loom credentials at the end.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from websockets.sync.client import ClientConnection, connect

from tests.fixtures.loom_server import LocalLoom
from tests.fixtures.kernel_io import execute_request, take_output
from tests.fixtures.wait import read_until, wait_until

HERE = Path(__file__).parent
CHP = HERE / "node_modules" / ".bin" / "configurable-http-proxy"
CONFIG = HERE / "jupyterhub_config.py"
BIN = Path(sys.executable).parent
START_TIMEOUT = 45.0
SPAWN_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
TOKEN_SCHEME = "token"
# What must never reach a caller, a log or a kernel: Loom API keys and Loom access tokens.
LOOM_SECRET = re.compile(rb"lk_[0-9a-f]{64}|\blt_[A-Za-z0-9_\-]{8,}")
# How configurable-http-proxy logs a kept-alive upstream connection that was closed under it.
_HANG_UP = r" (?:socket hang up|(?:read|write) (?:ECONNRESET|EPIPE))"
# The hub's own environment: nothing of the test process's Loom or Jupyter settings leaks in.
_DROPPED_ENV = ("LOOM_", "JUPYTER", "JPY_", "IPYTHONDIR", "XDG_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Transcript:
    """Everything received from the hub and the servers behind it, labelled, for the scan."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []

    def add(self, label: str, data: bytes | str) -> None:
        self.items.append((label, data.encode() if isinstance(data, str) else bytes(data)))

    def record_response(self, response: httpx.Response) -> None:
        """An httpx response hook: headers always, bodies unless a stream (its lines are added
        by whoever reads them)."""
        label = f"{response.request.method} {response.request.url.path}"
        self.add(label + " [headers]", "\n".join(f"{k}: {v}" for k, v in
                                                 response.headers.multi_items()))
        if "text/event-stream" not in response.headers.get("content-type", ""):
            self.add(label, response.read())

    def leaks(self, extra: tuple[str, ...] = ()) -> list[str]:
        """Labels (and the match) of every item holding a Loom key or token."""
        found = []
        for label, data in self.items:
            match = LOOM_SECRET.search(data)
            if match is None:
                match = next((m for s in extra if s and (m := re.search(re.escape(s.encode()),
                                                                         data))), None)
            if match is not None:
                found.append(f"{label}: ...{data[max(0, match.start() - 40):match.end()]!r}")
        return found


@dataclass
class HubUser:
    """One person on the hub, with their own Loom identity."""

    name: str
    loom_user_id: str  # the Loom user their key file acts as
    loom_key_id: str
    loom_display_name: str
    home: Path
    key_file: Path | None
    hub_token: str = field(repr=False)
    loom_key: str = field(repr=False)

    @property
    def prefix(self) -> str:
        """The person's server under the hub's proxy: `/user/<name>/`."""
        return f"/user/{self.name}/"

    @property
    def loom_prefix(self) -> str:
        return f"{self.prefix}loom/"

    @property
    def data_dir(self) -> Path:
        """Their JUPYTER_DATA_DIR (where a server-side sign-in would be kept)."""
        return self.home / ".local" / "share" / "jupyter"

    def token_headers(self) -> dict[str, str]:
        return {"Authorization": f"{TOKEN_SCHEME} {self.hub_token}"}


class Hub:
    """A running JupyterHub (see jupyterhub_config.py) in front of one local Loom."""

    def __init__(self, loom: LocalLoom, root: Path) -> None:
        self.loom = loom
        self.root = root
        self.run_dir = root / "run"
        self.homes = root / "home"
        self.keys = root / "keys"
        self.log_path = self.run_dir / "hub.log"
        self.admin_token = secrets.token_hex(32)
        self.public_port = free_port()
        self.url = f"http://127.0.0.1:{self.public_port}"
        self.ws_url = f"ws://127.0.0.1:{self.public_port}"
        self.transcript = Transcript()
        self.users: dict[str, HubUser] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self._descendants: dict[int, psutil.Process] = {}
        self.hangups: list[str] = []  # requests the proxy answered 503 for a closed connection

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        for path in (self.run_dir, self.homes):
            path.mkdir(parents=True, exist_ok=True)
        self.keys.mkdir(mode=0o700, parents=True, exist_ok=True)
        settings = {
            "run_dir": str(self.run_dir), "homes_dir": str(self.homes), "keys_dir": str(self.keys),
            "public_port": self.public_port, "hub_port": free_port(),
            "proxy_api_port": free_port(), "chp": str(CHP),
            "singleuser": str(BIN / "jupyterhub-singleuser"), "loom_url": self.loom.url,
            "admin_token": self.admin_token,
        }
        settings_path = self.run_dir / "settings.json"
        settings_path.write_text(json.dumps(settings))
        settings_path.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_ENV)}
        env.update(LOOM_HUB_TEST_SETTINGS=str(settings_path),
                   PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(CONFIG)], cwd=self.run_dir, env=env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        try:
            wait_until(self._answers, START_TIMEOUT, "the hub to answer through its proxy",
                       ignoring=(httpx.HTTPError,))
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the hub exited with {self.process.returncode}:\n"
                                 f"{self.log_text()[-3000:]}")
        return httpx.get(f"{self.url}/hub/api/", timeout=2, trust_env=False).status_code == 200

    def stop(self) -> None:
        """SIGTERM the hub (it stops the proxy and every server); whatever it started that is
        still there after STOP_TIMEOUT is killed, by pid."""
        process = self.process
        if process is None:
            return
        self._remember_descendants()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        left = [p for p in self._descendants.values() if _alive(p)]
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _, still = psutil.wait_procs(left, timeout=5)
        for proc in still:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(still, timeout=5)

    def _remember_descendants(self) -> None:
        """Note every process the hub started so far (proxy, servers, kernels): each is stopped
        at the end even if the hub cannot do it."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(psutil.Error):
            for proc in psutil.Process(self.process.pid).children(recursive=True):
                self._descendants[proc.pid] = proc

    def log_text(self) -> str:
        """The hub's log: the hub, configurable-http-proxy and every single-user server (they
        inherit the hub's output)."""
        return self.log_path.read_text(errors="replace")

    def proxy_hung_up(self, request: httpx.Request) -> bool:
        """Did configurable-http-proxy log one more "503 <method> <target> socket hang up" (or
        ECONNRESET/EPIPE: how the closed connection showed) for this request than counted?"""
        line = f"503 {request.method} {request.url.raw_path.decode()}"
        seen = len(re.findall(re.escape(line) + _HANG_UP, self.log_text()))
        if seen > self.hangups.count(line):
            self.hangups.append(line)
            return True
        return False

    def singleuser_processes(self) -> list[psutil.Process]:
        self._remember_descendants()
        return [p for p in self._descendants.values()
                if _alive(p) and any("jupyterhub-singleuser" in part for part in _cmdline(p))]

    # -- HTTP ----------------------------------------------------------------------------------
    def client(self, headers: dict[str, str] | None = None, *, follow_redirects: bool = False,
               timeout: float = 30.0) -> httpx.Client:
        """An HTTP client for the hub's public URL whose every answer is recorded."""
        return httpx.Client(base_url=self.url, headers=headers or {}, timeout=timeout,
                            follow_redirects=follow_redirects, trust_env=False,
                            event_hooks={"response": [self.transcript.record_response]})

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The hub's REST API (`/hub/api/...`) as the suite's admin service."""
        headers = {"Authorization": f"{TOKEN_SCHEME} {self.admin_token}"}
        with self.client(headers) as client:
            return client.request(method, f"/hub/api/{path.lstrip('/')}", **kwargs)

    def as_user(self, user: HubUser, **kwargs: Any) -> httpx.Client:
        """A program holding `user`'s hub API token (e.g. a script, or a notebook's requests)."""
        return self.client(user.token_headers(), **kwargs)

    # -- people and their servers ---------------------------------------------------------------
    def add_user(self, name: str, *, key_file: bool = True) -> HubUser:
        """A hub user with their own Loom user; `key_file` gives their server a 0600 key file
        (else it has no credential until they sign in)."""
        created = self.loom.make_user("user", name=f"hub-{name}")
        path: Path | None = None
        if key_file:
            path = self.keys / f"{name}.key"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(created["key"] + "\n")
        r = self.api("POST", f"users/{name}")
        assert r.status_code in (201, 409), r.text
        r = self.api("POST", f"users/{name}/tokens",
                     json={"note": "loom hub suite", "expires_in": 3600})
        assert r.status_code == 201, r.text
        user = HubUser(name=name, loom_user_id=created["user_id"], loom_key_id=created["id"],
                       loom_display_name=created["name"], home=self.homes / name,
                       key_file=path, hub_token=r.json()["token"], loom_key=created["key"])
        self.users[name] = user
        return user

    def spawn(self, *users: HubUser) -> None:
        """Start these people's servers (concurrently) and wait until each answers behind the
        proxy."""
        for user in users:
            r = self.api("POST", f"users/{user.name}/server")
            assert r.status_code in (201, 202), r.text
        for user in users:
            wait_until(lambda u=user: self._server_ready(u), SPAWN_TIMEOUT,
                       f"{user.name}'s server to be ready behind the proxy",
                       ignoring=(httpx.HTTPError,), interval=0.2)
        self._remember_descendants()

    def _server_ready(self, user: HubUser) -> bool:
        model = self.api("GET", f"users/{user.name}").json()
        if not model.get("servers", {}).get("", {}).get("ready"):
            pending = model.get("pending")
            if pending is None and not model.get("servers"):
                raise AssertionError(f"{user.name}'s server failed to start:\n"
                                     f"{self.log_text()[-3000:]}")
            return False
        with self.as_user(user) as client:
            return client.get(f"{user.prefix}api/status").status_code == 200

    def stop_server(self, user: HubUser) -> None:
        r = self.api("DELETE", f"users/{user.name}/server")
        assert r.status_code in (202, 204), r.text
        wait_until(lambda: not self.api("GET", f"users/{user.name}").json().get("servers"),
                   SPAWN_TIMEOUT, f"{user.name}'s server to stop", interval=0.2)

    # -- sessions and kernels -----------------------------------------------------------------
    def browser(self, user: HubUser) -> Browser:
        return Browser.login(self, user)

    @contextlib.contextmanager
    def kernel(self, user: HubUser) -> Iterator[Kernel]:
        """A kernel started through `user`'s server (REST API + its kernel WebSocket), shut
        down at the end."""
        kernel = Kernel.start(self, user)
        try:
            yield kernel
        finally:
            kernel.shutdown()


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


_LOGIN_XSRF = re.compile(r'name="_xsrf"\s+value="([^"]+)"')


class Browser:
    """A person logged in at /hub/login, OAuth'd into their server: cookies + `_xsrf`, as
    JupyterLab in a browser tab has them."""

    def __init__(self, hub: Hub, user: HubUser, client: httpx.Client) -> None:
        self.hub, self.user, self.client = hub, user, client

    @classmethod
    def login(cls, hub: Hub, user: HubUser, password: str = "any password") -> Browser:
        client = hub.client(follow_redirects=True)
        try:
            page = client.get("/hub/login")
            assert page.status_code == 200, page.text[:500]
            found = _LOGIN_XSRF.search(page.text)
            assert found, "no _xsrf field in the hub's login form"
            landed = client.post("/hub/login", params={"next": user.prefix},
                                 data={"username": user.name, "password": password,
                                       "_xsrf": found.group(1)})
            assert landed.status_code == 200, (landed.status_code, landed.text[:500])
            assert landed.url.path.startswith(user.prefix), landed.url
        except BaseException:
            client.close()
            raise
        return cls(hub, user, client)

    def cookie(self, name: str, path: str) -> str | None:
        return next((c.value for c in self.client.cookies.jar
                     if c.name == name and c.path.rstrip("/") == path.rstrip("/")), None)

    @property
    def xsrf(self) -> str:
        """The `_xsrf` cookie the person's server set for its own path."""
        value = self.cookie("_xsrf", self.user.prefix)
        assert value, [(c.name, c.path) for c in self.client.cookies.jar]
        return value

    def cookie_header(self, path: str) -> str:
        """What a browser sends to `path`: every cookie whose path covers it."""
        return "; ".join(f"{c.name}={c.value}" for c in self.client.cookies.jar
                         if path.startswith(c.path.rstrip("/") + "/") or c.path == "/")

    def ws_connect(self, path: str, origin: str | None = None) -> ClientConnection:
        """A browser WebSocket: the cookie and the page's Origin (no token, no XSRF header)."""
        return connect(self.hub.ws_url + path, open_timeout=15,
                       origin=origin or self.hub.url,  # type: ignore[arg-type]
                       additional_headers={"Cookie": self.cookie_header(path)})

    def close(self) -> None:
        self.client.close()


class Kernel:
    """A real kernel of a person's server, driven over the kernel WebSocket (Jupyter's messaging
    protocol, as JupyterLab does)."""

    def __init__(self, hub: Hub, user: HubUser, kernel_id: str, ws: ClientConnection) -> None:
        self.hub, self.user, self.id, self.ws = hub, user, kernel_id, ws
        self._env: dict[str, str] | None = None

    @classmethod
    def start(cls, hub: Hub, user: HubUser) -> Kernel:
        with hub.as_user(user, timeout=60) as client:
            r = client.post(f"{user.prefix}api/kernels", json={"name": "python3"})
        assert r.status_code == 201, r.text
        kernel_id = r.json()["id"]
        try:
            ws = connect(f"{hub.ws_url}{user.prefix}api/kernels/{kernel_id}/channels",
                         additional_headers=user.token_headers(), open_timeout=30)
        except BaseException:
            with hub.as_user(user) as client:
                client.delete(f"{user.prefix}api/kernels/{kernel_id}")
            raise
        hub._remember_descendants()
        return cls(hub, user, kernel_id, ws)

    def run(self, code: str, timeout: float = 60.0) -> str:
        """Execute `code`; return its stdout, stderr and any error, as the notebook shows them."""
        request = execute_request(code)
        self.ws.send(json.dumps(request))
        out: list[str] = []
        done = b'"execution_state": "idle"'

        def recv() -> bytes:
            raw = self.ws.recv(timeout=0.5)
            self.hub.transcript.add(f"kernel {self.user.name}", raw)
            return done if take_output(json.loads(raw), request, out) else b""

        read_until(recv, done, timeout, f"{self.user.name}'s kernel to finish running code")
        return "".join(out)

    def run_json(self, code: str, timeout: float = 60.0) -> Any:
        """Run code whose last printed line is JSON; return that value."""
        out = self.run(code, timeout)
        assert "ERROR" not in out, out
        return json.loads(out.strip().splitlines()[-1])

    @property
    def env(self) -> dict[str, str]:
        """The kernel's environment, read inside the kernel."""
        if self._env is None:
            self._env = self.run_json("import json, os; print(json.dumps(dict(os.environ)))")
        return self._env

    @property
    def proxy_headers(self) -> dict[str, str]:
        """What loom_jupyter's SDK sends from this kernel: the per-server proxy token."""
        return {"Authorization": f"{TOKEN_SCHEME} {self.env['LOOM_JUPYTER_PROXY_TOKEN']}"}

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        with contextlib.suppress(httpx.HTTPError), self.hub.as_user(self.user) as client:
            client.delete(f"{self.user.prefix}api/kernels/{self.id}")
