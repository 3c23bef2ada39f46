"""Notebook 08's servers: the stand-ins of the other platforms behind one Jupyter server."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .harness import NotebookServers

# -- notebook 08: one Jupyter server with four connections (issue 13) -------------------------
# The other notebooks talk to their local Loom directly. 08-other-platforms runs the way a
# notebook of a JupyterLab does: a Jupyter server with the loom_jupyter extension holds every
# credential (the local Loom as `default`, and the loom-v1, openloomi and NodeLoom stand-ins,
# each started with its CLI), and the kernel gets only what that server publishes to its
# kernels: the proxy URL, the proxy token and the connection names.


REPO = Path(__file__).resolve().parents[2]
PLATFORM_NOTEBOOKS = ("08-other-platforms.ipynb",)
PUBLISHED = ("LOOM_JUPYTER_PROXY_URL", "LOOM_JUPYTER_PROXY_TOKEN", "LOOM_JUPYTER_CONNECTIONS")
STARTUP_TIMEOUT = 60.0
# Runs the Jupyter server and, once it is listening, writes what it publishes to its kernels
# (os.environ of the server process, set by the extension) to a 0600 file for the harness.
LAUNCHER = """
import json, os, sys
from jupyter_server.serverapp import ServerApp
from tornado.ioloop import IOLoop
config, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
app = ServerApp.instance()
app.initialize(argv=["--config=" + config])
def publish():
    fd = os.open(out + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({n: os.environ.get(n, "") for n in names}, f)
    os.replace(out + ".tmp", out)
IOLoop.current().add_callback(publish)
app.start()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _secret_file(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o600)
    return str(path)


class PlatformNotebookServers(NotebookServers):
    """`NotebookServers`, plus for notebook 08 the stand-ins and a Jupyter server in front."""

    def __init__(self) -> None:
        super().__init__()
        self.processes: list[subprocess.Popen[str]] = []
        self.held: list[str] = []  # the credentials the Jupyter server holds

    def start_for(self, notebook: str) -> Any:
        server = super().start_for(notebook)
        if Path(notebook).name in PLATFORM_NOTEBOOKS:
            try:
                self._start_platforms(server, Path(notebook).stem)
            except BaseException:
                self._stop_platforms()
                raise
        return server

    def stop(self) -> None:
        self._stop_platforms()
        super().stop()

    def secrets(self) -> list[str]:
        return super().secrets() + self.held

    # -- the stand-ins and the Jupyter server ---------------------------------------------------
    def _start_platforms(self, loom: Any, stem: str) -> None:
        root = self.root / f"{self._count:02d}-{stem}" / "jupyter"
        secrets = root / "secrets"
        v1 = self._standin("loom-v1")
        loomi = self._standin("openloomi", "--token-file", str(secrets / "openloomi-token"))
        nodeloom = self._standin("nodeloom")
        builder = next(c["token"] for c in nodeloom["credentials"] if c["role"] == "Builder")
        v1_user = v1["credentials"][0]
        self.held = [loom.admin_key, v1_user["password"], builder,
                     Path(loomi["token_file"]).read_text(encoding="utf-8").strip()]
        port = _free_port()
        config = {
            "ServerApp": {"ip": "127.0.0.1", "port": port, "port_retries": 0,
                          "open_browser": False, "allow_root": True, "root_dir": str(root),
                          "jpserver_extensions": {"loom_jupyter": True}},
            "IdentityProvider": {"token": os.urandom(16).hex()},
            "LoomJupyter": {
                "url": loom.url,
                "api_key_file": _secret_file(secrets / "loom.key", loom.admin_key),
                "connections": {
                    "assets": {"kind": "loom-v1", "url": v1["url"],
                               "username": v1_user["username"],
                               "password_file": _secret_file(secrets / "v1.password",
                                                             v1_user["password"])},
                    "loomi": {"kind": "openloomi", "url": loomi["url"],
                              "token_file": loomi["token_file"]},
                    "agents": {"kind": "nodeloom", "url": nodeloom["url"],
                               "api_key_file": _secret_file(secrets / "nodeloom.key", builder)},
                },
            },
        }
        config_file = root / "jupyter_server_config.json"
        config_file.write_text(json.dumps(config), encoding="utf-8")
        published = root / "published.json"
        env = {k: v for k, v in os.environ.items() if k not in ("LOOM_URL", "LOOM_API_KEY")}
        self.processes.append(subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(config_file), str(published), *PUBLISHED], cwd=root,
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=(root / "jupyter.log").open("w"), text=True))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not published.exists():
            if self.processes[-1].poll() is not None or time.monotonic() > deadline:
                log = (root / "jupyter.log").read_text(encoding="utf-8")[-2000:]
                raise RuntimeError(f"the Jupyter server for {stem} did not start:\n{log}")
            time.sleep(0.1)
        # The kernel's environment: what the server publishes, and no Loom key or URL.
        for name, value in json.loads(published.read_text(encoding="utf-8")).items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        for name in ("LOOM_URL", "LOOM_API_KEY"):
            os.environ.pop(name, None)

    def _standin(self, kind: str, *extra: str) -> dict[str, Any]:
        """`python -m tests.standins KIND` on a free port; its one JSON line of facts."""
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.standins", kind, "--port", "0", *extra], cwd=REPO,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once listening (the process exits otherwise)
        if not line:
            raise RuntimeError(f"the {kind} stand-in did not start")
        return dict(json.loads(line))

    def _stop_platforms(self) -> None:
        processes, self.processes, self.held = self.processes, [], []
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        os.environ.pop("LOOM_JUPYTER_CONNECTIONS", None)

