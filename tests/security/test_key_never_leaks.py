"""A scan for the Loom key everywhere it could surface: responses, server logs at DEBUG, the
kernel environment in proxy mode, exceptions (even verbose tracebacks with locals), saved
notebooks (the repository's and one executed here), and widget state sent to the browser.

The keys are real ones minted by a local Loom for this test, so a scan that finds nothing means
something: each scan also checks that it saw the material it searched (positive controls).
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from nbclient import NotebookClient
from websockets.asyncio.client import connect

from loom_jupyter.client import Loom, LoomError
from loom_jupyter.local.app import LocalServer
from loom_jupyter.local.config import LocalConfig
from tests.fixtures.jupyter import LoomProxy, LoomTarget
from tests.fixtures.loom_server import LocalLoom
from tests.server.test_kernel import run_in_kernel
from tests.fixtures.wait import wait_until
from tests.widgets._support import assert_no_secret

REPO = Path(__file__).resolve().parents[2]
KEY_SHAPES = re.compile(r"lk_[0-9a-f]{64}|ws_[0-9a-f]{32}|Bearer\s+[A-Za-z0-9_\-]{16,}")
UNKNOWN = "018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a"


def leaks(text: str, *secrets: str) -> list[str]:
    """Each secret, or a 20-character slice of it, found in text."""
    found = []
    for secret in secrets:
        if secret and (secret in text or secret[3:23] in text):
            found.append(secret[:6] + "...")
    return found


# -- responses and server logs at DEBUG, with the local Loom in this very process ----------------

@pytest.fixture
async def inproc_loom(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """A local Loom in the test's own loop, so caplog sees its loggers at DEBUG too."""
    server = LocalServer(LocalConfig(port=0, data_dir=tmp_path / "loom"))
    await server.start()
    admin = (tmp_path / "loom" / "admin.key").read_text().strip()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {admin}"}) as http:
        orgs = (await http.get(f"{server.url}/api/orgs")).json()["orgs"]
        org = orgs[0]["id"]
        made = await http.post(f"{server.url}/api/orgs/{org}/api-keys",
                               json={"name": "jupyter", "role": "user"})
    try:
        yield {"url": server.url, "admin": admin, "key": made.json()["key"], "org": org}
    finally:
        await server.stop()


@pytest.fixture
def loom_target(inproc_loom: dict[str, str]) -> LoomTarget:
    return LoomTarget(inproc_loom["url"], inproc_loom["key"])


async def _exercise(proxy: LoomProxy, org: str) -> list[str]:
    """Every kind of answer the extension gives, as text (status, headers, body)."""
    seen: list[str] = []

    def keep(r: httpx.Response) -> None:
        seen.append(f"{r.status_code} {dict(r.headers)} {r.text}")

    async with proxy.client("kernel", timeout=30) as http:
        for path in ("status", "health", "api/auth/me", "api/orgs", "api/weavers",
                     f"api/weaver/{UNKNOWN}", "api/weaver/not-a-uuid", "auth/ws-token",
                     "api/threads", "metrics", "api/x%2e%2e/y", "api/openapi.json"):
            keep(await http.get(path))
        weaver = await http.post("api/weaver", json={
            "image": "python:3.12", "org_id": org, "command": ["sh", "-c", "echo hi; sleep 20"],
            "lifetime_hours": 1})
        keep(weaver)
        wid = weaver.json()["id"]
        keep(await http.get(f"api/weaver/{wid}/logs", params={"follow": "false"}))
        keep(await http.post("api/weaver", content=b"{not json",
                             headers={"Content-Type": "application/json"}))
        keep(await http.post("api/weaver", content=b"x" * (11 * 1024 * 1024),
                             headers={"Content-Type": "application/json"}))
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": []}
        keep(await http.post("proxy/anthropic/stream", json=body))
        keep(await http.post("proxy/anthropic/complete", json=body))
        keep(await http.post("proxy/nope/complete", json=body))
        keep(await http.put("api/threads/T-x", json={"id": "T-x", "version": 1},
                            headers={"If-Match": "7"}))
        async with connect(proxy.ws_url + f"api/weaver/{wid}/attach",
                           additional_headers=proxy.headers(), open_timeout=10) as ws:
            seen.append(repr(await asyncio.wait_for(ws.recv(), 10)))
        keep(await http.delete(f"api/weaver/{wid}"))
    async with proxy.client("none") as http:
        keep(await http.get("api/weavers", headers={"Authorization": "token wrong"}))
    async with connect(proxy.ws_url + "api/ws/sessions/s1", additional_headers=proxy.headers(),
                       open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "auth", "token": "ws_" + "1" * 32}))
        seen.append(await asyncio.wait_for(ws.recv(), 10))
    return seen


async def test_key_not_in_responses_nor_debug_logs(loom_proxy: LoomProxy, inproc_loom,
                                                   caplog: pytest.LogCaptureFixture,
                                                   jp_logging_stream: Any) -> None:
    caplog.set_level("DEBUG")
    loom_proxy.app.log_level = "DEBUG"
    answers = await _exercise(loom_proxy, inproc_loom["org"])
    secrets = (inproc_loom["key"], inproc_loom["admin"])
    for answer in answers:
        assert not leaks(answer, *secrets), answer[:500]
    assert len(answers) >= 22 and any("text/event-stream" in a for a in answers)
    logs = caplog.text + jp_logging_stream.getvalue()
    # Positive controls: both servers' request logs were captured, at DEBUG.
    assert f"GET /api/weaver/{UNKNOWN}" in logs and "send_request_headers" in logs  # both sides
    assert "loom proxy" in logs and "DEBUG" in caplog.text
    for line in logs.splitlines():
        assert not leaks(line, *secrets), line[:400]


# -- the kernel's environment in proxy mode -------------------------------------------------------

KERNEL_SCAN = r"""
import json, os, sys, traceback
from pathlib import Path
from loom_jupyter.client import Loom, LoomError
dump = {"environ": dict(os.environ), "argv": sys.argv,
        "proc": Path("/proc/self/environ").read_bytes().decode("utf-8", "replace"),
        "cmdline": Path("/proc/self/cmdline").read_bytes().decode("utf-8", "replace")}
conn = next((a for a in sys.argv if a.endswith(".json")), None)
dump["connection_file"] = Path(conn).read_text() if conn else ""
loom = Loom()
dump["repr"] = repr(loom) + repr(loom._settings)
try:
    loom.weavers.get("UNKNOWN")
except LoomError as exc:
    te = traceback.TracebackException.from_exception(exc, capture_locals=True)
    dump["error"] = "".join(te.format())
print("SCAN", json.dumps(dump))
""".replace("UNKNOWN", UNKNOWN)


async def test_kernel_in_proxy_mode_never_sees_the_key(loom_proxy: LoomProxy, inproc_loom,
                                                       jp_fetch: Any, jp_ws_fetch: Any) -> None:
    out = await run_in_kernel(jp_fetch, jp_ws_fetch, KERNEL_SCAN)
    assert "SCAN" in out, out
    dump = json.loads(out.split("SCAN", 1)[1])
    # Positive controls: the dump is real (proxy variables present, the 404 was raised).
    assert dump["environ"]["LOOM_JUPYTER_PROXY_URL"] == loom_proxy.url
    assert "LOOM_JUPYTER_PROXY_TOKEN" in dump["proc"] and "HTTP 404" in dump["error"]
    assert "LOOM_API_KEY" not in dump["environ"]
    assert not leaks(json.dumps(dump), inproc_loom["key"], inproc_loom["admin"])
    assert not KEY_SHAPES.search(json.dumps(dump)), KEY_SHAPES.search(json.dumps(dump))


# -- exceptions in direct mode (the user's own key): str, repr, args, verbose tracebacks ------------

def _failures(loom: Loom, server: LocalLoom) -> list[BaseException]:
    calls = [lambda: loom.weavers.get(UNKNOWN), lambda: loom.weavers.get("not-a-uuid"),
             lambda: loom.weavers.create("x", lifetime_hours=0),
             lambda: list(loom.weavers.logs(UNKNOWN)), lambda: loom.weavers.attach(UNKNOWN),
             lambda: loom.threads.get("T-none"), lambda: loom.weavers.cleanup(),
             lambda: loom.llm.complete("nope", "m", [{"role": "user", "content": "x"}])]
    errors = []
    for call in calls:
        try:
            call()
        except LoomError as exc:
            errors.append(exc)
    with Loom(url="http://127.0.0.1:9", api_key=loom._settings.credential.reveal(),  # type: ignore[union-attr]
              max_retries=0) as dead:
        try:
            dead.weavers.list()
        except LoomError as exc:
            errors.append(exc)
    return errors


def test_exceptions_never_show_the_key_even_with_locals(loom_server: LocalLoom) -> None:
    key = loom_server.make_key("user", name="exceptions")
    with Loom(url=loom_server.url, api_key=key, max_retries=0) as loom:
        errors = _failures(loom, loom_server)
    assert len(errors) == 9
    for exc in errors:
        verbose = "".join(traceback.TracebackException.from_exception(
            exc, capture_locals=True).format())
        text = " ".join([str(exc), repr(exc), repr(exc.args), verbose,
                         repr(getattr(exc, "body", ""))])
        assert "secrets" in verbose or "Traceback" in verbose  # locals were really rendered
        assert not leaks(text, key), f"{type(exc).__name__}: {leaks(text, key)}"


# -- notebooks -------------------------------------------------------------------------------------

def test_repository_notebooks_hold_no_credential() -> None:
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks/*.ipynb in this checkout"
    for path in notebooks:
        text = path.read_text()
        match = KEY_SHAPES.search(text)
        assert match is None, f"{path.name}: {match.group(0)[:12]}..."
        assert not re.search(r"(LOOM_API_KEY|api_key)\s*=\s*[\"']?lk_", text), path.name


NOTEBOOK_CELLS = [
    "%load_ext loom_jupyter",
    "%xmode Verbose",
    "%loom status",
    "%loom weavers",
    "%loom get " + UNKNOWN,
    "from loom_jupyter.client import Loom\nloom = Loom()\nloom",
    "loom.weavers.get('" + UNKNOWN + "')",
    "from loom_jupyter.widgets import WeaverDashboard\nWeaverDashboard(loom, autostart=False)",
    "%%loom chat --new\nsay hello",
    "%loom connect {url} --api-key-env LOOM_API_KEY",
]


def test_executed_and_saved_notebook_holds_no_key(loom_server: LocalLoom, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    key = loom_server.make_key("user", name="notebook")
    for name in ("LOOM_JUPYTER_PROXY_URL", "LOOM_JUPYTER_PROXY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOOM_URL", loom_server.url)
    monkeypatch.setenv("LOOM_API_KEY", key)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c.replace("{url}", loom_server.url)) for c in NOTEBOOK_CELLS]
    client = NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                            store_widget_state=True, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    text = path.read_text()
    # Positive controls: the cells ran against the server and the error was rendered verbosely.
    assert "[offline]" in text and "HTTP 404" in text and "application/vnd.jupyter.widget" in text
    assert not leaks(text, key), leaks(text, key)


# -- widget state -----------------------------------------------------------------------------------

def test_widget_state_sent_to_the_browser_holds_no_key(loom_server: LocalLoom) -> None:
    from loom_jupyter.widgets import ChatPanel, LogView, Terminal, WeaverDashboard

    key = loom_server.make_key("user", name="widgets")
    with Loom(url=loom_server.url, api_key=key) as loom:
        weaver = loom.weavers.create("python:3.12", command=["sh", "-i"], lifetime_hours=1)
        made = [WeaverDashboard(loom, autostart=False), LogView(weaver.id, loom),
                ChatPanel(loom), Terminal(weaver.id, client=loom, mode="relay")]
        try:
            wait_until(lambda: made[3].status == "connected", 15, "the terminal relay")
            made[2].send("hello")
            wait_until(lambda: "[offline]" in made[2]._repr_html_(), 15, "the chat answer")
            for widget in made:
                assert assert_no_secret(widget, key) >= 1
        finally:
            for widget in made:
                widget.close()
            loom.weavers.delete(weaver.id)


def test_browser_terminal_state_carries_a_path_not_a_credential(monkeypatch) -> None:
    from loom_jupyter.widgets import Terminal

    token = "proxy-token-" + os.urandom(8).hex()
    monkeypatch.setenv("LOOM_JUPYTER_PROXY_URL", "http://127.0.0.1:8888/user/x/loom/")
    monkeypatch.setenv("LOOM_JUPYTER_PROXY_TOKEN", token)
    monkeypatch.delenv("LOOM_URL", raising=False)
    monkeypatch.delenv("LOOM_API_KEY", raising=False)
    widget = Terminal(UNKNOWN)
    try:
        state = json.dumps(widget.get_state(), default=str)
        assert widget.mode == "browser"
        assert widget.ws_url == f"/user/x/loom/api/weaver/{UNKNOWN}/attach"
        assert token not in state and "token" not in widget.ws_url
    finally:
        widget.close()
