"""The console script: `loom-jupyter lab` (the main job) end to end, `doctor`, and `--help`."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from loom_jupyter._doctor import _lab_panel
from loom_jupyter._version import __version__
from loom_jupyter.cli import main
from tests.fixtures.wait import wait_until


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOM_", "JUPYTER"))}
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        (tmp_path / name).mkdir()
        env[name] = str(tmp_path / name)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


def _wait_json(url: str, headers: dict[str, str], seconds: float = 60) -> dict:
    resp = wait_until(lambda: httpx.get(url, headers=headers, timeout=2), seconds,
                      f"{url} to answer 200", until=lambda r: r.status_code == 200,
                      interval=0.3, ignoring=(httpx.HTTPError,))
    return dict(resp.json())


def test_lab_starts_local_loom_and_jupyterlab_wired_to_it_and_stops_both(tmp_path):
    loom_port, lab_port, token = _free_port(), _free_port(), "cli-test-token"
    data_dir = tmp_path / "loom-data"
    cmd = [sys.executable, "-m", "loom_jupyter.cli", "lab", "--loom-port", str(loom_port),
           "--data-dir", str(data_dir), "--notebook-dir", str(tmp_path), "--", "--no-browser",
           f"--port={lab_port}", f"--IdentityProvider.token={token}"]
    log = (tmp_path / "lab.log").open("wb")
    proc = subprocess.Popen(cmd, env=_isolated_env(tmp_path), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    headers = {"Authorization": f"token {token}"}
    try:
        status = _wait_json(f"http://127.0.0.1:{lab_port}/loom/status", headers)
        assert status["reachable"] and status["url"] == f"http://127.0.0.1:{loom_port}"
        weavers = _wait_json(f"http://127.0.0.1:{lab_port}/loom/api/weavers", headers)
        assert weavers["count"] == len(weavers["weavers"])
        key = (data_dir / "admin.key").read_text().strip()
        assert (data_dir / "admin.key").stat().st_mode & 0o777 == 0o600
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) is not None
        output = (tmp_path / "lab.log").read_text(errors="replace")
        assert key not in output and "admin key in" in output
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{loom_port}/health", timeout=2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # nothing of the group may outlive the test
        except ProcessLookupError:
            pass
        log.close()


def test_doctor_reports_without_secrets(loom_server, capsys, monkeypatch):
    monkeypatch.setenv("LOOM_URL", loom_server.url)
    monkeypatch.setenv("LOOM_API_KEY", loom_server.admin_key)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "healthy" in out and "authenticated as admin" in out
    assert f"(version {__version__})" in out and "unknown version" not in out
    assert loom_server.admin_key not in out


def test_doctor_finds_the_lab_panel_where_jupyterlab_looks(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LOOM_URL", "http://127.0.0.1:9")  # nothing listens: the rest may fail
    main(["doctor"])
    assert "[  ok] Lab panel: labextension " in capsys.readouterr().out  # make test links it
    assert _lab_panel([str(tmp_path)]) == (
        "warn", "Lab panel", "the labextension is not installed, so JupyterLab shows no Loom "
        "panel; reinstall loom-jupyter (its wheel carries it), or `make labext` in a checkout")
    (tmp_path / "loom-jupyter").mkdir()
    (tmp_path / "loom-jupyter" / "package.json").write_text('{"version": "9.8.7"}')
    assert _lab_panel([str(tmp_path / "none"), str(tmp_path)]) == (
        "ok", "Lab panel", f"labextension 9.8.7 in {tmp_path}")
    (tmp_path / "loom-jupyter" / "package.json").write_text("{not json")
    state, _, detail = _lab_panel([str(tmp_path)])
    assert (state, detail) == ("warn", f"{tmp_path / 'loom-jupyter' / 'package.json'} is "
                                       "unreadable; reinstall loom-jupyter")


def test_doctor_fails_clearly_without_configuration(capsys, monkeypatch):
    for name in ("LOOM_URL", "LOOM_API_KEY", "LOOM_JUPYTER_PROXY_URL", "LOOM_JUPYTER_PROXY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["doctor"]) == 1
    assert "neither LOOM_URL nor the Jupyter proxy is configured" in capsys.readouterr().out


def test_every_subcommand_has_help(capsys):
    for command in ("local", "lab", "doctor"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        assert "usage: loom-jupyter " + command in capsys.readouterr().out
