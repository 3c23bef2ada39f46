"""The three paths under test, as real processes: a local Loom and two Jupyter servers in front of it.

- direct: the local Loom server (`python -m loom_jupyter.local`), bearer admin key.
- ours:   `jupyter server` with the loom_jupyter extension only, at `{base_url}loom/`.
- jsp:    `jupyter server` with jupyter-server-proxy only; a named server `loomup` forwards
          `{base_url}loomup/...` to the same Loom and overrides Authorization with the key.
- floor:  not a path to Loom: `{base_url}api/me` on the "ours" server with the same token, the
          cheapest authenticated answer Jupyter gives (what a proxy hosted in it cannot go below).

Every child runs in its own process group and is stopped with SIGTERM, then SIGKILL.
Processes the local server spawned for weavers (its descendants) are remembered and
stopped by pid if they outlive it.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BASE_URL = "/bench/"
JSP_NAME = "loomup"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 5.0
_URL_LINE = re.compile(r"serving the Loom API at (http://\S+)")
_SCRUBBED_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                 "LOOM_LOCAL_LLM_RATE_LIMIT_EVERY", "LOOM_URL", "LOOM_API_KEY", "LOOM_API_KEY_FILE",
                 "LOOM_JUPYTER_PROXY_URL", "LOOM_JUPYTER_PROXY_TOKEN", "JUPYTER_TOKEN")
# Everything else the venv may auto-enable is switched off, so each server runs one proxy only.
_OTHER_EXTENSIONS = ("jupyterlab", "jupyter_lsp", "notebook", "notebook_shim", "nbclassic",
                     "jupyter_server_terminals", "voila")
PATHS = ("direct", "ours", "jsp")
# Not a proxy: Jupyter's own cheapest authenticated handler, on the same server as "ours" and with
# the same token header, measured beside the small GET (what any handler in Jupyter costs).
FLOOR = "floor"
FLOOR_PATH = "/api/me"
LABELS = {"direct": "direct", "floor": "Jupyter floor (`api/me`)", "ours": "ours (loom_jupyter)",
          "jsp": "jupyter-server-proxy"}


@dataclass
class Route:
    """One way to reach Loom: `base` + `/api/...`, with the header that authenticates there."""

    name: str
    host: str
    port: int
    prefix: str  # path before /api/..., "" for direct, "/bench/loom" for ours
    token: str = field(repr=False)  # what the SDK sends as its api_key on this route
    scheme_word: str = "Bearer"

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}{self.prefix}"

    @property
    def ws_base(self) -> str:
        return f"ws://{self.host}:{self.port}{self.prefix}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"{self.scheme_word} {self.token}"}

    def target(self, path: str) -> str:
        """The request target (path + query) for an upstream path like `/api/weavers`."""
        return self.prefix + path

    def url(self, path: str) -> str:
        return self.base + path


class Child:
    """A subprocess in its own process group, logging to a file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path,
                 cwd: Path | None = None) -> None:
        self.name, self.log_path = name, log_path
        self.descendants: set[int] = set()
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            cwd=cwd)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def remember_descendants(self) -> None:
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with jupyter's dependencies
            return
        try:
            self.descendants.update(p.pid for p in psutil.Process(self.pid).children(recursive=True))
        except psutil.Error:
            pass

    def stop(self) -> None:
        self.remember_descendants()
        if self.process.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)
            except ProcessLookupError:
                pass
        _stop_pids(self.descendants)


def _stop_pids(pids: set[int]) -> None:
    """Weaver processes run in their own sessions: stop any that outlived the server, by pid."""
    try:
        import psutil
    except ImportError:  # pragma: no cover
        return
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.terminate()
            procs.append(proc)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=3)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update({
        "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": "127.0.0.1,localhost",
    })
    return env


def local_server_flags() -> list[str]:
    """Raise the local server's cap on active weavers (the 500-weaver listing needs room)."""
    from loom_jupyter.local.config import LocalConfig

    return ["--max-weavers", "100000"] if hasattr(LocalConfig(), "max_weavers") else []


class Stack:
    """Start the three paths (in parallel where possible), hand out Routes, stop everything."""

    def __init__(self, keep: bool = False) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="loom-bench-"))
        self.keep = keep
        self.children: list[Child] = []
        self.routes: dict[str, Route] = {}
        self.pids: dict[str, int] = {}  # path name -> the process serving it (loom for direct)
        self.admin_key = ""
        self.org_id = ""
        self.loom_url = ""
        self.local_flags: list[str] = []

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> Stack:
        try:
            self._start_loom()
            with ThreadPoolExecutor(2) as pool:
                ours = pool.submit(self._start_jupyter, "ours")
                jsp = pool.submit(self._start_jupyter, "jsp")
                ours.result()
                jsp.result()
            self._check_routes()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for child in reversed(self.children):
            try:
                child.stop()
            except Exception as exc:
                print(f"benchmarks: could not stop {child.name}: {exc}", file=sys.stderr)
        self.children.clear()
        if not self.keep:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def loom(self) -> Child:
        return self.children[0]

    def remember_weaver_processes(self) -> None:
        if self.children:
            self.loom.remember_descendants()

    def logs(self) -> str:
        return "\n".join(f"--- {c.name} ({c.log_path}) ---\n{c.log_text()[-3000:]}"
                         for c in self.children)

    # -- the local Loom -----------------------------------------------------------------
    def _start_loom(self) -> None:
        data = self.home / "loom-data"
        self.local_flags = local_server_flags()
        cmd = [sys.executable, "-m", "loom_jupyter.local", "--host", "127.0.0.1", "--port", "0",
               "--data-dir", str(data), *self.local_flags]
        child = Child("local Loom", cmd, child_env(self.home), self.home / "loom.log")
        self.children.append(child)
        self.pids["direct"] = child.pid
        self.loom_url = _wait_for_loom(child)
        self.admin_key = (data / "admin.key").read_text().strip()
        headers = {"Authorization": f"Bearer {self.admin_key}"}
        orgs = httpx.get(f"{self.loom_url}/api/orgs", headers=headers, timeout=10).json()["orgs"]
        self.org_id = orgs[0]["id"]
        url = httpx.URL(self.loom_url)
        self.routes["direct"] = Route("direct", "127.0.0.1", int(url.port or 80), "", self.admin_key)

    # -- Jupyter servers ----------------------------------------------------------------
    def _start_jupyter(self, which: str) -> None:
        port, token = free_port(), secrets.token_hex(24)
        root = self.home / f"jupyter-{which}"
        (root / "notebooks").mkdir(parents=True)
        config = root / "jupyter_server_config.py"
        config.write_text(self._jupyter_config(which))
        config.chmod(0o600)
        env = child_env(root)
        if which == "ours":
            env.update({"LOOM_URL": self.loom_url, "LOOM_API_KEY": self.admin_key})
        cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
               "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.base_url={BASE_URL}",
               f"--ServerApp.root_dir={root / 'notebooks'}", f"--config={config}"]
        child = Child(f"jupyter ({which})", cmd, env, root / "server.log")
        self.children.append(child)
        self.pids[which] = child.pid
        _wait_for_jupyter(child, port, token)
        prefix = BASE_URL.rstrip("/") + ("/loom" if which == "ours" else f"/{JSP_NAME}")
        self.routes[which] = Route(which, "127.0.0.1", port, prefix, token, "token")
        if which == "ours":
            self.routes[FLOOR] = Route(FLOOR, "127.0.0.1", port, BASE_URL.rstrip("/"), token,
                                       "token")
            self.pids[FLOOR] = child.pid

    def _jupyter_config(self, which: str) -> str:
        extensions: dict[str, bool] = {name: False for name in _OTHER_EXTENSIONS}
        extensions["loom_jupyter"] = which == "ours"
        extensions["jupyter_server_proxy"] = which == "jsp"
        lines = [f"c.ServerApp.jpserver_extensions = {extensions!r}"]
        if which == "jsp":
            port = httpx.URL(self.loom_url).port
            server: dict[str, Any] = {
                "port": port, "absolute_url": False,
                "request_headers_override": {"Authorization": f"Bearer {self.admin_key}"},
                "launcher_entry": {"enabled": False},
            }
            lines.append(f"c.ServerProxy.servers = {{{JSP_NAME!r}: {server!r}}}")
        return "\n".join(lines) + "\n"

    def _check_routes(self) -> None:
        """Each path must answer the same small GET with 200 before anything is measured."""
        for route in self.routes.values():
            path = FLOOR_PATH if route.name == FLOOR else "/api/weavers"
            resp = httpx.get(route.url(path), headers=route.headers(), timeout=10,
                             trust_env=False)
            if resp.status_code != 200:
                raise RuntimeError(f"{route.name}: GET {path} -> {resp.status_code} "
                                   f"{resp.text[:300]}\n{self.logs()}")
        ours, jsp = self.routes["ours"], self.routes["jsp"]
        # The jsp server must not serve our extension (and vice versa): one proxy each.
        probe = httpx.get(f"http://127.0.0.1:{jsp.port}{BASE_URL}loom/status",
                          headers=jsp.headers(), timeout=10, trust_env=False)
        if probe.status_code != 404:
            raise RuntimeError("the jupyter-server-proxy server also serves loom_jupyter")
        probe = httpx.get(f"http://127.0.0.1:{ours.port}{BASE_URL}{JSP_NAME}/api/weavers",
                          headers=ours.headers(), timeout=10, trust_env=False)
        if probe.status_code != 404:
            raise RuntimeError("the loom_jupyter server also serves jupyter-server-proxy")


def _wait_for_loom(child: Child) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if match := _URL_LINE.search(child.log_text()):
            url = match.group(1)
            try:
                if httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
        if not child.alive():
            raise RuntimeError(f"local Loom server exited with {child.process.returncode}:\n"
                               f"{child.log_text()[-3000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"local Loom server not healthy within {START_TIMEOUT:.0f} s:\n"
                       f"{child.log_text()[-3000:]}")


def _wait_for_jupyter(child: Child, port: int, token: str) -> None:
    url = f"http://127.0.0.1:{port}{BASE_URL}api/status"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            resp = httpx.get(url, headers={"Authorization": f"token {token}"}, timeout=2,
                             trust_env=False)
            if resp.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n"
                               f"{child.log_text()[-3000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"{child.name} did not answer within {START_TIMEOUT:.0f} s:\n"
                       f"{child.log_text()[-3000:]}")
