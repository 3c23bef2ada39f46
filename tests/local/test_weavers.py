"""Weavers of the local server over real HTTP, SSE and WebSockets: real processes on real PTYs."""
from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.fixtures.loom_server import LocalLoom
from tests.fixtures.wait import read_until, wait_until

PY = "python3"


def _create(server: LocalLoom, key: str | None = None, **body: Any) -> httpx.Response:
    payload = {"image": "python:3.12", "org_id": server.org_id, "lifetime_hours": 1, **body}
    return httpx.post(f"{server.url}/api/weaver", json=payload, headers=server.headers(key),
                      timeout=30)


def _made(server: LocalLoom, key: str | None = None, **body: Any) -> dict[str, Any]:
    resp = _create(server, key, **body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _get(server: LocalLoom, weaver_id: str, key: str | None = None) -> httpx.Response:
    return httpx.get(f"{server.url}/api/weaver/{weaver_id}", headers=server.headers(key), timeout=10)


def _delete(server: LocalLoom, weaver_id: str, key: str | None = None) -> httpx.Response:
    return httpx.delete(f"{server.url}/api/weaver/{weaver_id}", headers=server.headers(key),
                        timeout=10)


def _wait_status(server: LocalLoom, weaver_id: str, wanted: str, seconds: float = 20) -> dict:
    body = wait_until(lambda: _get(server, weaver_id).json(), seconds, f"{weaver_id} to be {wanted}",
                      until=lambda b: b.get("status") == wanted, interval=0.1)
    return dict(body)


def _wait_gone(server: LocalLoom, weaver_id: str, what: str, seconds: float = 15) -> None:
    wait_until(lambda: _get(server, weaver_id).status_code, seconds, what,
               until=lambda status: status == 404, interval=0.1)


def _sse_data(server: LocalLoom, weaver_id: str, params: dict[str, str], *,
              until: str | None = None, seconds: float = 15) -> tuple[str, list[str]]:
    """The joined `data` of every event, and the raw lines (comments included)."""
    raw: list[str] = []
    events, current = [], []
    with httpx.stream("GET", f"{server.url}/api/weaver/{weaver_id}/logs", params=params,
                      headers=server.headers(), timeout=seconds) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            raw.append(line)
            if line.startswith("data:"):
                current.append(line[len("data: "):] if line.startswith("data: ") else line[5:])
            elif line == "" and current:
                events.append("\n".join(current))
                current = []
            if until is not None and until in "".join(events):
                break
    return "".join(events), raw


def test_curl_story_print_42_then_succeeded(loom_server):
    """The Foundation issue's done-when: create `python3 -c 'print(42)'`, read 42, see succeeded."""
    weaver = _made(loom_server, command=[PY, "-c", "print(42)"])
    assert weaver["status"] in ("running", "succeeded") and weaver["pod_name"] == f"weaver-{weaver['id']}"
    text, _ = _sse_data(loom_server, weaver["id"], {})
    stamp, _, line = text.splitlines()[0].partition(" ")
    assert line == "42" and stamp.endswith("Z") and len(stamp.split(".")[1]) == 10  # RFC3339Nano
    done = _wait_status(loom_server, weaver["id"], "succeeded")
    assert done["image"] == "python:3.12" and done["lifetime_hours"] == 1


def test_failed_exit_code_is_reported_and_listing_filters_by_tag(loom_server):
    weaver = _made(loom_server, command=["sh", "-c", "exit 3"], tags={"suite": "exit", "n": "1"})
    failed = _wait_status(loom_server, weaver["id"], "failed")
    assert failed["reason"] == "exit code 3" and failed["tags"] == {"suite": "exit", "n": "1"}
    listed = httpx.get(f"{loom_server.url}/api/weavers", params=[("tag", "suite:exit"), ("tag", "n:1")],
                       headers=loom_server.headers(), timeout=10).json()
    assert [w["id"] for w in listed["weavers"]] == [weaver["id"]] and listed["count"] == 1
    other = httpx.get(f"{loom_server.url}/api/weavers", params={"tag": "suite:other"},
                      headers=loom_server.headers(), timeout=10).json()
    assert other == {"weavers": [], "count": 0}


def test_logs_tail_timestamps_follow_and_keepalive(loom_server_factory):
    server = loom_server_factory(extra_args=["--log-keepalive-seconds", "0.2"])
    weaver = _made(server, command=["sh", "-c", "for i in 1 2 3 4 5; do echo n-$i; done; sleep 30"])
    text, _ = _sse_data(server, weaver["id"], {"tail": "2", "timestamps": "false"}, until="n-5")
    assert text.splitlines() == ["n-4", "n-5"]
    text, _ = _sse_data(server, weaver["id"], {"timestamps": "false", "follow": "false"})
    assert text.splitlines() == [f"n-{i}" for i in range(1, 6)]  # and the stream ended by itself
    with httpx.stream("GET", f"{server.url}/api/weaver/{weaver['id']}/logs", params={"tail": "0"},
                      headers=server.headers(), timeout=10) as resp:
        lines = resp.iter_lines()
        assert next(line for line in lines if line) == ":keep-alive"  # a comment, not data
    assert _delete(server, weaver["id"]).status_code == 204


def test_follow_ends_when_the_process_ends(loom_server):
    weaver = _made(loom_server, command=["sh", "-c", "echo first; sleep 0.5; echo last"])
    started = time.monotonic()
    text, _ = _sse_data(loom_server, weaver["id"], {"timestamps": "false"}, seconds=20)
    assert text.splitlines() == ["first", "last"] and time.monotonic() - started < 15


def test_output_split_across_reads_makes_whole_lines(loom_server):
    script = "import sys,time\nfor i in range(3):\n sys.stdout.write('pa'); sys.stdout.flush(); " \
             "time.sleep(0.2); sys.stdout.write(f'rt-{i}\\n'); sys.stdout.flush()\n" \
             "sys.stdout.write('no newline at the end')"
    weaver = _made(loom_server, command=[PY, "-c", script])
    text, _ = _sse_data(loom_server, weaver["id"], {"timestamps": "false"})
    assert text.splitlines() == ["part-0", "part-1", "part-2", "no newline at the end"]


def test_env_command_args_workdir_and_a_clean_environment(loom_server_factory):
    server = loom_server_factory(env={"LOOM_PROBE_SECRET": "server-only-value"})
    script = "import os; print(os.getcwd().endswith('/sub'), os.environ.get('GREETING'), " \
             "os.environ.get('LOOM_PROBE_SECRET'), os.environ.get('LOOM_API_KEY'), *__import__('sys').argv[1:])"
    weaver = _made(server, command=[PY, "-c", script], args=["a1", "a2"], workdir="sub",
                   env={"GREETING": "hello"})
    text, _ = _sse_data(server, weaver["id"], {"timestamps": "false"})
    assert text.splitlines() == ["True hello None None a1 a2"]


def test_memory_limit_is_enforced(loom_server):
    grab = "b = bytearray(300 * 1024 * 1024); print('allocated')"
    weaver = _made(loom_server, command=[PY, "-c", grab], resources={"memory_limit": "128Mi"})
    failed = _wait_status(loom_server, weaver["id"], "failed")
    text, _ = _sse_data(loom_server, weaver["id"], {"timestamps": "false"})
    assert "MemoryError" in text and "allocated" not in text and failed["reason"] == "exit code 1"
    roomy = _made(loom_server, command=[PY, "-c", grab], resources={"memory_limit": "2Gi", "cpu_limit": "500m"})
    _wait_status(loom_server, roomy["id"], "succeeded")


def _weaver_count(server: LocalLoom) -> int:
    return int(httpx.get(f"{server.url}/api/weavers", headers=server.headers(), timeout=10).json()["count"])


BAD_BODIES = [
    ({"lifetime_hours": 0}, 400, "invalid_lifetime"),
    ({"lifetime_hours": 49}, 400, "invalid_lifetime"),
    ({"lifetime_hours": -1}, 400, "invalid_lifetime"),
    ({"lifetime_hours": "2"}, 400, "bad_request"),
    ({"lifetime_hours": True}, 400, "bad_request"),
    ({"image": ""}, 400, "bad_request"),
    ({"image": "py\x1bthon"}, 400, "bad_request"),
    ({"image": 7}, 400, "bad_request"),
    ({"org_id": "not-a-uuid"}, 400, "bad_request"),
    ({"org_id": "00000000-0000-7000-8000-000000000000"}, 404, "not_found"),  # admin: no such org
    ({"tags": {"bad:key": "v"}}, 400, "bad_request"),
    ({"tags": {"k": 1}}, 400, "bad_request"),
    ({"tags": {"k": "line\nbreak"}}, 400, "bad_request"),
    ({"tags": ["k:v"]}, 400, "bad_request"),
    ({"env": {"1BAD": "x"}}, 400, "bad_request"),
    ({"env": {"OK": 1}}, 400, "bad_request"),
    ({"resources": {"memory_limit": "lots"}}, 400, "bad_request"),
    ({"resources": {"memory_limit": "-1Gi"}}, 400, "bad_request"),
    ({"resources": {"gpu": "1"}}, 400, "bad_request"),
    ({"command": []}, 400, "bad_request"),
    ({"command": "echo hi"}, 400, "bad_request"),
    ({"command": ["echo", None]}, 400, "bad_request"),
    ({"args": [1]}, 400, "bad_request"),
    ({"workdir": "/definitely/not/here"}, 400, "bad_request"),
]


@pytest.mark.parametrize(("patch", "status", "code"), BAD_BODIES, ids=[str(b[0])[:40] for b in BAD_BODIES])
def test_bad_create_bodies_change_nothing(loom_server, patch, status, code):
    before = _weaver_count(loom_server)
    resp = _create(loom_server, **patch)
    assert (resp.status_code, resp.json()["error"]) == (status, code), resp.text
    assert resp.json()["message"]
    assert _weaver_count(loom_server) == before


@pytest.mark.parametrize(("content", "ctype", "status", "code"), [
    (b"{not json", "application/json", 400, "bad_request"),
    (b"[1, 2]", "application/json", 400, "bad_request"),
    (b'{"image": "x"}', "text/plain", 415, "unsupported_media_type"),
    (b"x" * (11 * 1024 * 1024), "application/json", 413, "payload_too_large"),
])
def test_malformed_requests_are_json_errors(loom_server, content, ctype, status, code):
    before = _weaver_count(loom_server)
    resp = httpx.post(f"{loom_server.url}/api/weaver", content=content, timeout=30,
                      headers={**loom_server.headers(), "Content-Type": ctype})
    assert (resp.status_code, resp.json()["error"]) == (status, code)
    assert _weaver_count(loom_server) == before


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/weaver/018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a", 404, "weaver_not_found"),
    ("/api/weaver/not-a-uuid", 400, "bad_request"),
    ("/api/weaver/018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a/logs", 404, "weaver_not_found"),
    ("/api/weavers?tag=nocolon", 400, "bad_request"),
])
def test_unknown_or_malformed_ids_and_filters(loom_server, path, status, code):
    resp = httpx.get(f"{loom_server.url}{path}", headers=loom_server.headers(), timeout=10)
    assert (resp.status_code, resp.json()["error"]) == (status, code)


def test_roles_follow_the_access_table(loom_server):
    owner, other, support = (loom_server.make_key(r) for r in ("user", "user", "support"))
    weaver = _made(loom_server, owner, command=["sleep", "30"])
    assert _get(loom_server, weaver["id"], other).status_code == 403
    assert _delete(loom_server, weaver["id"], other).status_code == 403
    listed = httpx.get(f"{loom_server.url}/api/weavers", headers=loom_server.headers(other), timeout=10)
    assert weaver["id"] not in [w["id"] for w in listed.json()["weavers"]]
    assert _get(loom_server, weaver["id"], support).json()["status"] == "running"
    support_list = httpx.get(f"{loom_server.url}/api/weavers", headers=loom_server.headers(support), timeout=10)
    assert weaver["id"] in [w["id"] for w in support_list.json()["weavers"]]
    assert _delete(loom_server, weaver["id"], support).status_code == 403
    cleanup = httpx.post(f"{loom_server.url}/api/weavers/cleanup", headers=loom_server.headers(owner), timeout=10)
    assert cleanup.status_code == 403 and "System admin" in cleanup.json()["message"]
    assert _delete(loom_server, weaver["id"], owner).status_code == 204
    unauth = httpx.get(f"{loom_server.url}/api/weavers", timeout=10)
    assert unauth.status_code == 401 and unauth.json()["error"] == "unauthorized"


def test_delete_terminates_and_then_the_weaver_is_gone(loom_server):
    weaver = _made(loom_server, command=["sh", "-c", "trap '' TERM; sleep 60"])  # ignores SIGTERM
    assert _delete(loom_server, weaver["id"]).status_code == 204
    _wait_gone(loom_server, weaver["id"], "the deleted weaver to be gone")


def test_too_many_weavers(loom_server_factory):
    server = loom_server_factory(extra_args=["--max-weavers", "1"])
    first = _made(server, command=["sleep", "30"])
    resp = _create(server, command=["sleep", "30"])
    assert resp.status_code == 429 and resp.json() == {
        "error": "too_many_weavers", "message": "1 weavers running (max: 1)"}
    _delete(server, first["id"])


def test_expiry_sweep_and_cleanup_endpoint(loom_server_factory):
    # One "hour" of lifetime lasts 1 s here; the sweeper runs every 0.3 s.
    swept = loom_server_factory(extra_args=["--weaver-hour-seconds", "1", "--cleanup-interval", "0.3"])
    doomed = _made(swept, command=["sleep", "60"])
    _wait_gone(swept, doomed["id"], "the expired weaver to be swept")

    manual = loom_server_factory(extra_args=["--weaver-hour-seconds", "1", "--cleanup-interval", "3600"])
    old = _made(manual, command=["sleep", "60"])
    time.sleep(1.2)
    young = _made(manual, command=["sleep", "60"], lifetime_hours=48)
    url = f"{manual.url}/api/weavers/cleanup"
    dry = httpx.post(url, params={"dry_run": "true"}, headers=manual.headers(), timeout=10).json()
    assert dry == {"dry_run": True, "would_delete": [old["id"]], "count": 1}
    assert _get(manual, old["id"]).json()["status"] == "running"  # a dry run changes nothing
    real = httpx.post(url, headers=manual.headers(), timeout=10).json()
    assert real == {"dry_run": False, "deleted": [old["id"]], "count": 1}
    assert _get(manual, young["id"]).json()["status"] == "running"
    _delete(manual, young["id"])


def test_restart_reports_lost_processes_as_failed_and_keeps_logs(loom_server_factory):
    first = loom_server_factory()
    weaver = _made(first, command=["sh", "-c", "echo before-restart; sleep 60"], tags={"keep": "me"})
    _sse_data(first, weaver["id"], {"timestamps": "false"}, until="before-restart")
    first.stop()
    second = loom_server_factory(data_dir=first.data_dir)
    after = _get(second, weaver["id"]).json()
    assert after["status"] == "failed" and after["tags"] == {"keep": "me"}
    assert "stopped with the local server" in after["reason"]
    text, _ = _sse_data(second, weaver["id"], {"timestamps": "false"})
    assert text.splitlines() == ["before-restart"]


def _ws(server: LocalLoom, weaver_id: str, key: str | None = None):
    url = server.url.replace("http://", "ws://") + f"/api/weaver/{weaver_id}/attach"
    return connect(url, additional_headers=server.headers(key), open_timeout=10)


def _read_until(ws, needle: bytes, seconds: float = 15) -> bytes:
    return read_until(lambda: ws.recv(timeout=0.5), needle, seconds)


def test_attach_bridges_bytes_to_the_pty(loom_server):
    weaver = _made(loom_server, command=["sh", "-i"])
    try:
        with _ws(loom_server, weaver["id"]) as ws:
            ws.send(b"echo typed-$((40+2))\n")
            assert b"typed-42" in _read_until(ws, b"typed-42")
            ws.send("stty size\n")  # text frames are typed too; the PTY has a real size
            assert b"24 80" in _read_until(ws, b"24 80")
    finally:
        _delete(loom_server, weaver["id"])


def test_support_attach_is_read_only(loom_server):
    owner, support = loom_server.make_key("user"), loom_server.make_key("support")
    weaver = _made(loom_server, owner, command=["sh", "-i"])
    marker = "/tmp/loom-support-must-not-" + weaver["id"]
    try:
        with _ws(loom_server, weaver["id"], support) as ws:
            notice = ws.recv(timeout=10)
            assert isinstance(notice, str) and "Read-only access" in notice
            ws.send(f"touch {marker}\n".encode())
            time.sleep(0.5)
        with _ws(loom_server, weaver["id"], owner) as ws:
            ws.send(f"test -e {marker} && echo EXISTS || echo ABSENT-$((1+1))\n".encode())
            assert b"ABSENT-2" in _read_until(ws, b"ABSENT-2")
    finally:
        _delete(loom_server, weaver["id"], owner)


def test_attach_to_a_finished_weaver_says_error(loom_server):
    weaver = _made(loom_server, command=["true"])
    _wait_status(loom_server, weaver["id"], "succeeded")
    with _ws(loom_server, weaver["id"]) as ws:
        first = ws.recv(timeout=10)
    assert isinstance(first, str) and first.startswith("ERROR: ") and "succeeded" in first


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"Authorization": "Bearer nope"}, 401)])
def test_attach_upgrade_needs_credentials(loom_server, headers, status):
    weaver = _made(loom_server, command=["sleep", "10"])
    url = loom_server.url.replace("http://", "ws://") + f"/api/weaver/{weaver['id']}/attach"
    with pytest.raises(Exception) as info:
        connect(url, additional_headers=headers, open_timeout=10)
    assert str(status) in str(info.value)
    _delete(loom_server, weaver["id"])


def test_openapi_describes_every_weaver_route(loom_server):
    doc = httpx.get(f"{loom_server.url}/api/openapi.json", timeout=10).json()
    for path in ("/api/weaver", "/api/weavers", "/api/weavers/cleanup", "/api/weaver/{weaver_id}",
                 "/api/weaver/{weaver_id}/logs", "/api/weaver/{weaver_id}/attach"):
        assert path in doc["paths"], path
    assert json.dumps(doc["components"]["schemas"]["Weaver"])
