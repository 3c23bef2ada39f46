"""`loom-jupyter lab`: the main job, an embedded local Loom server with JupyterLab wired to it."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

DEFAULT_LOOM_PORT = 8420


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loom-port", type=int, default=DEFAULT_LOOM_PORT,
                        help="port of the local Loom server (default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="local Loom data directory (default: $XDG_DATA_HOME/loom-jupyter/local)")
    parser.add_argument("--notebook-dir", type=Path, default=None,
                        help="JupyterLab root directory (default: ./notebooks if present, else .)")
    parser.add_argument("lab_args", nargs=argparse.REMAINDER,
                        help="extra arguments for `jupyter lab` (after --)")


def run(args: argparse.Namespace) -> int:
    """Start (or reuse) the local Loom server, then run JupyterLab in the foreground."""
    from .local.config import default_data_dir

    data_dir = (args.data_dir or default_data_dir()).expanduser()
    url = f"http://127.0.0.1:{args.loom_port}"
    signal.signal(signal.SIGTERM, _interrupt)  # a `kill` stops JupyterLab and the server too
    server = None if _is_local_loom(url) else _start_local(args.loom_port, data_dir)
    try:
        key_file = data_dir / "admin.key"
        _wait_for(url, key_file)
        print(f"loom-jupyter: local Loom at {url} (admin key in {key_file})", flush=True)
        return _run_lab(url, key_file.read_text().strip(), args)
    finally:
        if server is not None:
            _stop(server)


def _is_local_loom(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).headers.get("content-type", "").startswith(
            "application/json")
    except httpx.HTTPError:
        return False


def _start_local(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "loom_jupyter.local", "--host", "127.0.0.1",
           "--port", str(port), "--data-dir", str(data_dir)]
    return subprocess.Popen(cmd, start_new_session=True)


def _wait_for(url: str, key_file: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if key_file.exists() and _is_local_loom(url):
            return
        time.sleep(0.2)
    raise SystemExit(f"loom-jupyter: the local Loom server did not answer at {url} within "
                     f"{timeout:.0f} s; run `loom-jupyter local` to see why")


def _run_lab(url: str, key: str, args: argparse.Namespace) -> int:
    env = dict(os.environ, LOOM_URL=url, LOOM_API_KEY=key)
    root = args.notebook_dir or (Path("notebooks") if Path("notebooks").is_dir() else Path("."))
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    cmd += [a for a in args.lab_args if a != "--"]
    lab = subprocess.Popen(cmd, env=env)
    try:
        return lab.wait()
    except KeyboardInterrupt:
        lab.send_signal(signal.SIGTERM)  # SIGINT would make JupyterLab ask for confirmation
        try:
            return lab.wait(timeout=15)
        except subprocess.TimeoutExpired:
            lab.kill()
            return lab.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
